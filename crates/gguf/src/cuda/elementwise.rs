//! The KV cache's append (`store.cu`) and the gated activation (`gated.cu`), one launch each.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, CustomOp2, DType, InplaceOp2, Layout, Shape, Tensor};
use half::f16;

use super::{cuda_only, per_element, Module};
use crate::layers::CResult;

const STORE: Module = Module {
    name: "parallax_store",
    ptx: include_str!(concat!(env!("OUT_DIR"), "/store.ptx")),
};
const GATED: Module = Module {
    name: "parallax_gated",
    ptx: include_str!(concat!(env!("OUT_DIR"), "/gated.ptx")),
};

/// Writes `new` `(1, heads, n, d)` (f32) into `cache` `(1, heads, capacity, d)` at rows
/// `row..row + n`, converting to the cache's type.
pub fn store_rows(cache: &Tensor, new: &Tensor, row: usize) -> CResult<()> {
    cache.inplace_op2(&new.to_dtype(DType::F32)?.contiguous()?, &StoreRows { row })
}

struct StoreRows {
    row: usize,
}

impl InplaceOp2 for StoreRows {
    fn name(&self) -> &'static str {
        "parallax-store-rows"
    }

    fn cpu_fwd(
        &self,
        _: &mut candle_core::CpuStorage,
        _: &Layout,
        _: &candle_core::CpuStorage,
        _: &Layout,
    ) -> CResult<()> {
        cuda_only(self.name(), "`slice_set`")
    }

    fn cuda_fwd(&self, dst: &mut CudaStorage, dl: &Layout, src: &CudaStorage, sl: &Layout) -> CResult<()> {
        let (&[1, heads, capacity, d], &[1, sh, n, sd]) = (dl.dims(), sl.dims()) else {
            candle_core::bail!("store rows: cache {:?}, rows {:?}", dl.dims(), sl.dims());
        };
        let ds = dl.stride();
        if (sh, sd) != (heads, d) || self.row + n > capacity || ds[3] != 1 || ds[2] != d || !sl.is_contiguous() {
            candle_core::bail!(
                "store rows: {:?} at row {} into {:?}/{:?}",
                sl.dims(),
                self.row,
                dl.dims(),
                ds
            );
        }
        let dev = src.device().clone();
        let src = src.as_cuda_slice::<f32>()?.slice(sl.start_offset()..);
        let at = dl.start_offset() + self.row * d;
        let ints = [heads, n, d].map(|x| x as i32);
        let head_stride = ds[1] as i64;
        let cfg = per_element(heads * n * d);
        macro_rules! launch {
            ($t:ty, $name:literal) => {{
                let mut dst = dst.as_cuda_slice_mut::<$t>()?.slice_mut(at..);
                let func = STORE.function(&dev, $name)?;
                let stream = dev.cuda_stream();
                let mut b = stream.launch_builder(&func);
                b.arg(&src);
                b.arg(&mut dst);
                for x in &ints {
                    b.arg(x);
                }
                b.arg(&head_stride);
                // SAFETY: the arguments match kv_store_*'s signature; the rows written lie
                // inside the cache, checked above.
                unsafe { b.launch(cfg) }.w()?;
            }};
        }
        match dst.dtype() {
            DType::F16 => launch!(f16, "kv_store_f16"),
            DType::F32 => launch!(f32, "kv_store_f32"),
            other => candle_core::bail!("store rows: a {other:?} KV cache"),
        }
        Ok(())
    }
}

/// `silu(gate) · up` for two f32 tensors of one shape.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> CResult<Tensor> {
    gate.contiguous()?.apply_op2_no_bwd(&up.contiguous()?, &SiluMul)
}

struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "parallax-silu-mul"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &Layout,
        _: &candle_core::CpuStorage,
        _: &Layout,
    ) -> CResult<(candle_core::CpuStorage, Shape)> {
        cuda_only(self.name(), "`gated`")
    }

    fn cuda_fwd(&self, gs: &CudaStorage, gl: &Layout, us: &CudaStorage, ul: &Layout) -> CResult<(CudaStorage, Shape)> {
        if gl.dims() != ul.dims() || !gl.is_contiguous() || !ul.is_contiguous() {
            candle_core::bail!("silu·up: gate {:?} and up {:?}", gl.dims(), ul.dims());
        }
        let dev = gs.device().clone();
        let n = gl.shape().elem_count();
        let gate = gs.as_cuda_slice::<f32>()?.slice(gl.start_offset()..);
        let up = us.as_cuda_slice::<f32>()?.slice(ul.start_offset()..);
        // SAFETY: silu_mul writes every element.
        let out = unsafe { dev.alloc::<f32>(n)? };
        let func = GATED.function(&dev, "silu_mul")?;
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&func);
        let n64 = n as i64;
        b.arg(&gate);
        b.arg(&up);
        b.arg(&out);
        b.arg(&n64);
        // SAFETY: the arguments match silu_mul's signature; gate, up and out hold n elements.
        unsafe { b.launch(per_element(n)) }.w()?;
        Ok((CudaStorage::wrap_cuda_slice(out, dev), gl.shape().clone()))
    }
}
