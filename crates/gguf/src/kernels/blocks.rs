//! The GGML block formats our kernels read, the activation blocks they quantize `x` into once
//! per matmul, and the scalar dot products every SIMD path is checked against.
//!
//! Weight blocks (32 weights each, little-endian, as llama.cpp writes them):
//! - `Q4_0`: `d: f16, qs: [u8; 16]`, `w = (nibble − 8)·d`
//! - `Q4_1`: `d: f16, m: f16, qs: [u8; 16]`, `w = nibble·d + m`
//! - `Q5_0`: `d: f16, qh: u32, qs: [u8; 16]`, `w = (nibble | bit·16 − 16)·d`
//! - `Q5_1`: `d: f16, m: f16, qh: u32, qs: [u8; 16]`, `w = (nibble | bit·16)·d + m`
//! - `Q8_0`: `d: f16, qs: [i8; 32]`, `w = q·d`
//!
//! Element `j < 16` is the low nibble of `qs[j]` (and bit `j` of `qh`), element `j + 16` the
//! high nibble (bit `j + 16`).

use half::f16;

pub const BLOCK: usize = 32;

/// The weight formats our kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
}

impl Format {
    pub fn bytes_per_block(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
            Format::Q8_0 => 34,
        }
    }

    /// Formats with an offset `m` pair with activation sums (llama.cpp's Q8_1).
    pub fn has_min(self) -> bool {
        matches!(self, Format::Q4_1 | Format::Q5_1)
    }
}

/// 32 activations quantized to i8 with scale `d`, and `s = d·Σq` for formats with an offset.
/// `d` and `s` hold f16-rounded values, as llama.cpp's Q8_0/Q8_1 blocks store them; `sum` is
/// `Σq` exactly (the prefill panels take a signed format's offset back out with it).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct ActBlock {
    pub d: f32,
    pub s: f32,
    pub q: [i8; BLOCK],
    pub sum: i32,
}

impl ActBlock {
    pub const ZERO: ActBlock = ActBlock {
        d: 0.0,
        s: 0.0,
        q: [0; BLOCK],
        sum: 0,
    };
}

/// Quantizes one row of `x` (a multiple of 32 long) into `out` the way llama.cpp's x86
/// `quantize_row_q8_1` does: `q = round_half_even(x · 127/amax)`, `d = amax/127`,
/// `s = d·Σq`. Greedy parity with llama.cpp depends on these roundings: a flipped activation
/// rounding moves a logit by more than any summation order does.
pub fn quantize_row(x: &[f32], out: &mut [ActBlock]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the copy is compiled for.
        return unsafe { quantize_row_avx2(x, out) };
    }
    quantize_row_portable(x, out);
}

/// The same code compiled for AVX2, where the rounding is one `vroundps` and not a libm call
/// per element; the IEEE operations, so the results, are the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_row_avx2(x: &[f32], out: &mut [ActBlock]) {
    quantize_row_portable(x, out);
}

#[inline(always)]
fn quantize_row_portable(x: &[f32], out: &mut [ActBlock]) {
    for (xs, b) in x.chunks_exact(BLOCK).zip(out.iter_mut()) {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.q.iter_mut().zip(xs) {
            *q = (v * id).round_ties_even() as i8;
            sum += *q as i32;
        }
        b.d = f16::from_f32(d).to_f32();
        b.s = f16::from_f32(d * sum as f32).to_f32();
        b.sum = sum;
    }
}

#[inline(always)]
pub fn half_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

#[inline(always)]
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The 32 integer weights of one block (before `d` and `m`), and its `(d, m)`.
pub fn unpack(format: Format, block: &[u8]) -> ([i32; BLOCK], f32, f32) {
    let d = half_at(block, 0);
    let (m, qh, qs) = match format {
        Format::Q4_0 => (0.0, 0, &block[2..18]),
        Format::Q4_1 => (half_at(block, 2), 0, &block[4..20]),
        Format::Q5_0 => (0.0, u32_at(block, 2), &block[6..22]),
        Format::Q5_1 => (half_at(block, 2), u32_at(block, 4), &block[8..24]),
        Format::Q8_0 => {
            let w = std::array::from_fn(|j| block[2 + j] as i8 as i32);
            return (w, d, 0.0);
        }
    };
    let mut w = [0i32; BLOCK];
    for j in 0..16 {
        let (lo, hi) = ((qs[j] & 0x0F) as i32, (qs[j] >> 4) as i32);
        let (b0, b1) = (((qh >> j) & 1) as i32, ((qh >> (j + 16)) & 1) as i32);
        (w[j], w[j + 16]) = match format {
            Format::Q4_0 => (lo - 8, hi - 8),
            Format::Q4_1 => (lo, hi),
            Format::Q5_0 => ((lo | b0 << 4) - 16, (hi | b1 << 4) - 16),
            Format::Q5_1 => (lo | b0 << 4, hi | b1 << 4),
            Format::Q8_0 => unreachable!("returned above"),
        };
    }
    (w, d, m)
}

/// `row · x` for one weight row against its quantized activations: the reference every SIMD
/// path must reproduce bit for bit. It sums in the SIMD paths' order — eight lanes of four
/// products each, one fused multiply-add per lane and block, the lanes added pairwise at the
/// end — so every CPU gives the same logits.
pub fn dot_scalar(format: Format, row: &[u8], act: &[ActBlock]) -> f32 {
    let bpb = format.bytes_per_block();
    let mut lanes = [0f32; 8];
    let mut mins = 0f32;
    for (block, a) in row.chunks_exact(bpb).zip(act) {
        let (w, d, m) = unpack(format, block);
        let scale = d * a.d;
        for (l, lane) in lanes.iter_mut().enumerate() {
            let p: i32 = (4 * l..4 * l + 4).map(|j| w[j] * a.q[j] as i32).sum();
            *lane = scale.mul_add(p as f32, *lane);
        }
        if format.has_min() {
            mins += m * a.s;
        }
    }
    let half: [f32; 4] = std::array::from_fn(|i| lanes[i + 4] + lanes[i]);
    let (even, odd) = (half[0] + half[2], half[1] + half[3]);
    (even + odd) + mins
}

/// `row · x` in the order of the prefill panels (`x86_panel`): each block's integer sum exact,
/// one fused multiply-add per block, the offsets `m·s` summed apart and added at the end.
pub fn dot_scalar_panel(format: Format, row: &[u8], act: &[ActBlock]) -> f32 {
    let mut acc = 0f32;
    let mut mins = 0f32;
    for (block, a) in row.chunks_exact(format.bytes_per_block()).zip(act) {
        let (w, d, m) = unpack(format, block);
        let sum: i32 = w.iter().zip(&a.q).map(|(&w, &q)| w * q as i32).sum();
        acc = (d * a.d).mul_add(sum as f32, acc);
        if format.has_min() {
            mins += m * a.s;
        }
    }
    acc + mins
}
