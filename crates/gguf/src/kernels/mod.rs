//! Our quantized matmul: the 32-weight formats candle 0.11 runs only through its scalar
//! fallback (`vec_dot_unopt`: Q4_0, Q4_1, Q5_0, Q5_1, and Q8_0) and the K-quants Q4_K, Q5_K
//! and Q6_K — every weight of SmolLM2 Q4_1 and of Gemma 3 Q4_K_M, read in place from the
//! mapped file. `x` is quantized once per matmul (Q8_0/Q8_1-style blocks of 32 for the first
//! kind, Q8_K super-blocks for the K-quants, as llama.cpp pairs them); output rows are split
//! over candle's own barrier pool (so our threads never contend with its); the dot is AVX2
//! where the CPU has it, else the scalar reference. Every other format goes to candle's
//! `QMatMul` unchanged.
//!
//! `PARALLAX_KERNELS=candle` routes every format to candle (the "before" of PERFORMANCE.md),
//! `PARALLAX_KERNELS=scalar` forces our scalar path.

mod blocks;
mod kquants;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_k;

use std::sync::{Arc, OnceLock};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor};

pub use blocks::{dot_scalar, quantize_row, ActBlock, Format, BLOCK};
pub use kquants::{dot_scalar_k, quantize_row_k, KFormat, SuperAct, SUPER};

use crate::layers::CResult;
use crate::mapped::WeightBytes;

/// The dot product implementation chosen for this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Candle,
    Scalar,
    Avx2,
}

impl Kernel {
    /// Chosen once per process: `PARALLAX_KERNELS` if set, else the best the CPU runs.
    pub fn selected() -> Kernel {
        static KERNEL: OnceLock<Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| match std::env::var("PARALLAX_KERNELS").as_deref() {
            Ok("candle") => Kernel::Candle,
            Ok("scalar") => Kernel::Scalar,
            _ => Kernel::best(),
        })
    }

    pub fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c") {
            return Kernel::Avx2;
        }
        Kernel::Scalar
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Candle => "candle",
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
        }
    }

    fn dot(self, format: Format, row: &[u8], act: &[ActBlock]) -> f32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2` is only chosen when the CPU reports AVX2, FMA and F16C.
            Kernel::Avx2 => unsafe { x86::dot(format, row, act) },
            _ => dot_scalar(format, row, act),
        }
    }

    /// Four activation rows against one weight row; the same four values as four `dot`s.
    fn dot4(self, format: Format, row: &[u8], acts: [&[ActBlock]; 4]) -> [f32; 4] {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dot`; the activation rows all have `k / BLOCK` blocks.
            Kernel::Avx2 => unsafe { x86::dot4(format, row, acts) },
            _ => acts.map(|act| dot_scalar(format, row, act)),
        }
    }

    fn dot_k(self, format: KFormat, row: &[u8], act: &[SuperAct]) -> f32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dot`.
            Kernel::Avx2 => unsafe { x86_k::dot_k(format, row, act) },
            _ => dot_scalar_k(format, row, act),
        }
    }

    fn dot4_k(self, format: KFormat, row: &[u8], acts: [&[SuperAct]; 4]) -> [f32; 4] {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `dot4`.
            Kernel::Avx2 => unsafe { x86_k::dot4_k(format, row, acts) },
            _ => acts.map(|act| dot_scalar_k(format, row, act)),
        }
    }
}

/// A weight format our kernels take, with the length of the activation blocks it pairs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    Blocks(Format),
    Super(KFormat),
}

impl WeightFormat {
    pub fn of(dtype: GgmlDType) -> Option<WeightFormat> {
        use WeightFormat::{Blocks, Super};
        Some(match dtype {
            GgmlDType::Q4_0 => Blocks(Format::Q4_0),
            GgmlDType::Q4_1 => Blocks(Format::Q4_1),
            GgmlDType::Q5_0 => Blocks(Format::Q5_0),
            GgmlDType::Q5_1 => Blocks(Format::Q5_1),
            GgmlDType::Q8_0 => Blocks(Format::Q8_0),
            GgmlDType::Q4K => Super(KFormat::Q4K),
            GgmlDType::Q5K => Super(KFormat::Q5K),
            GgmlDType::Q6K => Super(KFormat::Q6K),
            _ => return None,
        })
    }

    /// Elements per block.
    pub fn block_len(self) -> usize {
        match self {
            WeightFormat::Blocks(_) => BLOCK,
            WeightFormat::Super(_) => SUPER,
        }
    }

    pub fn bytes_per_block(self) -> usize {
        match self {
            WeightFormat::Blocks(f) => f.bytes_per_block(),
            WeightFormat::Super(f) => f.bytes_per_block(),
        }
    }
}

/// `y = x · Wᵀ` for a GGUF weight `W` of shape `(n, k)`.
pub enum QLinear {
    Ours(Arc<OurMatMul>),
    Candle(QMatMul),
}

impl QLinear {
    pub fn from_arc(w: Arc<QTensor>) -> CResult<Self> {
        Self::with_kernel(w, Kernel::selected())
    }

    pub fn with_kernel(w: Arc<QTensor>, kernel: Kernel) -> CResult<Self> {
        let (n, k) = w.shape().dims2()?;
        if w.device().is_cpu() {
            if let Some(op) = OurMatMul::new(WeightBytes::Tensor(w.clone()), w.dtype(), n, k, kernel) {
                return Ok(QLinear::Ours(Arc::new(op)));
            }
        }
        Ok(QLinear::Candle(QMatMul::from_arc(w)?))
    }
}

impl Module for QLinear {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        match self {
            QLinear::Ours(op) => {
                let x = x.contiguous()?;
                x.apply_op1_no_bwd(op.as_ref())
            }
            QLinear::Candle(m) => m.forward(x),
        }
    }
}

pub struct OurMatMul {
    w: WeightBytes,
    format: WeightFormat,
    kernel: Kernel,
    n: usize,
    k: usize,
}

/// Output rows handed to one worker at a time.
const ROWS_PER_TASK: usize = 16;

/// A pointer the workers write disjoint output ranges through.
pub(crate) struct Out(pub(crate) *mut f32);
// SAFETY: every user writes each element from one worker only (the matmul: its row range;
// attention: its own head and position).
unsafe impl Sync for Out {}

impl OurMatMul {
    /// Our matmul over `w` (`n × k` blocks of `dtype`), if our kernels take the format and
    /// `kernel` is one of ours.
    pub fn new(w: WeightBytes, dtype: GgmlDType, n: usize, k: usize, kernel: Kernel) -> Option<Self> {
        let format = WeightFormat::of(dtype)?;
        let ours = matches!(kernel, Kernel::Scalar | Kernel::Avx2);
        let len = format.block_len();
        (ours && k >= len && k.is_multiple_of(len)).then_some(OurMatMul {
            w,
            format,
            kernel,
            n,
            k,
        })
    }

    /// `x`: `m × k` row-major; returns `m × n`.
    fn matmul(&self, x: &[f32], m: usize) -> CResult<Vec<f32>> {
        let kernel = self.kernel;
        match self.format {
            WeightFormat::Blocks(f) => {
                let act = quantized(x, self.k, BLOCK, ActBlock::ZERO, quantize_row);
                self.rows(&act, m, |row, a| kernel.dot(f, row, a), |row, a| kernel.dot4(f, row, a))
            }
            WeightFormat::Super(f) => {
                let act = quantized(x, self.k, SUPER, SuperAct::ZERO, quantize_row_k);
                self.rows(
                    &act,
                    m,
                    |row, a| kernel.dot_k(f, row, a),
                    |row, a| kernel.dot4_k(f, row, a),
                )
            }
        }
    }

    /// Every output `y[i][r] = dot(weight row r, activation row i)`, the weight rows split over
    /// the pool in tasks; `act` holds `m` rows of `k / block_len` blocks.
    fn rows<A: Sync>(
        &self,
        act: &[A],
        m: usize,
        dot: impl Fn(&[u8], &[A]) -> f32 + Sync,
        dot4: impl Fn(&[u8], [&[A]; 4]) -> [f32; 4] + Sync,
    ) -> CResult<Vec<f32>> {
        let (n, blocks) = (self.n, self.k / self.format.block_len());
        let row_bytes = blocks * self.format.bytes_per_block();
        let data = self.w.bytes()?;
        let weights: &[u8] = &data;
        if weights.len() < n * row_bytes {
            candle_core::bail!(
                "quantized weight holds {} bytes, expected {}",
                weights.len(),
                n * row_bytes
            );
        }
        let mut y = vec![0f32; m * n];
        let out = Out(y.as_mut_ptr());
        let tasks = n.div_ceil(ROWS_PER_TASK);
        let run = |range: std::ops::Range<usize>| {
            let out = &out;
            let write = |i: usize, r: usize, v: f32| {
                // SAFETY: `i < m`, `r < n`; every (i, r) is written by one task only.
                unsafe { *out.0.add(i * n + r) = v };
            };
            for task in range {
                let rows = task * ROWS_PER_TASK..((task + 1) * ROWS_PER_TASK).min(n);
                let weight_row = |r: usize| &weights[r * row_bytes..(r + 1) * row_bytes];
                // Four activation rows at a time share each weight block's unpacking; the task's
                // weight rows stay in cache while the activation groups go by.
                let mut groups = act.chunks_exact(4 * blocks);
                for (g, group) in groups.by_ref().enumerate() {
                    let a: [&[A]; 4] = std::array::from_fn(|j| &group[j * blocks..(j + 1) * blocks]);
                    for r in rows.clone() {
                        for (j, v) in dot4(weight_row(r), a).into_iter().enumerate() {
                            write(4 * g + j, r, v);
                        }
                    }
                }
                let done = m - groups.remainder().len() / blocks.max(1);
                for (j, a) in groups.remainder().chunks_exact(blocks).enumerate() {
                    for r in rows.clone() {
                        write(done + j, r, dot(weight_row(r), a));
                    }
                }
            }
        };
        if tasks > 1 {
            candle_core::utils::barrier_pool().execute_chunked(tasks, run);
        } else {
            run(0..tasks);
        }
        Ok(y)
    }
}

/// `x` (rows of `k`) quantized row by row into blocks of `len` elements.
fn quantized<A: Copy>(x: &[f32], k: usize, len: usize, zero: A, quantize: fn(&[f32], &mut [A])) -> Vec<A> {
    let blocks = k / len;
    let mut act = vec![zero; x.len() / k * blocks];
    for (row, out) in x.chunks_exact(k).zip(act.chunks_exact_mut(blocks)) {
        quantize(row, out);
    }
    act
}

impl CustomOp1 for OurMatMul {
    fn name(&self) -> &'static str {
        "parallax-qmatmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let CpuStorage::F32(all) = storage else {
            candle_core::bail!("parallax-qmatmul takes f32 activations");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("parallax-qmatmul takes contiguous activations");
        };
        let dims = layout.shape().dims();
        let Some((&k, lead)) = dims.split_last() else {
            candle_core::bail!("parallax-qmatmul: a scalar has no rows");
        };
        if k != self.k {
            candle_core::bail!("parallax-qmatmul: x has {k} columns, the weight {}", self.k);
        }
        let m = lead.iter().product::<usize>();
        let y = self.matmul(&all[start..end], m)?;
        let mut out_dims = lead.to_vec();
        out_dims.push(self.n);
        Ok((CpuStorage::F32(y), Shape::from(out_dims)))
    }
}

#[cfg(test)]
pub(crate) mod tests;
