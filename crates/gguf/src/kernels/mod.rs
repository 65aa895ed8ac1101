//! Our quantized matmul: the 32-weight formats candle 0.11 runs only through its scalar
//! fallback (`vec_dot_unopt`: Q4_0, Q4_1, Q5_0, Q5_1, and Q8_0) and the K-quants Q4_K, Q5_K
//! and Q6_K — every weight of SmolLM2 Q4_1 and of Gemma 3 Q4_K_M, read in place from the
//! mapped file. `x` is quantized once per matmul (Q8_0/Q8_1-style blocks of 32 for the first
//! kind, Q8_K super-blocks for the K-quants, as llama.cpp pairs them); output rows are split
//! over candle's own barrier pool (so our threads never contend with its); the dot is AVX2
//! where the CPU has it, else the scalar reference. Every other format goes to candle's
//! `QMatMul` unchanged.
//!
//! `PARALLAX_KERNELS=candle` routes every format to candle (the "before" of PERFORMANCE.md; on
//! CUDA, candle's ops alone: no stacked projections, no decode-attention kernel),
//! `PARALLAX_KERNELS=scalar` forces our scalar path.

mod blocks;
mod fused;
mod kquants;
mod mxfp4;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_k;
#[cfg(target_arch = "x86_64")]
mod x86_panel;

use std::sync::{Arc, OnceLock};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor};

pub use blocks::{dot_scalar, dot_scalar_panel, quantize_row, ActBlock, Format, BLOCK};
pub use fused::Projections;
pub use kquants::{dot_scalar_k, dot_scalar_k_panel, quantize_row_k, KFormat, SuperAct, SUPER};

use crate::layers::CResult;
use crate::mapped::WeightBytes;

/// The dot product implementation chosen for this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Candle,
    Scalar,
    Avx2,
    /// AVX2 with AVX-512 VNNI's `vpdpbusd` for the 32-weight formats (the K-quants run their
    /// AVX2 code).
    Vnni,
}

impl Kernel {
    /// Chosen once per process: `PARALLAX_KERNELS` if set, else the best the CPU runs.
    pub fn selected() -> Kernel {
        static KERNEL: OnceLock<Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            let wanted = match std::env::var("PARALLAX_KERNELS").as_deref() {
                Ok("candle") => Kernel::Candle,
                Ok("scalar") => Kernel::Scalar,
                Ok("avx2") => Kernel::Avx2,
                _ => Kernel::best(),
            };
            if Kernel::available().contains(&wanted) {
                wanted
            } else {
                Kernel::best()
            }
        })
    }

    /// Whether our GPU-side work runs on `device` (stacked projections, our CUDA kernels): a
    /// GPU, unless `PARALLAX_KERNELS=candle` asked for candle's ops alone.
    pub fn ours_on_gpu(device: &candle_core::Device) -> bool {
        !device.is_cpu() && Kernel::selected() != Kernel::Candle
    }

    /// The fastest kernel this CPU runs.
    pub fn best() -> Kernel {
        *Kernel::available().last().unwrap_or(&Kernel::Scalar)
    }

    /// Every kernel this CPU runs, slowest first (candle's included).
    pub fn available() -> Vec<Kernel> {
        let mut all = vec![Kernel::Candle, Kernel::Scalar];
        if crate::cpu::has_avx2_fma_f16c() {
            all.push(Kernel::Avx2);
            if crate::cpu::has_avx512_vnni() {
                all.push(Kernel::Vnni);
            }
        }
        all
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Candle => "candle",
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Vnni => "avx512-vnni",
        }
    }

    /// Weight rows per tile in prefill: as many as the vector registers hold accumulators for.
    fn tile_rows(self) -> usize {
        match self {
            Kernel::Vnni => 4,
            Kernel::Avx2 => 2,
            _ => 1,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn isa(self) -> Option<x86::Isa> {
        match self {
            Kernel::Avx2 => Some(x86::Isa::Avx2),
            Kernel::Vnni => Some(x86::Isa::Vnni),
            _ => None,
        }
    }

    /// `rows[w] · acts[j]` for a tile of `W` weight rows and `R` activation rows.
    fn tile<const W: usize, const R: usize>(
        self,
        format: Format,
        rows: [&[u8]; W],
        acts: [&[ActBlock]; R],
    ) -> [[f32; R]; W] {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = self.isa() {
            // SAFETY: `Avx2` and `Vnni` are only available when the CPU reports their features;
            // `rows` hold the blocks of `acts`, as `OurMatMul::rows` checked.
            return unsafe { x86::tile(isa, format, rows, acts) };
        }
        rows.map(|row| acts.map(|act| dot_scalar(format, row, act)))
    }

    /// `rows[w] · acts[j]` for a tile of K-quant weight rows.
    fn tile_k<const W: usize, const R: usize>(
        self,
        format: KFormat,
        rows: [&[u8]; W],
        acts: [&[SuperAct]; R],
    ) -> [[f32; R]; W] {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = self.isa() {
            // SAFETY: as in `tile`.
            return unsafe { x86_k::tile(isa, format, rows, acts) };
        }
        rows.map(|row| acts.map(|act| dot_scalar_k(format, row, act)))
    }
}

/// The dot products of one weight format against its activation blocks, by tiles.
trait TileDots: Sync {
    type Act: Sync;
    fn tile<const W: usize, const R: usize>(&self, rows: [&[u8]; W], acts: [&[Self::Act]; R]) -> [[f32; R]; W];

    /// `out[r] = row r of weights · act` for consecutive rows of `row_bytes` (decode).
    fn each_row(&self, weights: &[u8], row_bytes: usize, act: &[Self::Act], out: &mut [f32]);

    /// Every product of the rows of `weights` with the `m` rows of `act` by unpacked panels
    /// (prefill), written to `dest`; false where the kernel has no panels (then nothing is
    /// written).
    ///
    /// # Safety
    /// `dest` has room for `m` output rows of these weight rows, written by this task only.
    unsafe fn panels(&self, weights: &[u8], row_bytes: usize, act: &[Self::Act], m: usize, dest: Dest) -> bool;
}

/// The least activation rows a matmul takes the panel path for: below it, unpacking the
/// weights once per task costs more than it saves.
pub const PANEL_MIN_ROWS: usize = 16;

/// Where a task's panel outputs go: output row `i`'s value for the task's weight row `r` is at
/// `ptr + i · stride + r`.
#[derive(Clone, Copy)]
pub struct Dest {
    pub ptr: *mut f32,
    pub stride: usize,
}

struct BlockDots(Kernel, Format);

impl TileDots for BlockDots {
    type Act = ActBlock;
    fn tile<const W: usize, const R: usize>(&self, rows: [&[u8]; W], acts: [&[ActBlock]; R]) -> [[f32; R]; W] {
        self.0.tile(self.1, rows, acts)
    }

    fn each_row(&self, weights: &[u8], row_bytes: usize, act: &[ActBlock], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = self.0.isa() {
            // SAFETY: the ISA is available (as in `Kernel::tile`); every row holds `act.len()`
            // blocks, as `Job::new` checked.
            return unsafe { x86::each_row(isa, self.1, weights, row_bytes, act, out) };
        }
        for (y, row) in out.iter_mut().zip(weights.chunks_exact(row_bytes)) {
            *y = dot_scalar(self.1, row, act);
        }
    }

    unsafe fn panels(&self, weights: &[u8], row_bytes: usize, act: &[ActBlock], m: usize, dest: Dest) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = self.0.isa() {
            // SAFETY: the ISA is available (as in `Kernel::tile`); the rows hold the blocks of
            // `act` (`Job::new` checked); `dest` as the caller promises.
            x86_panel::blocks(isa, self.1, weights, row_bytes, act, m, dest);
            return true;
        }
        false
    }
}

struct SuperDots(Kernel, KFormat);

impl TileDots for SuperDots {
    type Act = SuperAct;
    fn tile<const W: usize, const R: usize>(&self, rows: [&[u8]; W], acts: [&[SuperAct]; R]) -> [[f32; R]; W] {
        // One weight row at a time: tiles of 2 and 4 K-quant rows measured no faster (the
        // integer work per pair, not the loads, bounds these loops; PERFORMANCE step 17).
        rows.map(|row| {
            let [one] = self.0.tile_k::<1, R>(self.1, [row], acts);
            one
        })
    }

    fn each_row(&self, weights: &[u8], row_bytes: usize, act: &[SuperAct], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = self.0.isa() {
            // SAFETY: as in `BlockDots::each_row`.
            return unsafe { x86_k::each_row(isa, self.1, weights, row_bytes, act, out) };
        }
        for (y, row) in out.iter_mut().zip(weights.chunks_exact(row_bytes)) {
            *y = dot_scalar_k(self.1, row, act);
        }
    }

    unsafe fn panels(&self, weights: &[u8], row_bytes: usize, act: &[SuperAct], m: usize, dest: Dest) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = self.0.isa() {
            // SAFETY: as in `BlockDots::panels`.
            x86_panel::supers(isa, self.1, weights, row_bytes, act, m, dest);
            return true;
        }
        false
    }
}

/// A weight format our kernels take, with the length of the activation blocks it pairs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    Blocks(Format),
    Super(KFormat),
    /// MXFP4 (ggml type 39), which candle has no type for.
    Mxfp4,
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
            WeightFormat::Blocks(_) | WeightFormat::Mxfp4 => BLOCK,
            WeightFormat::Super(_) => SUPER,
        }
    }

    pub fn bytes_per_block(self) -> usize {
        match self {
            WeightFormat::Blocks(f) => f.bytes_per_block(),
            WeightFormat::Super(f) => f.bytes_per_block(),
            WeightFormat::Mxfp4 => mxfp4::BYTES_PER_BLOCK,
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

impl Out {
    /// Writes `values[w][j]` to `y[i + j][r + w]` of an output `n` columns wide.
    #[inline(always)]
    fn tile<const W: usize, const R: usize>(&self, n: usize, r: usize, i: usize, values: [[f32; R]; W]) {
        for (w, row) in values.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: the caller's tile lies inside the output, and only its task writes it.
                unsafe { *self.0.add((i + j) * n + r + w) = v };
            }
        }
    }
}

impl OurMatMul {
    /// Our matmul over `w` (`n × k` blocks of `dtype`), if our kernels take the format and
    /// `kernel` is one of ours.
    pub fn new(w: WeightBytes, dtype: GgmlDType, n: usize, k: usize, kernel: Kernel) -> Option<Self> {
        Self::of_format(w, WeightFormat::of(dtype)?, n, k, kernel)
    }

    /// As `new`, for a format given directly (MXFP4, which has no candle type).
    pub fn of_format(w: WeightBytes, format: WeightFormat, n: usize, k: usize, kernel: Kernel) -> Option<Self> {
        let ours = matches!(kernel, Kernel::Scalar | Kernel::Avx2 | Kernel::Vnni);
        let len = format.block_len();
        (ours && k >= len && k.is_multiple_of(len)).then_some(OurMatMul {
            w,
            format,
            kernel,
            n,
            k,
        })
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    pub fn columns(&self) -> usize {
        self.k
    }
}

/// `x · Wᵀ` for every `W` of `ops` (all with `k` columns and one kernel), side by side: the
/// result is `m × Σn`, matrix `p`'s outputs in the columns after those of the matrices before
/// it. `x` (`m × k`, row-major) is quantized once per activation kind the formats need, and
/// all the weight rows go over the pool in one pass, so fused projections share one
/// quantization and one barrier.
pub(crate) fn matmul_side_by_side(ops: &[&OurMatMul], x: &[f32], m: usize) -> CResult<Vec<f32>> {
    let Some(first) = ops.first() else {
        candle_core::bail!("parallax-qmatmul: no matrices");
    };
    let (k, kernel) = (first.k, first.kernel);
    if ops.iter().any(|op| op.k != k || op.kernel != kernel) {
        candle_core::bail!("parallax-qmatmul: fused matrices differ in columns or kernel");
    }
    let needs = |blocks: bool| {
        ops.iter()
            .any(|op| matches!(op.format, WeightFormat::Blocks(_) | WeightFormat::Mxfp4) == blocks)
    };
    let act_blocks = match needs(true) {
        true => quantized(x, k, BLOCK, ActBlock::ZERO, quantize_row),
        false => Vec::new(),
    };
    let act_supers = match needs(false) {
        true => quantized(x, k, SUPER, SuperAct::ZERO, quantize_row_k),
        false => Vec::new(),
    };
    over_tasks(ops, m, |_, job, rows, at| match job.op.format {
        WeightFormat::Blocks(f) => job.task(&BlockDots(kernel, f), &act_blocks, m, rows, at),
        WeightFormat::Super(f) => job.task(&SuperDots(kernel, f), &act_supers, m, rows, at),
        WeightFormat::Mxfp4 => job.task(&mxfp4::Mxfp4Dots(kernel), &act_blocks, m, rows, at),
    })
}

/// Every weight row of `ops` over the pool, in tasks of `ROWS_PER_TASK` rows numbered one
/// matrix after the other: `task(p, job, rows, at)` writes matrix `p`'s outputs for `rows`
/// into `m` output rows of `Σn` columns, matrix `p`'s after those of the matrices before it.
fn over_tasks<F>(ops: &[&OurMatMul], m: usize, task: F) -> CResult<Vec<f32>>
where
    F: Fn(usize, &Job, std::ops::Range<usize>, Place) + Sync,
{
    let mut jobs = Vec::with_capacity(ops.len());
    let mut first_task = Vec::with_capacity(ops.len());
    let (mut col, mut tasks) = (0, 0);
    for op in ops {
        jobs.push(Job::new(op, col)?);
        first_task.push(tasks);
        col += op.n;
        tasks += op.n.div_ceil(ROWS_PER_TASK);
    }
    let stride = col;
    let mut y = vec![0f32; m * stride];
    let out = Out(y.as_mut_ptr());
    let run = |range: std::ops::Range<usize>| {
        let out = &out;
        for t in range {
            let p = first_task.partition_point(|&f| f <= t) - 1;
            let job = &jobs[p];
            let start = (t - first_task[p]) * ROWS_PER_TASK;
            let rows = start..(start + ROWS_PER_TASK).min(job.op.n);
            task(
                p,
                job,
                rows,
                Place {
                    out,
                    stride,
                    col: job.col,
                },
            );
        }
    };
    if tasks > 1 {
        candle_core::utils::barrier_pool().execute_chunked(tasks, run);
    } else {
        run(0..tasks);
    }
    Ok(y)
}

/// Each matrix of `ops` against its own input row `xs[p]` (decode through several experts):
/// every input quantized once, every weight row in one pass over the pool. The result is one
/// row, matrix `p`'s outputs after those of the matrices before it.
pub(crate) fn matmul_each(ops: &[&OurMatMul], xs: &[&[f32]]) -> CResult<Vec<f32>> {
    let Some(first) = ops.first() else {
        candle_core::bail!("parallax-qmatmul: no matrices");
    };
    let kernel = first.kernel;
    if ops.len() != xs.len() || ops.iter().zip(xs).any(|(op, x)| op.kernel != kernel || x.len() != op.k) {
        candle_core::bail!("parallax-qmatmul: each matrix needs one input row of its width");
    }
    /// A matrix's format with its input quantized for it.
    enum Act {
        Blocks(Format, Vec<ActBlock>),
        Mxfp4(Vec<ActBlock>),
        Supers(KFormat, Vec<SuperAct>),
    }
    let blocks = |x: &[f32], k| quantized(x, k, BLOCK, ActBlock::ZERO, quantize_row);
    let acts: Vec<Act> = ops
        .iter()
        .zip(xs)
        .map(|(op, x)| match op.format {
            WeightFormat::Blocks(f) => Act::Blocks(f, blocks(x, op.k)),
            WeightFormat::Mxfp4 => Act::Mxfp4(blocks(x, op.k)),
            WeightFormat::Super(f) => Act::Supers(f, quantized(x, op.k, SUPER, SuperAct::ZERO, quantize_row_k)),
        })
        .collect();
    over_tasks(ops, 1, |p, job, rows, at| match &acts[p] {
        Act::Blocks(f, a) => job.task(&BlockDots(kernel, *f), a, 1, rows, at),
        Act::Mxfp4(a) => job.task(&mxfp4::Mxfp4Dots(kernel), a, 1, rows, at),
        Act::Supers(f, a) => job.task(&SuperDots(kernel, *f), a, 1, rows, at),
    })
}

/// Where a task's outputs go: columns from `col` of an output `stride` columns wide.
#[derive(Clone, Copy)]
struct Place<'a> {
    out: &'a Out,
    stride: usize,
    col: usize,
}

/// One matrix of a matmul, its bytes checked.
struct Job<'a> {
    op: &'a OurMatMul,
    data: std::borrow::Cow<'a, [u8]>,
    row_bytes: usize,
    col: usize,
}

impl<'a> Job<'a> {
    fn new(op: &'a OurMatMul, col: usize) -> CResult<Self> {
        let row_bytes = op.k / op.format.block_len() * op.format.bytes_per_block();
        let data = op.w.bytes()?;
        if data.len() < op.n * row_bytes {
            candle_core::bail!(
                "quantized weight holds {} bytes, expected {}",
                data.len(),
                op.n * row_bytes
            );
        }
        Ok(Job {
            op,
            data,
            row_bytes,
            col,
        })
    }

    fn task<D: TileDots>(&self, dots: &D, act: &[D::Act], m: usize, rows: std::ops::Range<usize>, at: Place) {
        if m >= PANEL_MIN_ROWS {
            let weights = &self.data[rows.start * self.row_bytes..rows.end * self.row_bytes];
            let dest = Dest {
                // SAFETY: the task's first column lies inside the output's first row.
                ptr: unsafe { at.out.0.add(at.col + rows.start) },
                stride: at.stride,
            };
            // SAFETY: the task's columns of every output row are written by this task only.
            if unsafe { dots.panels(weights, self.row_bytes, act, m, dest) } {
                return;
            }
        }
        match self.op.kernel.tile_rows() {
            4 => self.task_by::<D, 4>(dots, act, m, rows, at),
            2 => self.task_by::<D, 2>(dots, act, m, rows, at),
            _ => self.task_by::<D, 1>(dots, act, m, rows, at),
        }
    }

    /// Outputs `y[i][col + r] = dot(weight row r, activation row i)` for the task's weight rows
    /// and every activation row: the rows taken `W` at a time against four activation rows at
    /// a time, then the rest one by one; `act` holds `m` rows of `k / block_len` blocks.
    fn task_by<D: TileDots, const W: usize>(
        &self,
        dots: &D,
        act: &[D::Act],
        m: usize,
        rows: std::ops::Range<usize>,
        at: Place,
    ) {
        let blocks = self.op.k / self.op.format.block_len();
        let weight_row = |r: usize| &self.data[r * self.row_bytes..(r + 1) * self.row_bytes];
        let act_row = |i: usize| &act[i * blocks..(i + 1) * blocks];
        let whole = rows.start + rows.len() / W * W;
        // The task's weight rows stay in cache while the activation rows go by.
        let mut i = 0;
        while i < m {
            if i + 4 <= m {
                let a: [&[D::Act]; 4] = std::array::from_fn(|j| act_row(i + j));
                for r in (rows.start..whole).step_by(W) {
                    let v = dots.tile::<W, 4>(std::array::from_fn(|w| weight_row(r + w)), a);
                    at.out.tile(at.stride, at.col + r, i, v);
                }
                for r in whole..rows.end {
                    at.out
                        .tile(at.stride, at.col + r, i, dots.tile::<1, 4>([weight_row(r)], a));
                }
                i += 4;
            } else {
                // SAFETY: row `i`'s outputs for the task's rows are consecutive, inside the
                // output, and written by this task only.
                let out = unsafe {
                    std::slice::from_raw_parts_mut(at.out.0.add(i * at.stride + at.col + rows.start), rows.len())
                };
                let weights = &self.data[rows.start * self.row_bytes..rows.end * self.row_bytes];
                dots.each_row(weights, self.row_bytes, act_row(i), out);
                i += 1;
            }
        }
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
        side_by_side_op(self.name(), &[self], storage, layout)
    }
}

/// A `CustomOp1`'s forward over [`matmul_side_by_side`]: `x` (`… × k`, f32, contiguous) against
/// every matrix of `ops`; the result is `… × Σn`.
pub(crate) fn side_by_side_op(
    name: &str,
    ops: &[&OurMatMul],
    storage: &CpuStorage,
    layout: &Layout,
) -> CResult<(CpuStorage, Shape)> {
    let CpuStorage::F32(all) = storage else {
        candle_core::bail!("{name} takes f32 activations");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{name} takes contiguous activations");
    };
    let dims = layout.shape().dims();
    let Some((&k, lead)) = dims.split_last() else {
        candle_core::bail!("{name}: a scalar has no rows");
    };
    let expected = ops.first().map_or(0, |op| op.k);
    if k != expected {
        candle_core::bail!("{name}: x has {k} columns, the weight {expected}");
    }
    let m = lead.iter().product::<usize>();
    let y = matmul_side_by_side(ops, &all[start..end], m)?;
    let mut out_dims = lead.to_vec();
    out_dims.push(ops.iter().map(|op| op.n).sum());
    Ok((CpuStorage::F32(y), Shape::from(out_dims)))
}

#[cfg(test)]
pub(crate) mod tests;
