//! Where MLX computes, chosen once per process, and MLX's allocator figures.
//!
//! An MLX error raised before mlx-rs has installed its error handler ends the process with
//! exit code 255, and using `Device::gpu()` on a machine without a GPU raises one. So the
//! handler is installed first and the GPU is probed through a fallible call.

use std::fmt;
use std::sync::OnceLock;

use mlx_rs::{Device, DeviceType, Stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeDevice {
    Cpu,
    Gpu,
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComputeDevice::Cpu => "cpu",
            ComputeDevice::Gpu => "gpu",
        })
    }
}

/// Installs mlx-rs's error handler: any fallible mlx-rs call does, this is the cheapest.
pub fn ensure_error_handler() {
    let _ = Device::try_default();
}

/// The GPU when MLX has one (Metal, CUDA), else the CPU; made MLX's default device.
pub fn compute_device() -> ComputeDevice {
    static CHOSEN: OnceLock<ComputeDevice> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        ensure_error_handler();
        let gpu = Device::new(DeviceType::Gpu, 0);
        if Stream::try_default_on_device(&gpu).is_ok() {
            Device::set_default(&gpu);
            ComputeDevice::Gpu
        } else {
            Device::set_default(&Device::cpu());
            ComputeDevice::Cpu
        }
    })
}

/// MLX's allocator: (active, peak, cache) bytes, process-wide.
pub fn allocator_memory() -> Option<(u64, u64, u64)> {
    use mlx_rs::memory::{active_memory, cache_memory, peak_memory};
    Some((
        active_memory().ok()? as u64,
        peak_memory().ok()? as u64,
        cache_memory().ok()? as u64,
    ))
}
