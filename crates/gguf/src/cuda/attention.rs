//! Decode attention over the KV cache in place (`attention.cu`).

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, LaunchArgs, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::{CudaDevice, WrapErr};
use candle_core::{CudaStorage, CustomOp3, DType, Layout, Shape, Tensor};
use half::f16;

use crate::layers::CResult;

use super::{blocks, cuda_only, Module};

const MODULE: Module = Module {
    name: "parallax_attention",
    ptx: include_str!(concat!(env!("OUT_DIR"), "/attention.ptx")),
};
/// The kernel's limits (`attention.cu`): keys a block, query heads a KV head, head size.
const CHUNK_MAX: usize = 256;
const G_MAX: usize = 16;
const D_MAX: usize = 256;
/// Threads a block (four warps: `attention.cu`'s WARPS).
const THREADS: u32 = 128;
/// Blocks to aim for: enough to keep every SM of an H100/H200 (132) reading.
const TARGET_BLOCKS: usize = 264;

/// One query position's attention, every head, against keys `first..first + len` of the cache
/// views (flash-decoding: key chunks in parallel, then merged).
#[derive(Debug, Clone)]
pub struct DecodeAttention {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub scale: f32,
    pub softcap: Option<f32>,
    /// The first visible key, as an index into the cache view.
    pub first: usize,
    pub len: usize,
}

impl DecodeAttention {
    /// Whether the kernel takes this shape (else the caller uses candle's ops).
    pub fn supports(n_head: usize, n_kv_head: usize, head_dim: usize) -> bool {
        n_kv_head > 0
            && n_head.is_multiple_of(n_kv_head)
            && n_head / n_kv_head <= G_MAX
            && head_dim.is_multiple_of(32)
            && head_dim <= D_MAX
    }

    /// `q`: `(1, n_head, 1, d)` f32; `k`, `v`: `(1, n_kv_head, rows, d)` views of the cache, rows
    /// contiguous. Returns `(1, n_head, 1, d)` f32.
    pub fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> CResult<Tensor> {
        q.contiguous()?.apply_op3_no_bwd(k, v, self)
    }

    fn chunk_len(&self) -> usize {
        let per_kv_head = TARGET_BLOCKS.div_ceil(self.n_kv_head.max(1));
        self.len.div_ceil(per_kv_head).next_multiple_of(32).clamp(32, CHUNK_MAX)
    }
}

impl CustomOp3 for DecodeAttention {
    fn name(&self) -> &'static str {
        "parallax-decode-attention"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &Layout,
        _: &candle_core::CpuStorage,
        _: &Layout,
        _: &candle_core::CpuStorage,
        _: &Layout,
    ) -> CResult<(candle_core::CpuStorage, Shape)> {
        cuda_only(self.name(), "`Attend`")
    }

    fn cuda_fwd(
        &self,
        qs: &CudaStorage,
        ql: &Layout,
        ks: &CudaStorage,
        kl: &Layout,
        vs: &CudaStorage,
        vl: &Layout,
    ) -> CResult<(CudaStorage, Shape)> {
        let d = self.head_dim;
        let (&[_, kh, _, kd], &[_, vh, _, vd]) = (kl.dims(), vl.dims()) else {
            candle_core::bail!("decode attention: keys and values must be (1, heads, rows, d)");
        };
        let (kst, vst) = (kl.stride(), vl.stride());
        if (kh, kd, vh, vd) != (self.n_kv_head, d, self.n_kv_head, d)
            || kst[3] != 1
            || kst[2] != d
            || kst[1] != vst[1]
            || vst[3] != 1
            || vst[2] != d
            || ql.dims() != [1, self.n_head, 1, d]
            || !ql.is_contiguous()
            || ks.dtype() != vs.dtype()
            || self.len == 0
        {
            candle_core::bail!(
                "decode attention: unexpected layouts q {:?} k {:?}/{:?} v {:?}/{:?}",
                ql.dims(),
                kl.dims(),
                kst,
                vl.dims(),
                vst
            );
        }
        let dev = qs.device().clone();
        let q = qs.as_cuda_slice::<f32>()?.slice(ql.start_offset()..);
        let chunk_len = self.chunk_len();
        let n_chunks = self.len.div_ceil(chunk_len);
        let g = self.n_head / self.n_kv_head;
        // SAFETY: both are written whole by the chunk kernel before the combine reads them.
        let part_acc = unsafe { dev.alloc::<f32>(self.n_head * n_chunks * d)? };
        let part_ml = unsafe { dev.alloc::<f32>(self.n_head * n_chunks * 2)? };
        let ints = [d, g, self.len, chunk_len].map(|x| x as i32);
        let head_stride = kst[1] as i64;
        let softcap = self.softcap.unwrap_or(0.0);
        let chunks = LaunchConfig {
            grid_dim: (self.n_kv_head as u32, n_chunks as u32, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let (k0, v0) = (kl.start_offset() + self.first * d, vl.start_offset() + self.first * d);
        let launch = |name: &str, k: &dyn PushArg, v: &dyn PushArg| -> CResult<()> {
            let func = MODULE.function(&dev, name)?;
            let stream = dev.cuda_stream();
            let mut b = stream.launch_builder(&func);
            b.arg(&q);
            k.push(&mut b);
            v.push(&mut b);
            b.arg(&part_acc);
            b.arg(&part_ml);
            for x in &ints {
                b.arg(x);
            }
            b.arg(&head_stride);
            b.arg(&self.scale);
            b.arg(&softcap);
            // SAFETY: the arguments match attn_chunk_*'s signature; every index the kernel
            // reads was checked against the layouts above.
            unsafe { b.launch(chunks) }.w()?;
            Ok(())
        };
        match ks.dtype() {
            DType::F16 => {
                let (k, v) = (
                    ks.as_cuda_slice::<f16>()?.slice(k0..),
                    vs.as_cuda_slice::<f16>()?.slice(v0..),
                );
                launch("attn_chunk_f16", &k, &v)?
            }
            DType::F32 => {
                let (k, v) = (
                    ks.as_cuda_slice::<f32>()?.slice(k0..),
                    vs.as_cuda_slice::<f32>()?.slice(v0..),
                );
                launch("attn_chunk_f32", &k, &v)?
            }
            other => candle_core::bail!("decode attention: a {other:?} KV cache"),
        }
        combine(&dev, &part_acc, &part_ml, self.n_head, d, n_chunks)
            .map(|out| (out, Shape::from((1, self.n_head, 1, d))))
    }
}

fn combine(
    dev: &CudaDevice,
    part_acc: &CudaSlice<f32>,
    part_ml: &CudaSlice<f32>,
    n_head: usize,
    d: usize,
    n_chunks: usize,
) -> CResult<CudaStorage> {
    // SAFETY: attn_combine writes every element.
    let out = unsafe { dev.alloc::<f32>(n_head * d)? };
    let func = MODULE.function(dev, "attn_combine")?;
    let stream = dev.cuda_stream();
    let mut b = stream.launch_builder(&func);
    let (d32, chunks32) = (d as i32, n_chunks as i32);
    b.arg(part_acc);
    b.arg(part_ml);
    b.arg(&out);
    b.arg(&d32);
    b.arg(&chunks32);
    let cfg = blocks(n_head as u32, THREADS);
    // SAFETY: the arguments match attn_combine's signature and the buffers' sizes.
    unsafe { b.launch(cfg) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
}

/// A cache view of either element type, as a kernel argument.
trait PushArg {
    fn push<'a>(&'a self, b: &mut LaunchArgs<'a>);
}

impl<T> PushArg for CudaView<'_, T> {
    fn push<'a>(&'a self, b: &mut LaunchArgs<'a>) {
        b.arg(self);
    }
}
