//! MXFP4 (ggml type 39, the OCP microscaling format GPT-OSS ships its experts in), which candle
//! cannot read: blocks of 32 weights, `e: u8` (an E8M0 power-of-two scale) then `qs: [u8; 16]`
//! of E2M1 codes (element `j < 16` the low nibble of `qs[j]`, element `j + 16` the high one).
//! As llama.cpp computes it: the codes are the doubled E2M1 values as integers, the scale
//! `2^(e−128)` (half the block's scale, undoing the doubling), and activations are Q8_0 blocks.
//! Scalar on every CPU for now.

use super::blocks::{ActBlock, BLOCK};
use super::{Dest, TileDots};

pub const BYTES_PER_BLOCK: usize = 17;

/// E2M1 codes as doubled integers (llama.cpp's `kvalues_mxfp4`).
const VALUES: [i32; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// `2^(e−128)` as llama.cpp's `ggml_e8m0_to_fp32_half` forms it (subnormal for `e < 2`).
pub fn e8m0_half(e: u8) -> f32 {
    let bits = match e {
        0 | 1 => 0x0020_0000u32 << e,
        _ => (e as u32 - 1) << 23,
    };
    f32::from_bits(bits)
}

/// One block's integer weights and its scale.
pub fn unpack(block: &[u8]) -> ([i32; BLOCK], f32) {
    let mut w = [0i32; BLOCK];
    for j in 0..16 {
        w[j] = VALUES[(block[1 + j] & 0x0F) as usize];
        w[j + 16] = VALUES[(block[1 + j] >> 4) as usize];
    }
    (w, e8m0_half(block[0]))
}

/// `row · x`: each block's integer sum exact, one multiply-add per block.
pub fn dot_scalar(row: &[u8], act: &[ActBlock]) -> f32 {
    let mut acc = 0f32;
    for (block, a) in row.chunks_exact(BYTES_PER_BLOCK).zip(act) {
        let (w, d) = unpack(block);
        let sum: i32 = w.iter().zip(&a.q).map(|(&w, &q)| w * q as i32).sum();
        acc = (d * a.d).mul_add(sum as f32, acc);
    }
    acc
}

/// The weights of a row, dequantized (the reference the dot is tested against).
#[cfg(test)]
fn dequantize_row(row: &[u8]) -> Vec<f32> {
    row.chunks_exact(BYTES_PER_BLOCK)
        .flat_map(|block| {
            let (w, d) = unpack(block);
            w.map(|w| w as f32 * d)
        })
        .collect()
}

pub struct Mxfp4Dots;

impl TileDots for Mxfp4Dots {
    type Act = ActBlock;

    fn tile<const W: usize, const R: usize>(&self, rows: [&[u8]; W], acts: [&[ActBlock]; R]) -> [[f32; R]; W] {
        rows.map(|row| acts.map(|act| dot_scalar(row, act)))
    }

    fn each_row(&self, weights: &[u8], row_bytes: usize, act: &[ActBlock], out: &mut [f32]) {
        for (y, row) in out.iter_mut().zip(weights.chunks_exact(row_bytes)) {
            *y = dot_scalar(row, act);
        }
    }

    unsafe fn panels(&self, _: &[u8], _: usize, _: &[ActBlock], _: usize, _: Dest) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::blocks::quantize_row;

    #[test]
    fn scales_and_codes_follow_llama_cpp() {
        assert_eq!(e8m0_half(128), 1.0);
        assert_eq!(e8m0_half(130), 4.0);
        assert_eq!(e8m0_half(1), 2f32.powi(-127));
        assert_eq!(e8m0_half(0), 2f32.powi(-128));
        // Scale 2^(129−128) = 2; codes 1 (→ 1) and 0xF (→ −12) in element 0 and 16.
        let mut block = [0u8; BYTES_PER_BLOCK];
        block[0] = 129;
        block[1] = 0xF1;
        let w = dequantize_row(&block);
        assert_eq!((w[0], w[16], w[1]), (2.0, -24.0, 0.0));
    }

    #[test]
    fn the_dot_is_the_dequantized_weights_times_the_quantized_activations() {
        let k = 64;
        let row: Vec<u8> = (0..2 * BYTES_PER_BLOCK)
            .map(|i| {
                if i % BYTES_PER_BLOCK == 0 {
                    125 + i as u8 / 17
                } else {
                    (i * 37 % 256) as u8
                }
            })
            .collect();
        let x: Vec<f32> = (0..k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
        let mut act = vec![ActBlock::ZERO; k / BLOCK];
        quantize_row(&x, &mut act);
        let want: f32 = dequantize_row(&row)
            .iter()
            .zip(act.iter().flat_map(|a| a.q.map(|q| q as f32 * a.d)))
            .map(|(w, x)| w * x)
            .sum();
        let got = dot_scalar(&row, &act);
        assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{got} vs {want}");
    }
}
