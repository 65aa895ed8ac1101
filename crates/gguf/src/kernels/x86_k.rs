//! AVX2 + FMA + F16C dot products of K-quant weight rows against Q8_K activations, by tiles. Each
//! 32-element run of a super-block is unpacked to 32 unsigned bytes (nibbles, plus the fifth or
//! fifth and sixth bits), multiplied by `maddubs` (u8 × i8 → i16 pairs) and scaled per 16
//! elements by `madd` (→ i32), the integer lanes summed over the super-block, then one FMA per
//! super-block — the order of `kquants::dot_scalar_k`, so the results are the same bit for bit.
//! Called only after `is_x86_feature_detected!` said yes.

use std::arch::x86_64::*;

use super::kquants::{Head, KFormat, SuperAct, SUPER};
use super::x86::{hsum, Isa};

/// Formats by index, for the const-generic loops: 0 = Q4_K, 1 = Q5_K, 2 = Q6_K.
const BYTES: [usize; 3] = [144, 176, 210];

/// The 32 unsigned weights of run `r` (elements `32r .. 32r + 32`) of the super-block at `b`.
#[inline(always)]
pub(super) unsafe fn run_weights<const F: usize>(b: *const u8, r: usize) -> __m256i {
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

/// Formats by index, as `BYTES`.
const FORMATS: [KFormat; 3] = [KFormat::Q4K, KFormat::Q5K, KFormat::Q6K];

/// `rows[w] · acts[j]` for a tile of `W` weight rows and `R` activation rows: each 32-weight run
/// unpacked once for the `R` rows, each activation run loaded once for the `W` rows. Every
/// value equals `kquants::dot_scalar_k` bit for bit, whatever the tile's shape.
///
/// # Safety
/// The CPU must have the features of `isa`; every `rows[w]` must hold `acts[0].len()`
/// super-blocks of `format`, and every `acts[j]` have that length.
pub unsafe fn tile<const W: usize, const R: usize>(
    isa: Isa,
    format: KFormat,
    rows: [&[u8]; W],
    acts: [&[SuperAct]; R],
) -> [[f32; R]; W] {
    debug_assert!(acts.iter().all(|a| a.len() == acts[0].len()));
    debug_assert!(rows.iter().all(|r| r.len() >= acts[0].len() * format.bytes_per_block()));
    let rows = rows.map(|r| r.as_ptr());
    match isa {
        Isa::Avx2 => tile_avx2(format, rows, acts),
        // The same instructions; AVX-512 VL gives the tile its 32 vector registers.
        Isa::Vnni => tile_avx512(format, rows, acts),
    }
}

/// `out[r] = row r · act` for the consecutive rows of `weights`, the loop over rows inside the
/// compiled-for-the-ISA code (decode: one call per task, not one per row).
///
/// # Safety
/// As [`tile`]; `weights` holds `out.len()` rows of `row_bytes`, each of `act.len()`
/// super-blocks.
pub unsafe fn each_row(isa: Isa, format: KFormat, weights: &[u8], row_bytes: usize, act: &[SuperAct], out: &mut [f32]) {
    debug_assert!(weights.len() >= out.len() * row_bytes && row_bytes >= act.len() * format.bytes_per_block());
    match isa {
        Isa::Avx2 => each_row_avx2(format, weights.as_ptr(), row_bytes, act, out),
        Isa::Vnni => each_row_avx512(format, weights.as_ptr(), row_bytes, act, out),
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn each_row_avx2(format: KFormat, w: *const u8, row_bytes: usize, act: &[SuperAct], out: &mut [f32]) {
    match format {
        KFormat::Q4K => rows_of::<0>(w, row_bytes, act, out),
        KFormat::Q5K => rows_of::<1>(w, row_bytes, act, out),
        KFormat::Q6K => rows_of::<2>(w, row_bytes, act, out),
    }
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn each_row_avx512(format: KFormat, w: *const u8, row_bytes: usize, act: &[SuperAct], out: &mut [f32]) {
    match format {
        KFormat::Q4K => rows_of::<0>(w, row_bytes, act, out),
        KFormat::Q5K => rows_of::<1>(w, row_bytes, act, out),
        KFormat::Q6K => rows_of::<2>(w, row_bytes, act, out),
    }
}

#[inline(always)]
unsafe fn rows_of<const F: usize>(w: *const u8, row_bytes: usize, act: &[SuperAct], out: &mut [f32]) {
    for (r, y) in out.iter_mut().enumerate() {
        let [[v]] = tile_of::<F, 1, 1>([w.add(r * row_bytes)], [act]);
        *y = v;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile_avx2<const W: usize, const R: usize>(
    format: KFormat,
    rows: [*const u8; W],
    acts: [&[SuperAct]; R],
) -> [[f32; R]; W] {
    match format {
        KFormat::Q4K => tile_of::<0, W, R>(rows, acts),
        KFormat::Q5K => tile_of::<1, W, R>(rows, acts),
        KFormat::Q6K => tile_of::<2, W, R>(rows, acts),
    }
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn tile_avx512<const W: usize, const R: usize>(
    format: KFormat,
    rows: [*const u8; W],
    acts: [&[SuperAct]; R],
) -> [[f32; R]; W] {
    match format {
        KFormat::Q4K => tile_of::<0, W, R>(rows, acts),
        KFormat::Q5K => tile_of::<1, W, R>(rows, acts),
        KFormat::Q6K => tile_of::<2, W, R>(rows, acts),
    }
}

/// One super-block per step: integer lanes per (weight row, activation row) over the block,
/// then one FMA each; the offsets apart. Plain loops throughout: a closure would not inherit
/// the target features.
#[inline(always)]
unsafe fn tile_of<const F: usize, const W: usize, const R: usize>(
    rows: [*const u8; W],
    acts: [&[SuperAct]; R],
) -> [[f32; R]; W] {
    let (format, bpb) = (FORMATS[F], BYTES[F]);
    let mut acc = [[_mm256_setzero_ps(); R]; W];
    let mut offsets = [[0f32; R]; W];
    for i in 0..acts[0].len() {
        let mut b = [std::ptr::null::<u8>(); W];
        let mut heads = [Head::ZERO; W];
        for w in 0..W {
            b[w] = rows[w].add(i * bpb);
            _mm_prefetch::<_MM_HINT_T0>(b[w].wrapping_add(2 * bpb) as *const i8);
            heads[w] = Head::read(format, std::slice::from_raw_parts(b[w], bpb));
        }
        let mut sums = [[_mm256_setzero_si256(); R]; W];
        for r in 0..SUPER / 32 {
            let mut u = [_mm256_setzero_si256(); W];
            let mut scale = [_mm256_setzero_si256(); W];
            for w in 0..W {
                u[w] = run_weights::<F>(b[w], r);
                scale[w] = _mm256_set_m128i(
                    _mm_set1_epi16(heads[w].scales[2 * r + 1]),
                    _mm_set1_epi16(heads[w].scales[2 * r]),
                );
            }
            for j in 0..R {
                let a = _mm256_loadu_si256(acts[j].get_unchecked(i).q.as_ptr().add(32 * r) as *const __m256i);
                for w in 0..W {
                    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(u[w], a), scale[w]);
                    sums[w][j] = _mm256_add_epi32(sums[w][j], p);
                }
            }
        }
        for w in 0..W {
            let head = &heads[w];
            let offset_weights = _mm256_loadu_si256(head.offsets.as_ptr() as *const __m256i);
            for j in 0..R {
                let a = acts[j].get_unchecked(i);
                acc[w][j] = _mm256_fmadd_ps(_mm256_set1_ps(head.d * a.d), _mm256_cvtepi32_ps(sums[w][j]), acc[w][j]);
                let bsums = _mm256_loadu_si256(a.bsums.as_ptr() as *const __m256i);
                let offset = hsum_i32(_mm256_madd_epi16(bsums, offset_weights));
                offsets[w][j] = (head.offset_factor * a.d).mul_add(offset as f32, offsets[w][j]);
            }
        }
    }
    let mut out = [[0f32; R]; W];
    for w in 0..W {
        for j in 0..R {
            out[w][j] = hsum(acc[w][j]) - offsets[w][j];
        }
    }
    out
}
