//! AVX2 + FMA + F16C dot products of one K-quant weight row against Q8_K activations. Each
//! 32-element run of a super-block is unpacked to 32 unsigned bytes (nibbles, plus the fifth or
//! fifth and sixth bits), multiplied by `maddubs` (u8 × i8 → i16 pairs) and scaled per 16
//! elements by `madd` (→ i32), the integer lanes summed over the super-block, then one FMA per
//! super-block — the order of `kquants::dot_scalar_k`, so the results are the same bit for bit.
//! Called only after `is_x86_feature_detected!` said yes.

use std::arch::x86_64::*;

use super::kquants::{Head, KFormat, SuperAct, SUPER};
use super::x86::hsum;

/// Formats by index, for the const-generic loops: 0 = Q4_K, 1 = Q5_K, 2 = Q6_K.
const BYTES: [usize; 3] = [144, 176, 210];

/// The 32 unsigned weights of run `r` (elements `32r .. 32r + 32`) of the super-block at `b`.
#[inline(always)]
unsafe fn run_weights<const F: usize>(b: *const u8, r: usize) -> __m256i {
    match F {
        0 | 1 => {
            let qs = if F == 0 { b.add(16) } else { b.add(48) };
            let q = nibble(_mm256_loadu_si256(qs.add(32 * (r / 2)) as *const __m256i), r % 2 == 1);
            if F == 0 {
                return q;
            }
            let qh = _mm256_loadu_si256(b.add(16) as *const __m256i);
            let bit = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(r as i32)), _mm256_set1_epi8(1));
            _mm256_or_si256(q, _mm256_slli_epi16(bit, 4))
        }
        _ => {
            let (n, i) = (r / 4, r % 4);
            let ql = _mm256_loadu_si256(b.add(64 * n + 32 * (i % 2)) as *const __m256i);
            let qh = _mm256_loadu_si256(b.add(128 + 32 * n) as *const __m256i);
            let high = _mm256_and_si256(
                _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * i as i32)),
                _mm256_set1_epi8(3),
            );
            _mm256_or_si256(nibble(ql, i >= 2), _mm256_slli_epi16(high, 4))
        }
    }
}

/// The low (`high == false`) or high nibbles of 32 bytes, as bytes.
#[inline(always)]
unsafe fn nibble(bytes: __m256i, high: bool) -> __m256i {
    let low4 = _mm256_set1_epi8(0x0F);
    match high {
        false => _mm256_and_si256(bytes, low4),
        true => _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4),
    }
}

#[inline(always)]
unsafe fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)))
}

/// `row · x` for `R` activation rows sharing each super-block's unpacking.
#[inline(always)]
unsafe fn dot_rows<const F: usize, const R: usize>(row: *const u8, acts: [&[SuperAct]; R]) -> [f32; R] {
    let format = [KFormat::Q4K, KFormat::Q5K, KFormat::Q6K][F];
    let bpb = BYTES[F];
    let mut acc = [_mm256_setzero_ps(); R];
    let mut offsets = [0f32; R];
    for i in 0..acts[0].len() {
        let b = row.add(i * bpb);
        _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(2 * bpb) as *const i8);
        let head = Head::read(format, std::slice::from_raw_parts(b, bpb));
        let mut sums = [_mm256_setzero_si256(); R];
        for r in 0..SUPER / 32 {
            let w = run_weights::<F>(b, r);
            let scale = _mm256_set_m128i(
                _mm_set1_epi16(head.scales[2 * r + 1]),
                _mm_set1_epi16(head.scales[2 * r]),
            );
            for j in 0..R {
                let a = _mm256_loadu_si256(acts[j].get_unchecked(i).q.as_ptr().add(32 * r) as *const __m256i);
                sums[j] = _mm256_add_epi32(sums[j], _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), scale));
            }
        }
        let offset_weights = _mm256_loadu_si256(head.offsets.as_ptr() as *const __m256i);
        for j in 0..R {
            let a = acts[j].get_unchecked(i);
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(head.d * a.d), _mm256_cvtepi32_ps(sums[j]), acc[j]);
            let bsums = _mm256_loadu_si256(a.bsums.as_ptr() as *const __m256i);
            let offset = hsum_i32(_mm256_madd_epi16(bsums, offset_weights));
            offsets[j] = (head.offset_factor * a.d).mul_add(offset as f32, offsets[j]);
        }
    }
    std::array::from_fn(|j| hsum(acc[j]) - offsets[j])
}

/// `row · x` for a K-quant `format`.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `row` must hold `act.len()` super-blocks of `format`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_k(format: KFormat, row: &[u8], act: &[SuperAct]) -> f32 {
    debug_assert!(row.len() >= act.len() * format.bytes_per_block());
    match format {
        KFormat::Q4K => dot_rows::<0, 1>(row.as_ptr(), [act])[0],
        KFormat::Q5K => dot_rows::<1, 1>(row.as_ptr(), [act])[0],
        KFormat::Q6K => dot_rows::<2, 1>(row.as_ptr(), [act])[0],
    }
}

/// `row · x` for four activation rows at once (prefill).
///
/// # Safety
/// As [`dot_k`]; every `acts[j]` has the same length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot4_k(format: KFormat, row: &[u8], acts: [&[SuperAct]; 4]) -> [f32; 4] {
    debug_assert!(acts.iter().all(|a| a.len() == acts[0].len()));
    debug_assert!(row.len() >= acts[0].len() * format.bytes_per_block());
    match format {
        KFormat::Q4K => dot_rows::<0, 4>(row.as_ptr(), acts),
        KFormat::Q5K => dot_rows::<1, 4>(row.as_ptr(), acts),
        KFormat::Q6K => dot_rows::<2, 4>(row.as_ptr(), acts),
    }
}
