//! Our CUDA kernels, for what candle's ops do in several launches: compiled to PTX by the build
//! script (`*.cu` beside this file), loaded once per device by candle. Each op checks the
//! layouts it is given before it launches; the callers fall back to candle's ops for any shape a
//! kernel does not take, and for `PARALLAX_KERNELS=candle`.

mod attention;
mod elementwise;

pub use attention::DecodeAttention;
pub use elementwise::{silu_mul, store_rows};

use candle_core::cuda_backend::cudarc::driver::{CudaFunction, LaunchConfig};
use candle_core::cuda_backend::CudaDevice;

use crate::kernels::Kernel;
use crate::layers::CResult;

/// Whether our CUDA kernels run on `device`: a CUDA device, unless `PARALLAX_KERNELS=candle`.
pub fn ours_on(device: &candle_core::Device) -> bool {
    device.is_cuda() && Kernel::ours_on_gpu(device)
}

/// One PTX module (one `.cu` file).
struct Module {
    name: &'static str,
    ptx: &'static str,
}

impl Module {
    /// Kernel `name`, launched with `dev.cuda_stream().launch_builder(&f)` (candle's stream).
    fn function(&self, dev: &CudaDevice, name: &str) -> CResult<CudaFunction> {
        Ok(dev
            .get_or_load_custom_func(name, self.name, self.ptx)?
            .into_cuda_function())
    }
}

/// What an op of ours answers on the CPU, where the engine runs `cpu_path` instead.
fn cuda_only<T>(op: &str, cpu_path: &str) -> CResult<T> {
    candle_core::bail!("{op} runs on CUDA; on the CPU the engine uses {cpu_path}")
}

/// `n` blocks of `threads`.
fn blocks(n: u32, threads: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One thread an element, 256 a block.
fn per_element(n: usize) -> LaunchConfig {
    blocks(n.div_ceil(256) as u32, 256)
}
