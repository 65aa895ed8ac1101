//! Prefill's quantized matmul for batches of many activation rows (AVX-512 VNNI, or AVX2 with
//! `maddubs` + `madd` in place of each `vpdpbusd`). A task's
//! weight rows are unpacked once into panels of eight rows interleaved four bytes at a time, so
//! one `vpdpbusd` against four broadcast activation bytes advances eight rows' sums, and a
//! block's scale reaches eight rows in one multiply (the pair-at-a-time tiles spend a convert, a
//! scale and an FMA on every pair and block). llama.cpp lays its repacked weights out the same
//! way ahead of time (`block_q4_0x8`); here the unpacking is per task and reused by every
//! activation row, so nothing is copied at load. The sums follow `dot_scalar_panel` and
//! `dot_scalar_k_panel` bit for bit: one exact integer per (row, block), one FMA per block.
//! Called only after `is_x86_feature_detected!` said yes.

use std::arch::x86_64::*;

use super::blocks::{ActBlock, Format};
use super::kquants::{Head, KFormat, SuperAct, SUPER};
use super::x86::{self, Isa};
use super::{x86_k, Dest};

/// Weight rows in a panel: the lanes of a 256-bit vector of i32 sums.
const LANES: usize = 8;
/// Four-byte chunks in a block (or a K-quant's run) of 32 weights.
const CHUNKS: usize = 8;
/// Runs of 32 weights in a K-quant super-block.
const RUNS: usize = SUPER / 32;
/// Activation rows computed together against a panel: as many as the registers hold sums
/// for (32 vector registers with AVX-512, 16 with AVX2).
const ACT_ROWS_VNNI: usize = 4;
const ACT_ROWS_AVX2: usize = 2;

/// `out[i][r] = weight row r · activation row i` for the task's `rows` weight rows (`weights`,
/// `row_bytes` each) and the `m` activation rows of `act`.
///
/// # Safety
/// The CPU must have the features of `isa`; every row holds `act.len() / m` blocks of
/// `format`; `dest` has room for `m` rows of the task's columns, written by this task only.
pub unsafe fn blocks(
    isa: Isa,
    format: Format,
    weights: &[u8],
    row_bytes: usize,
    act: &[ActBlock],
    m: usize,
    dest: Dest,
) {
    let rows = weights.len() / row_bytes;
    debug_assert!(m > 0 && act.len().is_multiple_of(m) && row_bytes >= act.len() / m * format.bytes_per_block());
    let w = weights.as_ptr();
    match (isa, format) {
        (Isa::Vnni, Format::Q4_0) => blocks_vnni::<0>(w, row_bytes, rows, act, m, dest),
        (Isa::Vnni, Format::Q4_1) => blocks_vnni::<1>(w, row_bytes, rows, act, m, dest),
        (Isa::Vnni, Format::Q5_0) => blocks_vnni::<2>(w, row_bytes, rows, act, m, dest),
        (Isa::Vnni, Format::Q5_1) => blocks_vnni::<3>(w, row_bytes, rows, act, m, dest),
        (Isa::Vnni, Format::Q8_0) => blocks_vnni::<4>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, Format::Q4_0) => blocks_avx2::<0>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, Format::Q4_1) => blocks_avx2::<1>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, Format::Q5_0) => blocks_avx2::<2>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, Format::Q5_1) => blocks_avx2::<3>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, Format::Q8_0) => blocks_avx2::<4>(w, row_bytes, rows, act, m, dest),
    }
}

/// As [`blocks`], for the K-quants against Q8_K activations.
///
/// # Safety
/// As [`blocks`], with super-blocks of `format`.
pub unsafe fn supers(
    isa: Isa,
    format: KFormat,
    weights: &[u8],
    row_bytes: usize,
    act: &[SuperAct],
    m: usize,
    dest: Dest,
) {
    let rows = weights.len() / row_bytes;
    debug_assert!(m > 0 && act.len().is_multiple_of(m) && row_bytes >= act.len() / m * format.bytes_per_block());
    let w = weights.as_ptr();
    match (isa, format) {
        (Isa::Vnni, KFormat::Q4K) => supers_vnni::<0>(w, row_bytes, rows, act, m, dest),
        (Isa::Vnni, KFormat::Q5K) => supers_vnni::<1>(w, row_bytes, rows, act, m, dest),
        (Isa::Vnni, KFormat::Q6K) => supers_vnni::<2>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, KFormat::Q4K) => supers_avx2::<0>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, KFormat::Q5K) => supers_avx2::<1>(w, row_bytes, rows, act, m, dest),
        (Isa::Avx2, KFormat::Q6K) => supers_avx2::<2>(w, row_bytes, rows, act, m, dest),
    }
}

/// Writes `v[j]`'s first `valid` lanes to output row `i + j`, columns from `col`.
#[inline(always)]
unsafe fn store<const R: usize>(v: [__m256; R], dest: Dest, i: usize, col: usize, valid: usize) {
    for (j, v) in v.iter().enumerate() {
        let at = dest.ptr.add((i + j) * dest.stride + col);
        if valid == LANES {
            _mm256_storeu_ps(at, *v);
        } else {
            let mut lanes = [0f32; LANES];
            _mm256_storeu_ps(lanes.as_mut_ptr(), *v);
            std::ptr::copy_nonoverlapping(lanes.as_ptr(), at, valid);
        }
    }
}

/// A task's weight rows, unpacked into groups of eight, and how a group meets `R` activation
/// rows.
trait Panel {
    type Act;
    /// Blocks (or super-blocks) per row.
    fn blocks(&self) -> usize;
    /// Group `g`'s eight weight rows against activation rows `acts`.
    unsafe fn tile<const R: usize>(&self, acts: [&[Self::Act]; R], g: usize) -> [__m256; R];
}

/// The activation rows in groups of `R`, then one at a time, against every group of eight
/// weight rows (no closures: they would not inherit the caller's target features).
#[inline(always)]
unsafe fn each_tile<P: Panel, const R: usize>(p: &P, act: &[P::Act], m: usize, rows: usize, dest: Dest) {
    let n = p.blocks();
    let groups = rows.div_ceil(LANES);
    let mut i = 0;
    while i < m {
        let whole = i + R <= m;
        for g in 0..groups {
            let valid = (rows - g * LANES).min(LANES);
            if whole {
                let acts: [&[P::Act]; R] = std::array::from_fn(|j| &act[(i + j) * n..(i + j + 1) * n]);
                store(p.tile(acts, g), dest, i, g * LANES, valid);
            } else {
                store(p.tile([&act[i * n..(i + 1) * n]], g), dest, i, g * LANES, valid);
            }
        }
        i += if whole { R } else { 1 };
    }
}

/// `acc + Σ w·q` per lane of four bytes, `w` the panel's bytes (signed for Q8_0 without VNNI,
/// else unsigned) and `q` the activations: one `vpdpbusd` with VNNI; with AVX2 `maddubs` +
/// `madd`, which no pair saturates for these weights (Q8_0's signs moved onto `q`).
#[inline(always)]
unsafe fn dot_add<const F: usize, const V: bool>(acc: __m256i, w: __m256i, q: __m256i) -> __m256i {
    match signed_q8::<F, V>() {
        true => x86::udot::<false>(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w)),
        false => x86::udot::<V>(acc, w, q),
    }
}

/// Four activation bytes of `q` from `at`, as one i32 to broadcast.
#[inline(always)]
unsafe fn four_bytes(q: *const i8, at: usize) -> i32 {
    (q.add(at) as *const i32).read_unaligned()
}

/// A task's 32-weight-format rows, unpacked: per (group, block, chunk) eight rows' four
/// unsigned weight bytes; per (group, block) the rows' `d` and `m`.
struct BlockPanel<const F: usize, const V: bool> {
    blocks: usize,
    q: Vec<u32>,
    d: Vec<f32>,
    m: Vec<f32>,
}

/// One entry per ISA for a panel kind (`#[target_feature]` must sit on each function): the
/// weight rows unpacked by `$build`, then every tile of `each_tile`.
macro_rules! panel_entries {
    ($vnni:ident, $avx2:ident, $act:ty, $build:ident) => {
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        unsafe fn $vnni<const F: usize>(
            w: *const u8,
            row_bytes: usize,
            rows: usize,
            act: &[$act],
            m: usize,
            dest: Dest,
        ) {
            let panel = $build::<F, true>(w, row_bytes, rows, act.len() / m);
            each_tile::<_, ACT_ROWS_VNNI>(&panel, act, m, rows, dest);
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn $avx2<const F: usize>(
            w: *const u8,
            row_bytes: usize,
            rows: usize,
            act: &[$act],
            m: usize,
            dest: Dest,
        ) {
            let panel = $build::<F, false>(w, row_bytes, rows, act.len() / m);
            each_tile::<_, ACT_ROWS_AVX2>(&panel, act, m, rows, dest);
        }
    };
}

panel_entries!(blocks_vnni, blocks_avx2, ActBlock, block_panel);
panel_entries!(supers_vnni, supers_avx2, SuperAct, super_panel);

#[inline(always)]
unsafe fn block_panel<const F: usize, const V: bool>(
    w: *const u8,
    row_bytes: usize,
    rows: usize,
    blocks: usize,
) -> BlockPanel<F, V> {
    let bpb = FORMATS[F].bytes_per_block();
    let groups = rows.div_ceil(LANES);
    let mut p = BlockPanel {
        blocks,
        q: vec![0; groups * blocks * CHUNKS * LANES],
        d: vec![0.0; groups * blocks * LANES],
        m: vec![0.0; groups * blocks * LANES],
    };
    let mut bytes = [0u32; CHUNKS];
    for r in 0..rows {
        let (g, lane) = (r / LANES, r % LANES);
        for b in 0..blocks {
            let (u, signed, d, m) = x86::unpack::<F, V>(w.add(r * row_bytes + b * bpb));
            let kept = if signed_q8::<F, V>() { signed } else { u };
            _mm256_storeu_si256(bytes.as_mut_ptr() as *mut __m256i, kept);
            let at = g * blocks + b;
            for (c, &chunk) in bytes.iter().enumerate() {
                p.q[(at * CHUNKS + c) * LANES + lane] = chunk;
            }
            p.d[at * LANES + lane] = d;
            p.m[at * LANES + lane] = m;
        }
    }
    p
}

/// Q8_0 without VNNI keeps its signed bytes (`w + 128` would saturate `maddubs`).
const fn signed_q8<const F: usize, const V: bool>() -> bool {
    F == 4 && !V
}

/// Formats by index, as `x86`'s loops number them.
const FORMATS: [Format; 5] = [Format::Q4_0, Format::Q4_1, Format::Q5_0, Format::Q5_1, Format::Q8_0];

impl<const F: usize, const V: bool> Panel for BlockPanel<F, V> {
    type Act = ActBlock;
    fn blocks(&self) -> usize {
        self.blocks
    }

    /// Per block: eight `vpdpbusd` per activation row, then one scale multiply and one FMA
    /// for the eight rows. Plain loops: a closure would not inherit the target features.
    #[inline(always)]
    unsafe fn tile<const R: usize>(&self, acts: [&[ActBlock]; R], g: usize) -> [__m256; R] {
        block_tile::<F, V, R>(self, acts, g)
    }
}

#[inline(always)]
unsafe fn block_tile<const F: usize, const V: bool, const R: usize>(
    p: &BlockPanel<F, V>,
    acts: [&[ActBlock]; R],
    g: usize,
) -> [__m256; R] {
    let shift = x86::offset_shift::<F, V>();
    let has_min = FORMATS[F].has_min();
    let mut acc = [_mm256_setzero_ps(); R];
    let mut mins = [_mm256_setzero_ps(); R];
    for b in 0..p.blocks {
        let at = g * p.blocks + b;
        let mut sums = [_mm256_setzero_si256(); R];
        if let Some(shift) = shift {
            // The weights were made unsigned by `+2^shift`: start from `−2^shift · Σq`.
            for j in 0..R {
                sums[j] = _mm256_set1_epi32(-(acts[j].get_unchecked(b).sum << shift));
            }
        }
        let wq = p.q.as_ptr().add(at * CHUNKS * LANES) as *const __m256i;
        for c in 0..CHUNKS {
            let w = _mm256_loadu_si256(wq.add(c));
            for j in 0..R {
                let a = four_bytes(acts[j].get_unchecked(b).q.as_ptr(), 4 * c);
                sums[j] = dot_add::<F, V>(sums[j], w, _mm256_set1_epi32(a));
            }
        }
        let d = _mm256_loadu_ps(p.d.as_ptr().add(at * LANES));
        let m = _mm256_loadu_ps(p.m.as_ptr().add(at * LANES));
        for j in 0..R {
            let a = acts[j].get_unchecked(b);
            let scale = _mm256_mul_ps(d, _mm256_set1_ps(a.d));
            acc[j] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums[j]), acc[j]);
            if has_min {
                mins[j] = _mm256_add_ps(mins[j], _mm256_mul_ps(m, _mm256_set1_ps(a.s)));
            }
        }
    }
    for j in 0..R {
        acc[j] = _mm256_add_ps(acc[j], mins[j]);
    }
    acc
}

/// A task's K-quant rows, unpacked: per (group, super-block, run, chunk) eight rows' four
/// unsigned weight bytes; per (group, super-block, 16-weight run) the rows' integer scales;
/// per (group, super-block, pair of runs) their offset weights as two i16 (for `vpdpwssd`);
/// per (group, super-block) the rows' `d` and offset factors.
struct SuperPanel<const V: bool> {
    supers: usize,
    q: Vec<u32>,
    scales: Vec<i32>,
    offsets: Vec<u32>,
    d: Vec<f32>,
    factor: Vec<f32>,
}

/// K-quant formats by index, as `x86_k`'s loops number them.
const K_FORMATS: [KFormat; 3] = [KFormat::Q4K, KFormat::Q5K, KFormat::Q6K];

#[inline(always)]
unsafe fn super_panel<const F: usize, const V: bool>(
    w: *const u8,
    row_bytes: usize,
    rows: usize,
    supers: usize,
) -> SuperPanel<V> {
    let format = K_FORMATS[F];
    let bpb = format.bytes_per_block();
    let groups = rows.div_ceil(LANES);
    let blocks = groups * supers;
    let mut p = SuperPanel {
        supers,
        q: vec![0; blocks * RUNS * CHUNKS * LANES],
        scales: vec![0; blocks * 16 * LANES],
        offsets: vec![0; blocks * 8 * LANES],
        d: vec![0.0; blocks * LANES],
        factor: vec![0.0; blocks * LANES],
    };
    let mut bytes = [0u32; CHUNKS];
    for r in 0..rows {
        let (g, lane) = (r / LANES, r % LANES);
        for s in 0..supers {
            let b = w.add(r * row_bytes + s * bpb);
            let head = Head::read(format, std::slice::from_raw_parts(b, bpb));
            let at = g * supers + s;
            for run in 0..RUNS {
                _mm256_storeu_si256(bytes.as_mut_ptr() as *mut __m256i, x86_k::run_weights::<F>(b, run));
                for (c, &chunk) in bytes.iter().enumerate() {
                    p.q[((at * RUNS + run) * CHUNKS + c) * LANES + lane] = chunk;
                }
            }
            for (h, &scale) in head.scales.iter().enumerate() {
                p.scales[(at * 16 + h) * LANES + lane] = scale as i32;
            }
            for (pair, o) in head.offsets.chunks_exact(2).enumerate() {
                p.offsets[(at * 8 + pair) * LANES + lane] = (o[0] as u16 as u32) | ((o[1] as u16 as u32) << 16);
            }
            p.d[at * LANES + lane] = head.d;
            p.factor[at * LANES + lane] = head.offset_factor;
        }
    }
    p
}

impl<const V: bool> Panel for SuperPanel<V> {
    type Act = SuperAct;
    fn blocks(&self) -> usize {
        self.supers
    }

    /// Per 16-weight run: four `vpdpbusd` per activation row and one multiply by the rows'
    /// scales; the offsets by `vpdpwssd` against the activations' run sums.
    #[inline(always)]
    unsafe fn tile<const R: usize>(&self, acts: [&[SuperAct]; R], g: usize) -> [__m256; R] {
        super_tile::<V, R>(self, acts, g)
    }
}

#[inline(always)]
unsafe fn super_tile<const V: bool, const R: usize>(
    p: &SuperPanel<V>,
    acts: [&[SuperAct]; R],
    g: usize,
) -> [__m256; R] {
    let mut acc = [_mm256_setzero_ps(); R];
    let mut offs = [_mm256_setzero_ps(); R];
    for s in 0..p.supers {
        let at = g * p.supers + s;
        let mut sums = [_mm256_setzero_si256(); R];
        for run in 0..RUNS {
            let wq = p.q.as_ptr().add((at * RUNS + run) * CHUNKS * LANES) as *const __m256i;
            let scales = p.scales.as_ptr().add((at * 16 + 2 * run) * LANES) as *const __m256i;
            // The run's two 16-weight halves one after the other: few registers live.
            for half in 0..2 {
                let mut part = [_mm256_setzero_si256(); R];
                for c in 4 * half..4 * half + 4 {
                    let w = _mm256_loadu_si256(wq.add(c));
                    for j in 0..R {
                        let a = four_bytes(acts[j].get_unchecked(s).q.as_ptr(), 32 * run + 4 * c);
                        part[j] = x86::udot::<V>(part[j], w, _mm256_set1_epi32(a));
                    }
                }
                let scale = _mm256_loadu_si256(scales.add(half));
                for j in 0..R {
                    sums[j] = _mm256_add_epi32(sums[j], _mm256_mullo_epi32(part[j], scale));
                }
            }
        }
        let ow = p.offsets.as_ptr().add(at * 8 * LANES) as *const __m256i;
        let d = _mm256_loadu_ps(p.d.as_ptr().add(at * LANES));
        let factor = _mm256_loadu_ps(p.factor.as_ptr().add(at * LANES));
        for j in 0..R {
            let a = acts[j].get_unchecked(s);
            let mut off = _mm256_setzero_si256();
            for pair in 0..8 {
                let bsums = (a.bsums.as_ptr().add(2 * pair) as *const i32).read_unaligned();
                let (o, b) = (_mm256_loadu_si256(ow.add(pair)), _mm256_set1_epi32(bsums));
                off = match V {
                    true => _mm256_dpwssd_epi32(off, o, b),
                    false => _mm256_add_epi32(off, _mm256_madd_epi16(o, b)),
                };
            }
            let ad = _mm256_set1_ps(a.d);
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, ad), _mm256_cvtepi32_ps(sums[j]), acc[j]);
            offs[j] = _mm256_fmadd_ps(_mm256_mul_ps(factor, ad), _mm256_cvtepi32_ps(off), offs[j]);
        }
    }
    for j in 0..R {
        acc[j] = _mm256_sub_ps(acc[j], offs[j]);
    }
    acc
}
