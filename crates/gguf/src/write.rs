//! A minimal GGUF (v3) writer: metadata as candle's `Value`s, tensors as raw ggml bytes of any
//! type, MXFP4 included, which candle's writer cannot write (it knows no ggml type 39).

use std::io::Write;

use candle_core::quantized::gguf_file::Value;

/// One tensor: its ggml dims (row length first), ggml type id and data.
pub struct RawTensor {
    pub name: String,
    pub dims: Vec<usize>,
    pub ggml_type: u32,
    pub bytes: Vec<u8>,
}

const ALIGN: usize = 32;

fn string(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

/// GGUF's value type ids.
fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn value(w: &mut impl Write, v: &Value) -> std::io::Result<()> {
    match v {
        Value::U8(x) => w.write_all(&[*x]),
        Value::I8(x) => w.write_all(&x.to_le_bytes()),
        Value::U16(x) => w.write_all(&x.to_le_bytes()),
        Value::I16(x) => w.write_all(&x.to_le_bytes()),
        Value::U32(x) => w.write_all(&x.to_le_bytes()),
        Value::I32(x) => w.write_all(&x.to_le_bytes()),
        Value::U64(x) => w.write_all(&x.to_le_bytes()),
        Value::I64(x) => w.write_all(&x.to_le_bytes()),
        Value::F32(x) => w.write_all(&x.to_le_bytes()),
        Value::F64(x) => w.write_all(&x.to_le_bytes()),
        Value::Bool(x) => w.write_all(&[u8::from(*x)]),
        Value::String(s) => string(w, s),
        Value::Array(items) => {
            let elem = items.first().map_or(4, type_id);
            if items.iter().any(|i| type_id(i) != elem) {
                return Err(std::io::Error::other("an array of mixed value types"));
            }
            w.write_all(&elem.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            items.iter().try_for_each(|i| value(w, i))
        }
    }
}

fn pad(w: &mut impl Write, at: usize) -> std::io::Result<usize> {
    let n = at.next_multiple_of(ALIGN) - at;
    w.write_all(&vec![0u8; n])?;
    Ok(n)
}

/// Writes a whole file: header, metadata, tensor infos, then each tensor aligned to 32 bytes.
pub fn write(w: &mut impl Write, metadata: &[(String, Value)], tensors: &[RawTensor]) -> std::io::Result<()> {
    let mut head = Vec::new();
    head.extend_from_slice(b"GGUF");
    head.extend_from_slice(&3u32.to_le_bytes());
    head.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    head.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, v) in metadata {
        string(&mut head, key)?;
        head.extend_from_slice(&type_id(v).to_le_bytes());
        value(&mut head, v)?;
    }
    let mut offset = 0usize;
    for t in tensors {
        string(&mut head, &t.name)?;
        head.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for &d in &t.dims {
            head.extend_from_slice(&(d as u64).to_le_bytes());
        }
        head.extend_from_slice(&t.ggml_type.to_le_bytes());
        head.extend_from_slice(&(offset as u64).to_le_bytes());
        offset = (offset + t.bytes.len()).next_multiple_of(ALIGN);
    }
    w.write_all(&head)?;
    pad(w, head.len())?;
    for t in tensors {
        w.write_all(&t.bytes)?;
        pad(w, t.bytes.len())?;
    }
    Ok(())
}
