//! tauri-build: tauri.conf.json sits at the repository root; capabilities live in src-tauri/.
//! Each app command gets an `allow-<command>` permission, which the capability must grant.
//! The binary links MLX, so it gets the same rpath/OpenBLAS link arguments as the CLI.
include!("command_names.rs");
include!("../crates/mlx-sys/link_args.rs");

/// Where the .deb puts the MLX wheel's libmlx (tauri.conf.json `bundle.linux.deb.files`): the
/// installed app finds it there; a build from the tree finds the venv's first.
const PACKAGED_MLX_DIR: &str = "/usr/lib/parallax/mlx/lib";

fn main() {
    link_mlx_binary();
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{PACKAGED_MLX_DIR}");
    }
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    let attrs = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(manifest);
    if let Err(e) = tauri_build::try_build(attrs) {
        panic!("tauri-build failed: {e:#}");
    }
}
