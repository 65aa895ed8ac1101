//! Where the GGUF engine computes: the CPU (our kernels), or an NVIDIA GPU through candle's CUDA
//! backend in a build with the `cuda` feature. Metal is MLX's on a Mac; this engine refuses it.

use candle_core::Device;
use parallax_core::device::DeviceRequest;
use parallax_core::Result;

/// The device for `request`, and its label for `ModelInfo::device`. Auto takes CUDA device 0
/// when this build has CUDA and a GPU answers, else the CPU; an explicit request that cannot be
/// met is an error.
pub fn open(request: DeviceRequest) -> Result<(Device, String)> {
    match request {
        DeviceRequest::Cpu => Ok((Device::Cpu, "cpu".into())),
        DeviceRequest::Auto => Ok(cuda(0).unwrap_or_else(|_| (Device::Cpu, "cpu".into()))),
        DeviceRequest::Cuda(n) => cuda(n).map_err(|why| request.unavailable(why)),
        DeviceRequest::Metal => {
            Err(request.unavailable("the GGUF engine runs on the CPU or CUDA; on a Mac, the MLX engine runs on Metal"))
        }
    }
}

/// What this build can compute on, for the app's engine list.
pub fn describe() -> &'static str {
    if cfg!(feature = "cuda") {
        "candle on CUDA or the CPU"
    } else {
        "candle on the CPU"
    }
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> std::result::Result<(Device, String), String> {
    let device = Device::new_cuda(ordinal).map_err(|e| format!("no CUDA device {ordinal}: {e}"))?;
    if let Device::Cuda(cuda) = &device {
        if crate::cuda::ours_on(&device) {
            // candle runs every op of a device on its one stream, but cudarc still records and
            // waits on CUDA events around every kernel argument of every launch (its
            // multi-stream safety net): host time on each of the hundreds of launches a token.
            // Nothing of ours uses another stream. (Not yet measured on a GPU;
            // `PARALLAX_KERNELS=candle` keeps candle's default.)
            // SAFETY: one stream per device: no tensor is used by, or freed under, another stream.
            unsafe { cuda.disable_event_tracking() };
        }
    }
    Ok((device, format!("cuda:{ordinal}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize) -> std::result::Result<(Device, String), String> {
    Err("this build of Parallax has no CUDA support (build it with `make build-cuda`)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_always_there_and_metal_is_refused() {
        assert!(open(DeviceRequest::Cpu).unwrap().0.is_cpu());
        assert_eq!(open(DeviceRequest::Metal).unwrap_err().code(), "device_unavailable");
        let (auto, label) = open(DeviceRequest::Auto).unwrap();
        assert_eq!(auto.is_cpu(), label == "cpu");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_cpu_build_names_the_build_to_use() {
        let e = open(DeviceRequest::Cuda(0)).unwrap_err();
        assert_eq!(e.code(), "device_unavailable");
        assert!(e.to_string().contains("make build-cuda"), "{e}");
    }
}
