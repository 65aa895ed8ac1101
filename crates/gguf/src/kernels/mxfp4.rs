//! MXFP4 (ggml type 39, the OCP microscaling format GPT-OSS ships its experts in), which candle
//! cannot read: blocks of 32 weights, `e: u8` (an E8M0 power-of-two scale) then `qs: [u8; 16]`
//! of E2M1 codes (element `j < 16` the low nibble of `qs[j]`, element `j + 16` the high one).
//! As llama.cpp computes it: the codes are the doubled E2M1 values as integers, the scale
//! `2^(e−128)` (half the block's scale, undoing the doubling), and activations are Q8_0 blocks.
//! AVX2 where the CPU has it (the codes looked up by a byte shuffle, products by `maddubs`),
//! else scalar; both give the same bits.

use super::blocks::{ActBlock, BLOCK};
use super::{Dest, Kernel, TileDots};

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

/// MXFP4 rows with the kernel chosen for this CPU.
pub struct Mxfp4Dots(pub Kernel);

impl Mxfp4Dots {
    fn dot(&self, row: &[u8], act: &[ActBlock]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.0.isa().is_some() {
            // SAFETY: the kernel has an ISA only where the CPU reports AVX2 and FMA.
            return unsafe { avx2::dot(row, act) };
        }
        dot_scalar(row, act)
    }
}

impl TileDots for Mxfp4Dots {
    type Act = ActBlock;

    fn tile<const W: usize, const R: usize>(&self, rows: [&[u8]; W], acts: [&[ActBlock]; R]) -> [[f32; R]; W] {
        rows.map(|row| acts.map(|act| self.dot(row, act)))
    }

    fn each_row(&self, weights: &[u8], row_bytes: usize, act: &[ActBlock], out: &mut [f32]) {
        for (y, row) in out.iter_mut().zip(weights.chunks_exact(row_bytes)) {
            *y = self.dot(row, act);
        }
    }

    unsafe fn panels(&self, _: &[u8], _: usize, _: &[ActBlock], _: usize, _: Dest) -> bool {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{e8m0_half, BYTES_PER_BLOCK, VALUES};
    use crate::kernels::blocks::ActBlock;

    /// `row · x` as [`super::dot_scalar`] computes it — each block's integer sum exact, then the
    /// same multiply-add — so the result has the same bits.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; every block of `row` is 17 bytes.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(row: &[u8], act: &[ActBlock]) -> f32 {
        let codes: [i8; 16] = VALUES.map(|v| v as i8);
        let table = _mm256_broadcastsi128_si256(_mm_loadu_si128(codes.as_ptr() as *const __m128i));
        let mask = _mm_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut acc = 0f32;
        for (block, a) in row.chunks_exact(BYTES_PER_BLOCK).zip(act) {
            let packed = _mm_loadu_si128(block.as_ptr().add(1) as *const __m128i);
            let lo = _mm_and_si128(packed, mask);
            let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
            // Elements 0..16 from the low nibbles, 16..32 from the high ones, as the codes' values.
            let w = _mm256_shuffle_epi8(table, _mm256_set_m128i(hi, lo));
            let q = _mm256_loadu_si256(a.q.as_ptr() as *const __m256i);
            // |w| · (q with w's sign): u8 × i8 pairs (|w| ≤ 12, so no i16 saturates).
            let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w));
            let sums = _mm256_madd_epi16(pairs, ones);
            let half = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
            let quad = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0b01_00_11_10));
            let sum = _mm_cvtsi128_si32(_mm_add_epi32(quad, _mm_shuffle_epi32(quad, 0b10_11_00_01)));
            acc = (e8m0_half(block[0]) * a.d).mul_add(sum as f32, acc);
        }
        acc
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
    fn every_kernel_gives_the_scalar_bits() {
        let k = 256;
        let row: Vec<u8> = (0..k / BLOCK * BYTES_PER_BLOCK)
            .map(|i| {
                if i % BYTES_PER_BLOCK == 0 {
                    120 + (i / 17 % 12) as u8
                } else {
                    (i * 73 % 256) as u8
                }
            })
            .collect();
        let x: Vec<f32> = crate::kernels::tests::values(k, 91);
        let mut act = vec![ActBlock::ZERO; k / BLOCK];
        quantize_row(&x, &mut act);
        let want = dot_scalar(&row, &act);
        for kernel in Kernel::available().into_iter().skip(1) {
            let got = Mxfp4Dots(kernel).dot(&row, &act);
            assert_eq!(got.to_bits(), want.to_bits(), "{}", kernel.name());
        }
    }

    /// Prints the time per row of each kernel (a probe run by hand; no time is asserted).
    #[test]
    #[ignore = "timing probe, run by hand"]
    fn probe_kernel_speed() {
        let (k, rows) = (2880, 256);
        let w: Vec<u8> = (0..rows * k / BLOCK * BYTES_PER_BLOCK)
            .map(|i| (i * 73 % 251) as u8)
            .collect();
        let mut act = vec![ActBlock::ZERO; k / BLOCK];
        quantize_row(&crate::kernels::tests::values(k, 5), &mut act);
        let row_bytes = k / BLOCK * BYTES_PER_BLOCK;
        for kernel in Kernel::available().into_iter().skip(1) {
            let dots = Mxfp4Dots(kernel);
            let mut out = vec![0f32; rows];
            let start = std::time::Instant::now();
            for _ in 0..20 {
                dots.each_row(&w, row_bytes, &act, &mut out);
            }
            let per_row = start.elapsed().as_secs_f64() / (20 * rows) as f64;
            eprintln!("{}: {:.2} µs per row of {k}", kernel.name(), per_row * 1e6);
        }
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
