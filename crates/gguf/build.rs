//! With the `cuda` feature, our CUDA kernels (src/cuda/*.cu) are compiled to PTX by nvcc, for the
//! compute capability in `CUDA_COMPUTE_CAP` (90 when unset), as candle's own kernels are. Without
//! it, nothing is done.

use std::path::PathBuf;
use std::process::Command;

const KERNELS: &[&str] = &["attention", "store", "gated"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CUDA_COMPUTE_CAP");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    let nvcc = match std::env::var_os("CUDA_HOME") {
        Some(home) => PathBuf::from(home).join("bin").join("nvcc"),
        None => PathBuf::from("nvcc"),
    };
    for name in KERNELS {
        let src = format!("src/cuda/{name}.cu");
        println!("cargo::rerun-if-changed={src}");
        let status = Command::new(&nvcc)
            .args(["--ptx", &format!("-arch=sm_{cap}"), "-O3", "-std=c++17", &src, "-o"])
            .arg(out.join(format!("{name}.ptx")))
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (see scripts/gpu/, `make build-cuda`)",
                    nvcc.display()
                )
            });
        assert!(status.success(), "nvcc failed on {src}");
    }
}
