//! MXFP4 on MLX: its `mxfp4` quantization mode (E2M1 codes, one E8M0 scale per 32 weights, no
//! bias), which mlx-rs 0.33 does not expose (it passes `"affine"` to every quantized op), so the
//! three ops we need are called through mlx-c directly; and the repacking of ggml's MXFP4 blocks
//! into MLX's layout, which is bit-exact: the same codes and the same scale bytes, only the
//! order of the 4-bit codes differs (ggml keeps element `j` and `j + 16` in byte `j`; MLX packs
//! consecutive elements, eight to a `u32`, the first in the low bits).

use mlx_rs::error::Exception;
use mlx_rs::{Array, Stream};

use crate::nn::MResult;

/// Weights per scale.
pub const GROUP: usize = 32;
/// Bytes of one ggml MXFP4 block: the E8M0 scale, then 16 bytes of codes.
pub const BLOCK_BYTES: usize = 17;
const MODE: &std::ffi::CStr = c"mxfp4";
const BITS: i32 = 4;

/// ggml MXFP4 blocks (`blocks × 17` bytes) → MLX's packed codes (`blocks × 4` u32) and scale
/// bytes (`blocks`).
pub fn repack(blocks: &[u8]) -> (Vec<u32>, Vec<u8>) {
    let n = blocks.len() / BLOCK_BYTES;
    let mut codes = Vec::with_capacity(n * 4);
    let mut scales = Vec::with_capacity(n);
    for b in blocks.chunks_exact(BLOCK_BYTES) {
        scales.push(b[0]);
        let qs = &b[1..];
        let code = |i: usize| u32::from(if i < 16 { qs[i] & 0x0F } else { qs[i - 16] >> 4 });
        for word in 0..4 {
            codes.push((0..8).fold(0u32, |w, k| w | code(word * 8 + k) << (4 * k)));
        }
    }
    (codes, scales)
}

fn int(value: i32) -> mlx_sys::mlx_optional_int {
    mlx_sys::mlx_optional_int { value, has_value: true }
}

/// Runs one mlx-c op writing a new array, on the default stream.
#[allow(unsafe_code)]
fn op(what: &str, f: impl FnOnce(*mut mlx_sys::mlx_array, mlx_sys::mlx_stream) -> i32) -> MResult<Array> {
    let stream = Stream::thread_local_or_default();
    // SAFETY: `res` is a fresh mlx-c array handle that the op fills and `Array` then owns; every
    // input handle passed in `f` is borrowed from a live `Array` for the duration of the call.
    unsafe {
        let mut res = mlx_sys::mlx_array_new();
        let status = f(&mut res, stream.as_ptr());
        let out = Array::from_ptr(res);
        match status {
            0 => Ok(out),
            _ => Err(Exception::custom(format!("MLX {what} (mxfp4 mode) failed"))),
        }
    }
}

/// An empty array handle: mlx-c's "no value" for an optional array argument.
#[allow(unsafe_code)]
fn none() -> Array {
    // SAFETY: a new empty handle, owned by the returned `Array`.
    unsafe { Array::from_ptr(mlx_sys::mlx_array_new()) }
}

/// `x · Wᵀ` with `W` in MXFP4 (`w` `[out, in/8]` u32, `scales` `[out, in/32]` u8).
#[allow(unsafe_code)]
pub fn matmul(x: &Array, w: &Array, scales: &Array) -> MResult<Array> {
    let no_biases = none();
    op("quantized_matmul", |res, s| unsafe {
        // SAFETY: see `op`.
        mlx_sys::mlx_quantized_matmul(
            res,
            x.as_ptr(),
            w.as_ptr(),
            scales.as_ptr(),
            no_biases.as_ptr(),
            true,
            int(GROUP as i32),
            int(BITS),
            MODE.as_ptr(),
            s,
        )
    })
}

/// `gather_qmm` over stacked MXFP4 experts (`w` `[experts, out, in/8]`), each row of `x` against
/// the experts `experts` names.
#[allow(unsafe_code)]
pub fn gather_matmul(x: &Array, w: &Array, scales: &Array, experts: &Array, sorted: bool) -> MResult<Array> {
    let (no_biases, no_lhs) = (none(), none());
    op("gather_qmm", |res, s| unsafe {
        // SAFETY: see `op`.
        mlx_sys::mlx_gather_qmm(
            res,
            x.as_ptr(),
            w.as_ptr(),
            scales.as_ptr(),
            no_biases.as_ptr(),
            no_lhs.as_ptr(),
            experts.as_ptr(),
            true,
            int(GROUP as i32),
            int(BITS),
            MODE.as_ptr(),
            sorted,
            s,
        )
    })
}

/// The float weights of MXFP4 `w` / `scales`, as f32.
#[allow(unsafe_code)]
pub fn dequantize(w: &Array, scales: &Array) -> MResult<Array> {
    let (no_biases, no_global) = (none(), none());
    op("dequantize", |res, s| unsafe {
        // SAFETY: see `op`.
        mlx_sys::mlx_dequantize(
            res,
            w.as_ptr(),
            scales.as_ptr(),
            no_biases.as_ptr(),
            int(GROUP as i32),
            int(BITS),
            MODE.as_ptr(),
            no_global.as_ptr(),
            mlx_sys::mlx_optional_dtype {
                value: mlx_sys::mlx_dtype__MLX_FLOAT32,
                has_value: true,
            },
            s,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ggml's reading of one block: E2M1 code values (doubled, as llama.cpp's table) times half
    /// the E8M0 scale.
    fn ggml_block(b: &[u8]) -> Vec<f32> {
        const DOUBLED: [f32; 16] = [0., 1., 2., 3., 4., 6., 8., 12., 0., -1., -2., -3., -4., -6., -8., -12.];
        let half = 2f32.powi(i32::from(b[0]) - 128);
        (0..32)
            .map(|i| {
                let q = if i < 16 { b[1 + i] & 0x0F } else { b[1 + i - 16] >> 4 };
                DOUBLED[q as usize] * half
            })
            .collect()
    }

    #[test]
    fn repacked_blocks_dequantize_in_mlx_to_ggmls_values_exactly() {
        // Two rows of two blocks each, every code and a spread of scales.
        let mut blocks = Vec::new();
        for (b, e) in [(0u8, 127u8), (1, 120), (2, 130), (3, 1)].into_iter() {
            blocks.push(e);
            blocks.extend((0..16).map(|j| (j as u8) | (((j as u8 + 5 * b) & 0x0F) << 4)));
        }
        let (codes, scales) = repack(&blocks);
        let w = Array::from_slice(&codes, &[2, 8]);
        let s = Array::from_slice(&scales, &[2, 2]);
        let got = dequantize(&w, &s).expect("dequantize");
        got.eval().expect("eval");
        let want: Vec<f32> = blocks.chunks_exact(BLOCK_BYTES).flat_map(ggml_block).collect();
        assert_eq!(got.as_slice::<f32>(), want.as_slice());
        // And the matmul reads the same weights.
        let x = Array::from_slice(
            &(0..64).map(|i| (i as f32 - 30.0) / 7.0).collect::<Vec<_>>(),
            &[1, 32 * 2],
        );
        let y = matmul(&x, &w, &s).expect("matmul");
        let dense = mlx_rs::ops::matmul(&x, got.t()).expect("dense");
        let diff = y
            .subtract(&dense)
            .and_then(|d| d.abs())
            .and_then(|d| d.max(None))
            .expect("diff");
        assert!(diff.item_exact::<f32>() < 1e-3, "{diff:?}");
    }
}
