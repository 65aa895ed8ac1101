//! What a result was measured on: machine, build and engine library versions.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub os: String,
    pub kernel: String,
    pub cpu: String,
    pub cores: usize,
    pub total_ram_bytes: u64,
    pub gpu: String,
    pub parallax_version: String,
    pub git_hash: String,
    pub candle_version: String,
    pub mlx_rs_version: String,
    pub mlx_version: String,
}

impl Fingerprint {
    /// This machine and this build. `gpu` is what the engines found (e.g. "none (CPU)"), followed
    /// by every NVIDIA GPU the driver lists (name, memory, driver and CUDA version).
    pub fn current(gpu: &str) -> Self {
        let (cpu, cores, ram) = match sysinfo::System::new() {
            Ok(mut sys) => {
                sys.refresh_cpu_all();
                sys.refresh_memory();
                let cpu = sys
                    .cpus()
                    .first()
                    .map(|c| c.brand().trim().to_owned())
                    .unwrap_or_default();
                (cpu, sys.cpus().len(), sys.total_memory())
            }
            Err(_) => (String::new(), 0, 0),
        };
        Fingerprint {
            os: sysinfo::System::long_os_version().unwrap_or_else(|_| std::env::consts::OS.into()),
            kernel: sysinfo::System::kernel_version().unwrap_or_default(),
            cpu,
            cores,
            total_ram_bytes: ram,
            gpu: match parallax_monitor::gpu::describe() {
                Some(devices) => format!("{gpu}; {devices}"),
                None => gpu.to_owned(),
            },
            parallax_version: env!("CARGO_PKG_VERSION").into(),
            git_hash: env!("PARALLAX_GIT_HASH").into(),
            candle_version: env!("PARALLAX_CANDLE_VERSION").into(),
            mlx_rs_version: env!("PARALLAX_MLX_RS_VERSION").into(),
            mlx_version: env!("PARALLAX_MLX_VERSION").into(),
        }
    }
}
