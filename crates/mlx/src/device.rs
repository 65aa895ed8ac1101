//! Where MLX computes, chosen once per process, and MLX's allocator figures.
//!
//! An MLX error raised before mlx-rs has installed its error handler ends the process with
//! exit code 255, and using `Device::gpu()` on a machine without a GPU raises one. So the
//! handler is installed first and the GPU is probed through a fallible call.

use std::fmt;
use std::sync::OnceLock;

use mlx_rs::{Device, DeviceType, Stream};
use parallax_core::device::{requested, DeviceRequest};
use parallax_core::Result;

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

static CHOSEN: OnceLock<ComputeDevice> = OnceLock::new();

/// What MLX computes on in this process: the device the first load asked for (the process's
/// `--device`), auto meaning the GPU when MLX has one (Metal, CUDA) and else the CPU.
pub fn compute_device() -> ComputeDevice {
    select(requested().unwrap_or_default()).unwrap_or(ComputeDevice::Cpu)
}

/// MLX's device for `request`, made MLX's default. MLX keeps one default device per process, so
/// the first choice stands: a later, different request is refused, not silently ignored.
pub fn select(request: DeviceRequest) -> Result<ComputeDevice> {
    // MLX's GPU is Metal on macOS and CUDA elsewhere.
    let metal = cfg!(target_os = "macos");
    let want = match request {
        DeviceRequest::Auto => None,
        DeviceRequest::Cpu => Some(ComputeDevice::Cpu),
        DeviceRequest::Cuda(0) if !metal => Some(ComputeDevice::Gpu),
        DeviceRequest::Metal if metal => Some(ComputeDevice::Gpu),
        DeviceRequest::Cuda(_) if !metal => return Err(request.unavailable("the MLX engine uses one GPU, cuda:0")),
        _ => {
            let gpu = if metal { "metal" } else { "cuda" };
            return Err(request.unavailable(format!("MLX's GPU on this system is {gpu}")));
        }
    };
    let chosen = *CHOSEN.get_or_init(|| {
        let device = match want {
            Some(ComputeDevice::Cpu) => ComputeDevice::Cpu,
            _ if gpu_answers() => ComputeDevice::Gpu,
            _ => ComputeDevice::Cpu,
        };
        Device::set_default(&match device {
            ComputeDevice::Gpu => Device::new(DeviceType::Gpu, 0),
            ComputeDevice::Cpu => Device::cpu(),
        });
        device
    });
    match want {
        Some(w) if w != chosen && w == ComputeDevice::Gpu && !gpu_answers() => Err(request.unavailable(
            "this libmlx has no GPU backend (the mlx-cpu wheel); a GPU build loads the mlx-cuda or mlx-metal library",
        )),
        Some(w) if w != chosen => Err(request.unavailable(format!(
            "MLX computes on one device per process, and this one already chose {chosen}"
        ))),
        _ => Ok(chosen),
    }
}

/// The label of `ModelInfo::device` for MLX's device.
pub fn label(device: ComputeDevice) -> String {
    match device {
        ComputeDevice::Cpu => "cpu".into(),
        ComputeDevice::Gpu if cfg!(target_os = "macos") => "metal".into(),
        ComputeDevice::Gpu => "cuda:0".into(),
    }
}

fn gpu_answers() -> bool {
    ensure_error_handler();
    Stream::try_default_on_device(&Device::new(DeviceType::Gpu, 0)).is_ok()
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
