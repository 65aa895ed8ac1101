//! A defensive GGUF header reader: metadata and tensor directory, validated against the file size
//! before anything is allocated, so a crafted or truncated file is an error, never an abort.
//!
//! Engines still load tensor data with their own library; they call [`GgufHeader::read`] first so
//! the library only ever sees a header that is known to be sane.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: [u8; 4] = *b"GGUF";
/// GGML_MAX_DIMS in ggml.h.
const MAX_DIMS: u32 = 4;
const DEFAULT_ALIGNMENT: u64 = 32;

/// One metadata value. Integers are widened; the GGUF type tag is not needed downstream.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Int(i128),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<MetaValue>),
}

impl MetaValue {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            MetaValue::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            MetaValue::Float(v) => Some(*v),
            MetaValue::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            MetaValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A ggml tensor type this reader can size. Anything else is rejected as unsupported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    pub id: u32,
    pub name: &'static str,
    pub block_elems: u64,
    pub block_bytes: u64,
}

/// (id, name, elements per block, bytes per block), from ggml.c's type_traits.
const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (30, "BF16", 1, 2),
    (39, "MXFP4", 32, 17),
];

impl GgmlType {
    pub fn from_id(id: u32) -> Option<Self> {
        GGML_TYPES
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block_elems, block_bytes)| GgmlType {
                id,
                name,
                block_elems,
                block_bytes,
            })
    }
}

#[derive(Debug, Clone)]
pub struct TensorEntry {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset relative to the start of the data section of its part.
    pub offset: u64,
    pub n_bytes: u64,
    /// Which file of a split model holds it (index into `GgufHeader::parts`; 0 for one file).
    pub part: usize,
}

/// The `name-0000k-of-0000N.gguf` naming of a split model (llama.cpp's `gguf-split`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitName {
    base: String,
    /// This file's part, from 1.
    pub index: usize,
    pub total: usize,
    /// Digits of the part numbers (5 for gguf-split).
    width: usize,
}

impl SplitName {
    /// `name-00002-of-00003.gguf` → part 2 of 3; `None` for a file that is not one of several parts.
    pub fn parse(path: &Path) -> Option<Self> {
        let stem = path.file_stem()?.to_str()?;
        let (head, total_digits) = stem.rsplit_once("-of-")?;
        let (base, index) = head.rsplit_once('-')?;
        let (index, total) = (index.parse().ok()?, total_digits.parse().ok()?);
        (index >= 1 && index <= total && total > 1).then(|| SplitName {
            base: base.to_owned(),
            index,
            total,
            width: total_digits.len(),
        })
    }

    /// The path of part `k`, beside `path` (any part of the set).
    pub fn part(&self, path: &Path, k: usize) -> PathBuf {
        let (base, total, width) = (&self.base, self.total, self.width);
        path.with_file_name(format!("{base}-{k:0width$}-of-{total:0width$}.gguf"))
    }
}

/// One file of a model: its path and where its tensor data starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufPart {
    pub path: PathBuf,
    pub data_offset: u64,
}

/// The validated header of a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: HashMap<String, MetaValue>,
    pub tensors: Vec<TensorEntry>,
    pub file_size: u64,
    /// The files of the model: one, or every part of a split model (`read_model`).
    pub parts: Vec<GgufPart>,
}

impl GgufHeader {
    /// Reads and validates the header. Every length is checked against the bytes left in the
    /// file before it is used, and every tensor must lie inside the file.
    pub fn read(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::ModelNotFound(path.to_path_buf()),
            _ => Error::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
        let file_size = file
            .metadata()
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?
            .len();
        let mut r = Cursor {
            inner: BufReader::new(file),
            pos: 0,
            len: file_size,
            path,
        };
        let mut magic = [0u8; 4];
        if file_size < 4 || r.inner.read_exact(&mut magic).is_err() || magic != MAGIC {
            return Err(Error::NotGguf {
                path: path.to_path_buf(),
            });
        }
        r.pos = 4;
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(r.invalid(format!("unsupported GGUF version {version}")));
        }
        let tensor_count = r.u64()?;
        let kv_count = r.u64()?;
        // The smallest possible kv entry is 8 (key len) + 4 (type) + 1 (u8 value) bytes,
        // the smallest tensor entry 8 + 4 + 4 + 8 bytes.
        r.check_count(kv_count, 13, "metadata count")?;
        r.check_count(tensor_count, 24, "tensor count")?;
        let mut metadata = HashMap::new();
        for _ in 0..kv_count {
            let key = r.string()?;
            let ty = r.u32()?;
            let value = r.value(ty, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(tensor_count as usize);
        for _ in 0..tensor_count {
            tensors.push(r.tensor_entry()?);
        }
        let alignment = match metadata.get("general.alignment") {
            Some(v) => v
                .as_u64()
                .filter(|a| *a > 0 && a.is_power_of_two())
                .ok_or_else(|| r.invalid("general.alignment is not a power of two".into()))?,
            None => DEFAULT_ALIGNMENT,
        };
        let data_offset = r.pos.div_ceil(alignment) * alignment;
        for t in &tensors {
            let end = data_offset.checked_add(t.offset).and_then(|s| s.checked_add(t.n_bytes));
            if end.is_none_or(|end| end > file_size) {
                return Err(r.invalid(format!(
                    "tensor `{}` extends past the end of the file (truncated download?)",
                    t.name
                )));
            }
        }
        Ok(GgufHeader {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            file_size,
            parts: vec![GgufPart {
                path: path.to_path_buf(),
                data_offset,
            }],
        })
    }

    /// Reads a model that may be split into `name-00001-of-0000N.gguf` files (llama.cpp's
    /// `gguf-split`): metadata from the first part, tensors from every part, each part
    /// validated like a single file. A missing part is an error that names it.
    pub fn read_model(path: &Path) -> Result<Self> {
        let mut first = Self::read(path)?;
        let count = first.get_u64("split.count").unwrap_or(1) as usize;
        let Some(split) = SplitName::parse(path) else {
            return Ok(first);
        };
        if count <= 1 {
            return Ok(first);
        }
        let total = split.total;
        if split.index != 1 || total != count {
            return Err(first.invalid(format!(
                "this is part {} of a {total}-part split model: open its first part (split.count says {count})",
                split.index
            )));
        }
        for k in 2..=total {
            let part_path = split.part(path, k);
            if !part_path.is_file() {
                return Err(first.invalid(format!(
                    "split GGUF: part {k} of {total} (`{}`) is missing",
                    part_path.file_name().unwrap_or_default().to_string_lossy()
                )));
            }
            let part = Self::read(&part_path)?;
            let at = first.parts.len();
            first.file_size += part.file_size;
            first
                .tensors
                .extend(part.tensors.into_iter().map(|t| TensorEntry { part: at, ..t }));
            first.parts.extend(part.parts);
        }
        Ok(first)
    }

    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(MetaValue::as_str)
    }
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.metadata.get(key).and_then(MetaValue::as_u64)
    }
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.metadata.get(key).and_then(MetaValue::as_f64)
    }
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.metadata.get(key).and_then(MetaValue::as_bool)
    }
    /// `<arch>.<suffix>`, the usual way hyper-parameters are keyed.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        self.get_u64(&format!("{}.{suffix}", self.architecture()?))
    }
    pub fn arch_f64(&self, suffix: &str) -> Option<f64> {
        self.get_f64(&format!("{}.{suffix}", self.architecture()?))
    }
    pub fn context_length(&self) -> Option<usize> {
        self.arch_u64("context_length").map(|v| v as usize)
    }
    /// The values of a small F32 tensor (e.g. `rope_freqs.weight`), or `None` when the file has
    /// no tensor of that name.
    pub fn read_f32_tensor(&self, name: &str) -> Result<Option<Vec<f32>>> {
        use std::io::{Seek, SeekFrom};
        let Some(t) = self.tensors.iter().find(|t| t.name == name) else {
            return Ok(None);
        };
        if t.ggml_type.name != "F32" {
            return Err(self.invalid(format!("tensor `{name}` is {}, expected F32", t.ggml_type.name)));
        }
        let io = |e: std::io::Error| Error::Io {
            path: self.path.clone(),
            source: e,
        };
        let part = &self.parts[t.part];
        let mut file = File::open(&part.path).map_err(io)?;
        file.seek(SeekFrom::Start(part.data_offset + t.offset)).map_err(io)?;
        let mut bytes = vec![0u8; t.n_bytes as usize];
        file.read_exact(&mut bytes).map_err(io)?;
        Ok(Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }
    /// Bytes of all tensor data, i.e. the weights as stored.
    pub fn weight_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
    /// The ggml type holding the most bytes: what the file "is" (e.g. Q4_1).
    pub fn dominant_type(&self) -> &'static str {
        let mut bytes: Vec<(&'static str, u64)> = vec![];
        for t in &self.tensors {
            match bytes.iter_mut().find(|(n, _)| *n == t.ggml_type.name) {
                Some(e) => e.1 += t.n_bytes,
                None => bytes.push((t.ggml_type.name, t.n_bytes)),
            }
        }
        bytes.into_iter().max_by_key(|e| e.1).map(|e| e.0).unwrap_or("?")
    }

    pub fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidGguf {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
}

struct Cursor<'a> {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
    path: &'a Path,
}

/// Nesting limit for arrays of arrays; GGUF writers never nest.
const MAX_ARRAY_DEPTH: u32 = 2;

impl Cursor<'_> {
    fn invalid(&self, reason: String) -> Error {
        Error::InvalidGguf {
            path: self.path.to_path_buf(),
            reason,
        }
    }
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }
    fn check_count(&self, count: u64, min_bytes_each: u64, what: &str) -> Result<()> {
        if count.saturating_mul(min_bytes_each) > self.remaining() {
            return Err(self.invalid(format!(
                "{what} {count} cannot fit in the {} bytes left in the file",
                self.remaining()
            )));
        }
        Ok(())
    }
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| self.invalid(format!("unexpected end of file at byte {}", self.pos)))?;
        self.pos += N as u64;
        Ok(buf)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        self.check_count(len, 1, "string length")?;
        let mut buf = vec![0u8; len as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| self.invalid(format!("unexpected end of file at byte {}", self.pos)))?;
        self.pos += len;
        String::from_utf8(buf).map_err(|_| self.invalid("a string is not valid UTF-8".into()))
    }
    fn value(&mut self, ty: u32, depth: u32) -> Result<MetaValue> {
        Ok(match ty {
            0 => MetaValue::Int(self.bytes::<1>()?[0] as i128),
            1 => MetaValue::Int(i8::from_le_bytes(self.bytes()?) as i128),
            2 => MetaValue::Int(u16::from_le_bytes(self.bytes()?) as i128),
            3 => MetaValue::Int(i16::from_le_bytes(self.bytes()?) as i128),
            4 => MetaValue::Int(self.u32()? as i128),
            5 => MetaValue::Int(i32::from_le_bytes(self.bytes()?) as i128),
            6 => MetaValue::Float(f32::from_le_bytes(self.bytes()?) as f64),
            7 => MetaValue::Bool(self.bytes::<1>()?[0] != 0),
            8 => MetaValue::Str(self.string()?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.invalid("arrays nested too deeply".into()));
                }
                let item_ty = self.u32()?;
                let count = self.u64()?;
                let min_size = match item_ty {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => return Err(self.invalid(format!("unknown value type {other}"))),
                };
                self.check_count(count, min_size, "array length")?;
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(item_ty, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::Int(self.u64()? as i128),
            11 => MetaValue::Int(i64::from_le_bytes(self.bytes()?) as i128),
            12 => MetaValue::Float(f64::from_le_bytes(self.bytes()?)),
            other => return Err(self.invalid(format!("unknown value type {other}"))),
        })
    }
    fn tensor_entry(&mut self) -> Result<TensorEntry> {
        let name = self.string()?;
        let n_dims = self.u32()?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(self.invalid(format!("tensor `{name}` has {n_dims} dimensions")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64()?);
        }
        let type_id = self.u32()?;
        let offset = self.u64()?;
        let ggml_type = GgmlType::from_id(type_id)
            .ok_or_else(|| self.invalid(format!("tensor `{name}` has unsupported ggml type {type_id}")))?;
        let elems = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&e| e <= self.len.saturating_mul(ggml_type.block_elems))
            .ok_or_else(|| self.invalid(format!("tensor `{name}` has absurd dimensions {dims:?}")))?;
        if dims[0] % ggml_type.block_elems != 0 {
            return Err(self.invalid(format!(
                "tensor `{name}` row of {} is not a multiple of the {} block size",
                dims[0], ggml_type.name
            )));
        }
        let n_bytes = elems / ggml_type.block_elems * ggml_type.block_bytes;
        Ok(TensorEntry {
            name,
            dims,
            ggml_type,
            offset,
            n_bytes,
            part: 0,
        })
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn split_names_are_recognised_and_their_parts_named() {
        let path = Path::new("/m/Qwen2.5-7B-Q4_K_M-00002-of-00003.gguf");
        let split = SplitName::parse(path).expect("a split name");
        assert_eq!((split.index, split.total), (2, 3));
        assert_eq!(
            split.part(path, 1),
            Path::new("/m/Qwen2.5-7B-Q4_K_M-00001-of-00003.gguf")
        );
        assert_eq!(SplitName::parse(Path::new("/m/model-Q4_K_M.gguf")), None);
        assert_eq!(SplitName::parse(Path::new("/m/x-00001-of-00001.gguf")), None);
    }
}
