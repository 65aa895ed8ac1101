//! Our own reader of a GGUF's tensors into MLX arrays, for the files MLX's loader cannot read:
//! those with MXFP4 tensors (MLX's gguflib stops at the first tensor of a type it does not know
//! and returns only the tensors before it). Each tensor is read from its part at its offset:
//! - F32, F16 and BF16 as they are;
//! - Q4_0, Q4_1 and Q8_0 as MLX affine arrays, the way MLX's own loader builds them (the same
//!   codes; scale `d`, bias `-8d`, `m` or `-128d`), so bit-exact;
//! - MXFP4 repacked for MLX's `mxfp4` mode (`.weight` codes and `.scales`, no biases), bit-exact;
//! - any other type dequantized by candle and requantized to MLX affine (`requant::affine`).

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};

use half::{bf16, f16};
use mlx_rs::Array;
use parallax_core::{GgufHeader, Result, TensorEntry};

use crate::mxfp4;

/// The arrays of every tensor (`{module}.weight` plus `.scales` / `.biases` for quantized
/// ones), and the types that were requantized (not bit-exact).
pub fn read(header: &GgufHeader) -> Result<(HashMap<String, Array>, BTreeSet<&'static str>)> {
    let mut out = HashMap::new();
    let mut requantized = BTreeSet::new();
    let mut files = Vec::with_capacity(header.parts.len());
    for part in &header.parts {
        files.push(std::fs::File::open(&part.path).map_err(|e| header.invalid(e.to_string()))?);
    }
    for t in &header.tensors {
        let bytes = read_bytes(header, &mut files[t.part], t)?;
        // ggml lists the row length first; MLX arrays are row-major with it last.
        let shape: Vec<i32> = t.dims.iter().rev().map(|&d| d as i32).collect();
        let module = t.name.strip_suffix(".weight").unwrap_or(&t.name).to_owned();
        let mlx = |e: mlx_rs::error::Exception| header.invalid(format!("{}: {e}", t.name));
        let blocks = |per_row: usize| shape_with_last(&shape, per_row);
        match t.ggml_type.name {
            "F32" => {
                let v: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                out.insert(t.name.clone(), Array::from_slice(&v, &shape));
            }
            "F16" => {
                let v: Vec<f16> = bytes
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]))
                    .collect();
                out.insert(t.name.clone(), Array::from_slice(&v, &shape));
            }
            "BF16" => {
                let v: Vec<bf16> = bytes
                    .chunks_exact(2)
                    .map(|b| bf16::from_le_bytes([b[0], b[1]]))
                    .collect();
                out.insert(t.name.clone(), Array::from_slice(&v, &shape));
            }
            "MXFP4" => {
                let (codes, scales) = mxfp4::repack(&bytes);
                let row_blocks = row_blocks(&shape, mxfp4::GROUP);
                out.insert(
                    format!("{module}.weight"),
                    Array::from_slice(&codes, &blocks(row_blocks * 4)),
                );
                out.insert(
                    format!("{module}.scales"),
                    Array::from_slice(&scales, &blocks(row_blocks)),
                );
            }
            kind @ ("Q4_0" | "Q4_1" | "Q8_0") => {
                let affine = affine_blocks(kind, &bytes);
                let row_blocks = row_blocks(&shape, 32);
                let words = row_blocks * if kind == "Q8_0" { 8 } else { 4 };
                out.insert(
                    format!("{module}.weight"),
                    Array::from_slice(&affine.codes, &blocks(words)),
                );
                out.insert(
                    format!("{module}.scales"),
                    Array::from_slice(&affine.scales, &blocks(row_blocks)),
                );
                out.insert(
                    format!("{module}.biases"),
                    Array::from_slice(&affine.biases, &blocks(row_blocks)),
                );
            }
            other => {
                let dense = crate::requant::dequantize_raw(t, &bytes).map_err(|e| header.invalid(e))?;
                let dense = Array::from_slice(&dense, &shape);
                for (name, a) in crate::requant::affine(&module, dense, other).map_err(mlx)? {
                    out.insert(name, a);
                }
                requantized.insert(other);
            }
        }
    }
    Ok((out, requantized))
}

fn read_bytes(header: &GgufHeader, file: &mut std::fs::File, t: &TensorEntry) -> Result<Vec<u8>> {
    let at = header.parts[t.part].data_offset + t.offset;
    let mut bytes = vec![0u8; t.n_bytes as usize];
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| header.invalid(format!("reading tensor `{}`: {e}", t.name)))?;
    Ok(bytes)
}

fn row_blocks(shape: &[i32], per_block: usize) -> usize {
    shape.last().map_or(0, |&n| n as usize / per_block)
}

fn shape_with_last(shape: &[i32], last: usize) -> Vec<i32> {
    let mut s = shape.to_vec();
    if let Some(l) = s.last_mut() {
        *l = last as i32;
    }
    s
}

struct Affine {
    codes: Vec<u32>,
    scales: Vec<f16>,
    biases: Vec<f16>,
}

/// Q4_0 / Q4_1 / Q8_0 blocks as MLX affine codes, scales and biases (`w = code · scale + bias`).
fn affine_blocks(kind: &str, bytes: &[u8]) -> Affine {
    let block_bytes = match kind {
        "Q4_0" => 18,
        "Q4_1" => 20,
        _ => 34,
    };
    let n = bytes.len() / block_bytes;
    let mut a = Affine {
        codes: Vec::with_capacity(n * 8),
        scales: Vec::with_capacity(n),
        biases: Vec::with_capacity(n),
    };
    let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]);
    for b in bytes.chunks_exact(block_bytes) {
        let d = half(b);
        match kind {
            "Q8_0" => {
                a.scales.push(d);
                a.biases.push(d * f16::from_f32(-128.0));
                for word in b[2..].chunks_exact(4) {
                    let code = |k: usize| u32::from((word[k] as i8 as i16 + 128) as u8);
                    a.codes.push((0..4).fold(0u32, |w, k| w | code(k) << (8 * k)));
                }
            }
            _ => {
                let (bias, qs) = match kind {
                    "Q4_1" => (half(&b[2..]), &b[4..]),
                    _ => (d * f16::from_f32(-8.0), &b[2..]),
                };
                a.scales.push(d);
                a.biases.push(bias);
                let code = |i: usize| u32::from(if i < 16 { qs[i] & 0x0F } else { qs[i - 16] >> 4 });
                for word in 0..4 {
                    a.codes
                        .push((0..8).fold(0u32, |w, k| w | code(word * 8 + k) << (4 * k)));
                }
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_codes_are_offset_by_128_and_packed_four_to_a_word() {
        let mut block = vec![0u8; 34];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        for (i, q) in block[2..].iter_mut().enumerate() {
            *q = (i as i8 - 16) as u8;
        }
        let a = affine_blocks("Q8_0", &block);
        assert_eq!((a.scales[0].to_f32(), a.biases[0].to_f32()), (0.5, -64.0));
        // element 0 is −16 → code 112; element 1 is −15 → 113 …
        assert_eq!(a.codes[0], 112 | 113 << 8 | 114 << 16 | 115 << 24);
        for (i, q) in block[2..].iter().enumerate() {
            let code = (a.codes[i / 4] >> (8 * (i % 4))) & 0xFF;
            assert_eq!(code as f32 * 0.5 - 64.0, f32::from(*q as i8) * 0.5);
        }
    }
}

#[cfg(test)]
mod against_mlx {
    use super::*;

    /// Our reader builds, for a Q4_0 file, the very arrays MLX's own GGUF loader builds.
    #[test]
    fn q4_0_tensors_read_as_mlxs_own_loader_reads_them() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny/mixtral-q4_0.gguf");
        let header = GgufHeader::read(&path).unwrap_or_else(|e| panic!("{e} (run `make models`)"));
        let (ours, requantized) = read(&header).expect("read");
        assert!(requantized.is_empty());
        let theirs = mlx_rs::io::GgufFile::load(&path)
            .expect("MLX loads it")
            .arrays()
            .expect("arrays");
        assert_eq!(ours.len(), theirs.len());
        for (name, want) in &theirs {
            let got = ours.get(name).unwrap_or_else(|| panic!("{name} missing"));
            let same = got.dtype() == want.dtype()
                && got.shape() == want.shape()
                && mlx_rs::ops::array_eq(got, want, None).expect("eq").item_exact::<bool>();
            assert!(
                same,
                "{name}: ours {:?} {:?}, MLX's {:?} {:?}",
                got.dtype(),
                got.shape(),
                want.dtype(),
                want.shape()
            );
        }
    }
}
