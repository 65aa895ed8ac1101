//! Build facts for the benchmark fingerprint: the git commit, and the engine library versions
//! this build links (from Cargo.lock and the pinned MLX wheel).

use std::path::Path;

fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| lock[i + needle.len()..].split('"').next())
        .unwrap_or("unknown")
        .to_owned()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    println!(
        "cargo:rustc-env=PARALLAX_CANDLE_VERSION={}",
        locked_version(&lock, "candle-core")
    );
    println!(
        "cargo:rustc-env=PARALLAX_MLX_RS_VERSION={}",
        locked_version(&lock, "mlx-rs")
    );
    let reqs = std::fs::read_to_string(root.join("scripts/requirements-mlx.txt")).unwrap_or_default();
    let mlx = reqs
        .lines()
        .find_map(|l| l.strip_prefix("mlx=="))
        .unwrap_or("unknown")
        .to_owned();
    println!("cargo:rustc-env=PARALLAX_MLX_VERSION={mlx}");
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PARALLAX_GIT_HASH={git}");
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    println!("cargo:rerun-if-changed=../../scripts/requirements-mlx.txt");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
}
