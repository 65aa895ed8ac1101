//! The K-quant formats (256-weight super-blocks) our kernels read, the Q8_K activation blocks
//! llama.cpp pairs them with, and the scalar dot products every SIMD path is checked against.
//!
//! Super-blocks (little-endian, as llama.cpp writes them):
//! - `Q4_K` (144 bytes): `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`; eight 32-weight
//!   sub-blocks with a 6-bit scale `s` and a 6-bit min `m` each, `w = d·s·q − dmin·m`,
//!   `q` a nibble.
//! - `Q5_K` (176 bytes): as `Q4_K` with `qh: [u8; 32]` before `qs`, the fifth bit of `q`.
//! - `Q6_K` (210 bytes): `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`; sixteen
//!   16-weight sub-blocks, `w = d·s·(q − 32)`, `q` six bits.
//!
//! Every format unpacks to the same shape: 256 unsigned integer weights in element order
//! ([`weights_k`]) and a [`Head`]: one integer scale per 16 elements, and an integer offset
//! term (`Σ m·Σa` for the mins of Q4_K/Q5_K, `32·Σ s·Σa` for Q6_K's bias) with its float
//! factor. A dot is then `d·a.d·Σ s·q·a − factor·a.d·offset`, the integer parts exact.

use super::blocks::half_at;

pub const SUPER: usize = 256;

/// The K-quant formats our kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KFormat {
    Q4K,
    Q5K,
    Q6K,
}

impl KFormat {
    pub fn bytes_per_block(self) -> usize {
        match self {
            KFormat::Q4K => 144,
            KFormat::Q5K => 176,
            KFormat::Q6K => 210,
        }
    }
}

/// 256 activations quantized as llama.cpp's Q8_K: `d` (f32), `q`, and the sums of `q` over
/// each run of 16.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
pub struct SuperAct {
    pub q: [i8; SUPER],
    pub bsums: [i16; SUPER / 16],
    pub d: f32,
}

impl SuperAct {
    pub const ZERO: SuperAct = SuperAct {
        q: [0; SUPER],
        bsums: [0; SUPER / 16],
        d: 0.0,
    };
}

/// Quantizes one row of `x` (a multiple of 256 long) the way llama.cpp's
/// `quantize_row_q8_K_ref` does: scale by `−127/x_max` where `x_max` is the element of largest
/// magnitude (so that one becomes −127), round half to even, clamp at 127.
pub fn quantize_row_k(x: &[f32], out: &mut [SuperAct]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the copy is compiled for.
        return unsafe { quantize_row_k_avx2(x, out) };
    }
    quantize_row_k_portable(x, out);
}

/// The same code compiled for AVX2 (the rounding a `vroundps`, not a libm call per element).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_row_k_avx2(x: &[f32], out: &mut [SuperAct]) {
    quantize_row_k_portable(x, out);
}

#[inline(always)]
fn quantize_row_k_portable(x: &[f32], out: &mut [SuperAct]) {
    for (xs, b) in x.chunks_exact(SUPER).zip(out.iter_mut()) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in xs {
            if v.abs() > amax {
                (amax, max) = (v.abs(), v);
            }
        }
        if amax == 0.0 {
            *b = SuperAct::ZERO;
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.q.iter_mut().zip(xs) {
            *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
        }
        for (sum, run) in b.bsums.iter_mut().zip(b.q.chunks_exact(16)) {
            *sum = run.iter().map(|&q| q as i16).sum();
        }
        b.d = 1.0 / iscale;
    }
}

/// A super-block's scales in the common shape of the module docs: `d`, the integer scale of
/// each 16-element run, and the offset term's factor and per-run integer weights (its value
/// against activations `a` is `factor · Σ offsets[i] · a.bsums[i]`).
#[derive(Debug, Clone, Copy)]
pub struct Head {
    pub d: f32,
    pub scales: [i16; SUPER / 16],
    pub offset_factor: f32,
    pub offsets: [i16; SUPER / 16],
}

impl Head {
    pub const ZERO: Head = Head {
        d: 0.0,
        scales: [0; SUPER / 16],
        offset_factor: 0.0,
        offsets: [0; SUPER / 16],
    };

    pub fn read(format: KFormat, b: &[u8]) -> Head {
        match format {
            KFormat::Q4K | KFormat::Q5K => {
                let (sc, mn) = scales_and_mins(&b[4..16]);
                Head {
                    d: half_at(b, 0),
                    scales: std::array::from_fn(|i| sc[i / 2] as i16),
                    offset_factor: half_at(b, 2),
                    offsets: std::array::from_fn(|i| mn[i / 2] as i16),
                }
            }
            KFormat::Q6K => {
                let d = half_at(b, 208);
                Head {
                    d,
                    scales: std::array::from_fn(|i| b[192 + i] as i8 as i16),
                    offset_factor: d,
                    offsets: std::array::from_fn(|i| 32 * (b[192 + i] as i8 as i16)),
                }
            }
        }
    }

    pub fn offset(&self, a: &SuperAct) -> i32 {
        self.offsets
            .iter()
            .zip(&a.bsums)
            .map(|(&o, &s)| o as i32 * s as i32)
            .sum()
    }
}

/// Q4_K/Q5_K's eight 6-bit (scale, min) pairs from their 12 packed bytes.
pub fn scales_and_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..4 {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 6) << 4);
        mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
    (sc, mn)
}

/// A super-block's 256 unsigned integer weights, in element order.
pub fn weights_k(format: KFormat, b: &[u8]) -> [u8; SUPER] {
    let mut q = [0u8; SUPER];
    match format {
        KFormat::Q4K | KFormat::Q5K => {
            let (qh, qs) = match format {
                KFormat::Q5K => (Some(&b[16..48]), &b[48..176]),
                _ => (None, &b[16..144]),
            };
            for j in 0..4 {
                for l in 0..32 {
                    let (lo, hi) = (qs[32 * j + l] & 0x0F, qs[32 * j + l] >> 4);
                    let (b0, b1) = qh.map_or((0, 0), |h| ((h[l] >> (2 * j)) & 1, (h[l] >> (2 * j + 1)) & 1));
                    q[64 * j + l] = lo | b0 << 4;
                    q[64 * j + 32 + l] = hi | b1 << 4;
                }
            }
        }
        KFormat::Q6K => {
            for n in 0..2 {
                let (ql, qh) = (&b[64 * n..64 * n + 64], &b[128 + 32 * n..128 + 32 * n + 32]);
                for l in 0..32 {
                    let e = 128 * n + l;
                    q[e] = (ql[l] & 0x0F) | (qh[l] & 3) << 4;
                    q[e + 32] = (ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4;
                    q[e + 64] = (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4;
                    q[e + 96] = (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4;
                }
            }
        }
    }
    q
}

/// `row · x` for one K-quant weight row: the reference the SIMD paths reproduce bit for bit.
/// Eight integer lanes per super-block, lane `t` summing `s·q·a` over elements `4t..4t+4` of
/// each 32-element run (as `maddubs` + `madd` lay them out); one FMA per lane and super-block;
/// the offsets summed apart; the lanes added pairwise at the end.
pub fn dot_scalar_k(format: KFormat, row: &[u8], act: &[SuperAct]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut offsets = 0f32;
    for (block, a) in row.chunks_exact(format.bytes_per_block()).zip(act) {
        let (head, q) = (Head::read(format, block), weights_k(format, block));
        let mut sums = [0i32; 8];
        for run in 0..SUPER / 32 {
            for (t, sum) in sums.iter_mut().enumerate() {
                let e = 32 * run + 4 * t;
                let p: i32 = (e..e + 4).map(|i| q[i] as i32 * a.q[i] as i32).sum();
                *sum += head.scales[e / 16] as i32 * p;
            }
        }
        let scale = head.d * a.d;
        for (lane, &s) in lanes.iter_mut().zip(&sums) {
            *lane = scale.mul_add(s as f32, *lane);
        }
        offsets = (head.offset_factor * a.d).mul_add(head.offset(a) as f32, offsets);
    }
    let half: [f32; 4] = std::array::from_fn(|i| lanes[i + 4] + lanes[i]);
    let (even, odd) = (half[0] + half[2], half[1] + half[3]);
    (even + odd) - offsets
}

/// `row · x` in the order of the prefill panels (`x86_panel`): each super-block's integer sum
/// `Σ s·q·a` exact, one fused multiply-add per super-block, the offsets apart.
pub fn dot_scalar_k_panel(format: KFormat, row: &[u8], act: &[SuperAct]) -> f32 {
    let mut acc = 0f32;
    let mut offsets = 0f32;
    for (block, a) in row.chunks_exact(format.bytes_per_block()).zip(act) {
        let (head, q) = (Head::read(format, block), weights_k(format, block));
        let sum: i32 = (0..SUPER)
            .map(|e| head.scales[e / 16] as i32 * q[e] as i32 * a.q[e] as i32)
            .sum();
        acc = (head.d * a.d).mul_add(sum as f32, acc);
        offsets = (head.offset_factor * a.d).mul_add(head.offset(a) as f32, offsets);
    }
    acc - offsets
}
