//! The GPU as its driver sees it (NVML, read through `nvidia-smi`, which every NVIDIA driver
//! install ships): memory used and total, name, driver and CUDA version. This is the device's
//! view, every process included; an engine's own allocator view is in `EngineStats`. No
//! NVIDIA driver, no GPUs: an empty list, never an error.

use std::process::Command;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub index: u32,
    pub name: String,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub driver_version: String,
    /// The highest CUDA version the driver runs, e.g. "13.0".
    pub cuda_version: String,
}

const MIB: u64 = 1 << 20;

/// Every NVIDIA GPU the driver lists, now, with the CUDA version (a second nvidia-smi call).
pub fn query() -> Vec<GpuInfo> {
    let mut gpus = table();
    if !gpus.is_empty() {
        let cuda = run(&[]).and_then(|banner| cuda_version(&banner)).unwrap_or_default();
        gpus.iter_mut().for_each(|g| g.cuda_version = cuda.clone());
    }
    gpus
}

/// Memory in use and in all, summed over the GPUs (one nvidia-smi call); `None` without one.
pub fn memory() -> Option<(u64, u64)> {
    let gpus = table();
    (!gpus.is_empty()).then(|| {
        gpus.iter()
            .fold((0, 0), |(u, t), g| (u + g.memory_used_bytes, t + g.memory_total_bytes))
    })
}

/// The GPUs as nvidia-smi's table lists them (no CUDA version).
fn table() -> Vec<GpuInfo> {
    run(&[
        "--query-gpu=index,name,memory.used,memory.total,driver_version",
        "--format=csv,noheader,nounits",
    ])
    .map_or_else(Vec::new, |t| parse(&t, ""))
}

/// One line per GPU for a result's fingerprint, e.g. "NVIDIA H200 (143771 MiB, driver
/// 580.159.04, CUDA 13.0)"; `None` without one.
pub fn describe() -> Option<String> {
    let gpus = query();
    let lines: Vec<String> = gpus
        .iter()
        .map(|g| {
            format!(
                "{} ({} MiB, driver {}, CUDA {})",
                g.name,
                g.memory_total_bytes / MIB,
                g.driver_version,
                g.cuda_version
            )
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

fn run(args: &[&str]) -> Option<String> {
    let out = Command::new("nvidia-smi").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn parse(table: &str, cuda: &str) -> Vec<GpuInfo> {
    table
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let [index, name, used, total, driver] = f.as_slice() else {
                return None;
            };
            Some(GpuInfo {
                index: index.parse().ok()?,
                name: (*name).to_owned(),
                memory_used_bytes: used.parse::<u64>().ok()? * MIB,
                memory_total_bytes: total.parse::<u64>().ok()? * MIB,
                driver_version: (*driver).to_owned(),
                cuda_version: cuda.to_owned(),
            })
        })
        .collect()
}

/// "CUDA Version: 13.0" from the banner of a plain `nvidia-smi`.
fn cuda_version(banner: &str) -> Option<String> {
    let at = banner.find("CUDA Version:")? + "CUDA Version:".len();
    banner[at..].split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nvidia_smis_csv_and_banner() {
        let banner = "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0     |";
        let cuda = cuda_version(banner).unwrap();
        let gpus = parse("0, NVIDIA H200, 1234, 143771, 580.159.04\nnot a row\n", &cuda);
        assert_eq!(gpus.len(), 1);
        let g = &gpus[0];
        assert_eq!(
            (g.index, g.name.as_str(), g.cuda_version.as_str()),
            (0, "NVIDIA H200", "13.0")
        );
        assert_eq!((g.memory_used_bytes, g.memory_total_bytes), (1234 * MIB, 143771 * MIB));
    }

    #[test]
    fn no_driver_means_no_gpus() {
        // This machine may or may not have one; either way the call returns, never panics.
        let gpus = query();
        assert_eq!(describe().is_some(), !gpus.is_empty());
        assert_eq!(memory().is_some(), !gpus.is_empty());
    }
}
