//! AVX2 + FMA + F16C dot products of one weight row against quantized activations (the method
//! of llama.cpp's `ggml-cpu/arch/x86/quants.c`, written for our block layout): nibbles spread
//! to 32 bytes, the fifth bits of Q5 blocks expanded from `qh` by a byte shuffle and compare,
//! products summed by `maddubs` (u8 × i8 → i16 pairs) and `madd` (→ i32), one FMA per block.
//! Called only after `is_x86_feature_detected!` said yes.

use std::arch::x86_64::*;

use super::blocks::{ActBlock, Format};

/// f16 bits → f32 with F16C.
#[inline(always)]
unsafe fn half(bytes: *const u8) -> f32 {
    let bits = (bytes as *const u16).read_unaligned();
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// The 32 nibbles of `qs[16]` as bytes: low nibbles (elements 0..16) then high (16..32).
#[inline(always)]
unsafe fn nibbles(qs: *const u8) -> __m256i {
    let packed = _mm_loadu_si128(qs as *const __m128i);
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(packed, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    _mm256_set_m128i(hi, lo)
}

/// Byte `j` is 0xFF where bit `j` of `bits` is set.
#[inline(always)]
unsafe fn bytes_from_bits(bits: u32) -> __m256i {
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(bits as i32),
        _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0),
    );
    // Every bit but bit (j mod 8) set in byte j: the OR is all ones exactly when that bit is.
    let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe_u64 as i64);
    _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1))
}

/// Σ u8 × i8 over 32 lanes, as 8 f32 partial sums.
#[inline(always)]
unsafe fn dot_u8_i8(w: __m256i, a: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(w, a);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// Σ i8 × i8: the sign of `w` moved onto `a` so `maddubs` sees |w| unsigned.
#[inline(always)]
unsafe fn dot_i8_i8(w: __m256i, a: __m256i) -> __m256 {
    dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w))
}

/// The eight lanes added pairwise (the order `blocks::dot_scalar` and `kquants::dot_scalar_k`
/// reproduce).
#[inline(always)]
pub(super) unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// `row · x` for `format`; the same value as `blocks::dot_scalar` up to float summation order.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `row` must hold `act.len()` blocks of `format`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot(format: Format, row: &[u8], act: &[ActBlock]) -> f32 {
    debug_assert!(row.len() >= act.len() * format.bytes_per_block());
    // One loop per format, so nothing is decided per block.
    match format {
        Format::Q4_0 => dot_rows::<0, 1>(row.as_ptr(), [act])[0],
        Format::Q4_1 => dot_rows::<1, 1>(row.as_ptr(), [act])[0],
        Format::Q5_0 => dot_rows::<2, 1>(row.as_ptr(), [act])[0],
        Format::Q5_1 => dot_rows::<3, 1>(row.as_ptr(), [act])[0],
        Format::Q8_0 => dot_rows::<4, 1>(row.as_ptr(), [act])[0],
    }
}

/// `row · x` for four activation rows at once (prefill): each weight block is unpacked once.
///
/// # Safety
/// As [`dot`]; every `acts[j]` has the same length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot4(format: Format, row: &[u8], acts: [&[ActBlock]; 4]) -> [f32; 4] {
    debug_assert!(acts.iter().all(|a| a.len() == acts[0].len()));
    debug_assert!(row.len() >= acts[0].len() * format.bytes_per_block());
    match format {
        Format::Q4_0 => dot_rows::<0, 4>(row.as_ptr(), acts),
        Format::Q4_1 => dot_rows::<1, 4>(row.as_ptr(), acts),
        Format::Q5_0 => dot_rows::<2, 4>(row.as_ptr(), acts),
        Format::Q5_1 => dot_rows::<3, 4>(row.as_ptr(), acts),
        Format::Q8_0 => dot_rows::<4, 4>(row.as_ptr(), acts),
    }
}

/// How far ahead of the block being read the weight stream is prefetched.
const PREFETCH_AHEAD: usize = 2048;

const BYTES: [usize; 5] = [18, 20, 22, 24, 34];

/// Formats whose weights are signed bytes (summed with the sign trick), not unsigned ones.
const SIGNED: [bool; 5] = [true, false, true, false, true];

/// One weight block unpacked: its 32 weights as bytes, its scale `d` and its offset `m` (0
/// for formats without one).
#[inline(always)]
unsafe fn unpack<const F: usize>(b: *const u8) -> (__m256i, f32, f32) {
    let d = half(b);
    match F {
        0 => (_mm256_sub_epi8(nibbles(b.add(2)), _mm256_set1_epi8(8)), d, 0.0),
        1 => (nibbles(b.add(4)), d, half(b.add(2))),
        2 => {
            // (nibble | bit·16) − 16 as i8: OR 0xF0 where the bit is clear.
            let bits = (b.add(2) as *const u32).read_unaligned();
            let clear = _mm256_andnot_si256(bytes_from_bits(bits), _mm256_set1_epi8(0xF0u8 as i8));
            (_mm256_or_si256(nibbles(b.add(6)), clear), d, 0.0)
        }
        4 => (_mm256_loadu_si256(b.add(2) as *const __m256i), d, 0.0),
        _ => {
            let bits = (b.add(4) as *const u32).read_unaligned();
            let set = _mm256_and_si256(bytes_from_bits(bits), _mm256_set1_epi8(0x10));
            (_mm256_or_si256(nibbles(b.add(8)), set), d, half(b.add(2)))
        }
    }
}

/// 8 partial sums of `w·q` for one unpacked weight block and one activation block.
#[inline(always)]
unsafe fn products<const F: usize>(w: __m256i, a: &ActBlock) -> __m256 {
    let q = _mm256_loadu_si256(a.q.as_ptr() as *const __m256i);
    if SIGNED[F] {
        dot_i8_i8(w, q)
    } else {
        dot_u8_i8(w, q)
    }
}

/// One block per step into one accumulator per activation row, as llama.cpp sums (so our
/// rounding follows its). `R` activation rows share each weight block's unpacking; every row's
/// sum is the same, bit for bit, whatever `R` is.
#[inline(always)]
unsafe fn dot_rows<const F: usize, const R: usize>(row: *const u8, acts: [&[ActBlock]; R]) -> [f32; R] {
    let bpb = BYTES[F];
    let mut acc = [_mm256_setzero_ps(); R];
    let mut mins = [0f32; R];
    for i in 0..acts[0].len() {
        let b = row.add(i * bpb);
        _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH_AHEAD) as *const i8);
        let (w, d, m) = unpack::<F>(b);
        for j in 0..R {
            let a = acts[j].get_unchecked(i);
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), products::<F>(w, a), acc[j]);
            mins[j] += m * a.s;
        }
    }
    std::array::from_fn(|j| hsum(acc[j]) + mins[j])
}
