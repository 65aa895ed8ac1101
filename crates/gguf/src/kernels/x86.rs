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

/// `init + Σ u·q` per lane of four bytes (`u` unsigned, `q` signed): one `vpdpbusd` with
/// VNNI; without, `maddubs` (u8 × i8 → i16 pairs) and `madd` (→ i32). The integer sums are the
/// same either way: no pair saturates an i16 for the weights this is given (`u < 32`, or `|w|`
/// of a Q8_0 weight against an activation of magnitude ≤ 127).
#[inline(always)]
pub(super) unsafe fn udot<const V: bool>(init: __m256i, u: __m256i, q: __m256i) -> __m256i {
    if V {
        _mm256_dpbusd_epi32(init, u, q)
    } else {
        _mm256_add_epi32(
            init,
            _mm256_madd_epi16(_mm256_maddubs_epi16(u, q), _mm256_set1_epi16(1)),
        )
    }
}

/// The eight lanes added pairwise (the order `blocks::dot_scalar` and `kquants::dot_scalar_k`
/// reproduce).
#[inline(always)]
pub(super) unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// The CPU features [`tile`] is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX2 + FMA + F16C.
    Avx2,
    /// AVX2 + FMA + F16C and AVX-512 VNNI (with VL and BW, for the 256-bit `vpdpbusd` and 32
    /// vector registers).
    Vnni,
}

/// `rows[w] · acts[j]` for every weight row and activation row of the tile: each weight block
/// is unpacked once for the `R` activation rows, each activation block loaded once for the `W`
/// weight rows. Every value equals `blocks::dot_scalar` bit for bit, whatever the tile's shape.
///
/// # Safety
/// The CPU must have the features of `isa`; every `rows[w]` must hold `acts[0].len()` blocks
/// of `format`, and every `acts[j]` have that length.
pub unsafe fn tile<const W: usize, const R: usize>(
    isa: Isa,
    format: Format,
    rows: [&[u8]; W],
    acts: [&[ActBlock]; R],
) -> [[f32; R]; W] {
    debug_assert!(acts.iter().all(|a| a.len() == acts[0].len()));
    debug_assert!(rows.iter().all(|r| r.len() >= acts[0].len() * format.bytes_per_block()));
    let rows = rows.map(|r| r.as_ptr());
    match isa {
        Isa::Avx2 => tile_avx2(format, rows, acts),
        Isa::Vnni => tile_vnni(format, rows, acts),
    }
}

/// `out[r] = row r · act` for the consecutive rows of `weights`, the loop over rows inside the
/// compiled-for-the-ISA code (decode: one call per task, not one per row).
///
/// # Safety
/// As [`tile`]; `weights` holds `out.len()` rows of `row_bytes`, each of `act.len()` blocks.
pub unsafe fn each_row(isa: Isa, format: Format, weights: &[u8], row_bytes: usize, act: &[ActBlock], out: &mut [f32]) {
    debug_assert!(weights.len() >= out.len() * row_bytes && row_bytes >= act.len() * format.bytes_per_block());
    match isa {
        Isa::Avx2 => each_row_avx2(format, weights.as_ptr(), row_bytes, act, out),
        Isa::Vnni => each_row_vnni(format, weights.as_ptr(), row_bytes, act, out),
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn each_row_avx2(format: Format, w: *const u8, row_bytes: usize, act: &[ActBlock], out: &mut [f32]) {
    match format {
        Format::Q4_0 => rows_of::<0, false>(w, row_bytes, act, out),
        Format::Q4_1 => rows_of::<1, false>(w, row_bytes, act, out),
        Format::Q5_0 => rows_of::<2, false>(w, row_bytes, act, out),
        Format::Q5_1 => rows_of::<3, false>(w, row_bytes, act, out),
        Format::Q8_0 => rows_of::<4, false>(w, row_bytes, act, out),
    }
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn each_row_vnni(format: Format, w: *const u8, row_bytes: usize, act: &[ActBlock], out: &mut [f32]) {
    match format {
        Format::Q4_0 => rows_of::<0, true>(w, row_bytes, act, out),
        Format::Q4_1 => rows_of::<1, true>(w, row_bytes, act, out),
        Format::Q5_0 => rows_of::<2, true>(w, row_bytes, act, out),
        Format::Q5_1 => rows_of::<3, true>(w, row_bytes, act, out),
        Format::Q8_0 => rows_of::<4, true>(w, row_bytes, act, out),
    }
}

#[inline(always)]
unsafe fn rows_of<const F: usize, const V: bool>(w: *const u8, row_bytes: usize, act: &[ActBlock], out: &mut [f32]) {
    for (r, y) in out.iter_mut().enumerate() {
        let [[v]] = tile_of::<F, V, 1, 1>([w.add(r * row_bytes)], [act]);
        *y = v;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile_avx2<const W: usize, const R: usize>(
    format: Format,
    rows: [*const u8; W],
    acts: [&[ActBlock]; R],
) -> [[f32; R]; W] {
    // One loop per format, so nothing is decided per block.
    match format {
        Format::Q4_0 => tile_of::<0, false, W, R>(rows, acts),
        Format::Q4_1 => tile_of::<1, false, W, R>(rows, acts),
        Format::Q5_0 => tile_of::<2, false, W, R>(rows, acts),
        Format::Q5_1 => tile_of::<3, false, W, R>(rows, acts),
        Format::Q8_0 => tile_of::<4, false, W, R>(rows, acts),
    }
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile_vnni<const W: usize, const R: usize>(
    format: Format,
    rows: [*const u8; W],
    acts: [&[ActBlock]; R],
) -> [[f32; R]; W] {
    match format {
        Format::Q4_0 => tile_of::<0, true, W, R>(rows, acts),
        Format::Q4_1 => tile_of::<1, true, W, R>(rows, acts),
        Format::Q5_0 => tile_of::<2, true, W, R>(rows, acts),
        Format::Q5_1 => tile_of::<3, true, W, R>(rows, acts),
        Format::Q8_0 => tile_of::<4, true, W, R>(rows, acts),
    }
}

/// How far ahead of the block being read the weight stream is prefetched.
const PREFETCH_AHEAD: usize = 2048;

const BYTES: [usize; 5] = [18, 20, 22, 24, 34];

/// Formats with an offset `m` (summed with the activation sums `s`).
const HAS_MIN: [bool; 5] = [false, true, false, true, false];

/// log2 of what is added to a signed format's weights to make them unsigned bytes (`w + 2^n`,
/// taken back out through the activation sums); 0 for the unsigned formats. Q8_0 is made
/// unsigned only with VNNI: `w + 128` would saturate `maddubs`' i16 pairs.
pub(super) const fn offset_shift<const F: usize, const V: bool>() -> Option<i32> {
    match F {
        0 => Some(3),
        2 => Some(4),
        4 if V => Some(7),
        _ => None,
    }
}

/// One weight block unpacked: its weights as unsigned bytes (the offset of
/// [`offset_shift`] added; for Q8_0 without VNNI, `|w|`), the signed weights where the sign
/// trick needs them (Q8_0 without VNNI), its scale `d` and offset `m` (0 without one).
#[inline(always)]
pub(super) unsafe fn unpack<const F: usize, const V: bool>(b: *const u8) -> (__m256i, __m256i, f32, f32) {
    let d = half(b);
    let fifth_bits = |at: usize| {
        let bits = (b.add(at) as *const u32).read_unaligned();
        _mm256_and_si256(bytes_from_bits(bits), _mm256_set1_epi8(0x10))
    };
    match F {
        0 => (nibbles(b.add(2)), _mm256_setzero_si256(), d, 0.0),
        1 => (nibbles(b.add(4)), _mm256_setzero_si256(), d, half(b.add(2))),
        2 => (
            _mm256_or_si256(nibbles(b.add(6)), fifth_bits(2)),
            _mm256_setzero_si256(),
            d,
            0.0,
        ),
        3 => (
            _mm256_or_si256(nibbles(b.add(8)), fifth_bits(4)),
            _mm256_setzero_si256(),
            d,
            half(b.add(2)),
        ),
        _ => {
            let w = _mm256_loadu_si256(b.add(2) as *const __m256i);
            match V {
                true => (_mm256_xor_si256(w, _mm256_set1_epi8(0x80u8 as i8)), w, d, 0.0),
                false => (_mm256_sign_epi8(w, w), w, d, 0.0),
            }
        }
    }
}

/// `−2^shift · Σq` per lane of four: the `init` of [`udot`] that takes the offset back out.
#[inline(always)]
unsafe fn minus_offset_sums<const V: bool>(q: __m256i, shift: i32) -> __m256i {
    let sums = udot::<V>(_mm256_setzero_si256(), _mm256_set1_epi8(1), q);
    _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_sll_epi32(sums, _mm_cvtsi32_si128(shift)))
}

/// One block per step into one accumulator per (weight row, activation row), as llama.cpp
/// sums, so our rounding follows its and no tile shape changes a bit.
#[inline(always)]
unsafe fn tile_of<const F: usize, const V: bool, const W: usize, const R: usize>(
    rows: [*const u8; W],
    acts: [&[ActBlock]; R],
) -> [[f32; R]; W] {
    let bpb = BYTES[F];
    let shift = offset_shift::<F, V>();
    let sign_trick = F == 4 && !V;
    let mut acc = [[_mm256_setzero_ps(); R]; W];
    let mut mins = [[0f32; R]; W];
    for i in 0..acts[0].len() {
        let mut q = [_mm256_setzero_si256(); R];
        let mut init = [_mm256_setzero_si256(); R];
        for j in 0..R {
            q[j] = _mm256_loadu_si256(acts[j].get_unchecked(i).q.as_ptr() as *const __m256i);
            if let Some(shift) = shift {
                init[j] = minus_offset_sums::<V>(q[j], shift);
            }
        }
        for w in 0..W {
            let b = rows[w].add(i * bpb);
            _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH_AHEAD) as *const i8);
            let (u, signed, d, m) = unpack::<F, V>(b);
            for j in 0..R {
                let a = acts[j].get_unchecked(i);
                let qj = if sign_trick {
                    _mm256_sign_epi8(q[j], signed)
                } else {
                    q[j]
                };
                let p = udot::<V>(init[j], u, qj);
                acc[w][j] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), _mm256_cvtepi32_ps(p), acc[w][j]);
                if HAS_MIN[F] {
                    mins[w][j] += m * a.s;
                }
            }
        }
    }
    // Loops, not `array::from_fn`: a closure would not inherit the target features, and its
    // `hsum` would be an out-of-line call.
    let mut out = [[0f32; R]; W];
    for w in 0..W {
        for j in 0..R {
            out[w][j] = hsum(acc[w][j]) + mins[w][j];
        }
    }
    out
}
