//! tauri-build: tauri.conf.json sits at the repository root; capabilities live in src-tauri/.
//! Each app command gets an `allow-<command>` permission, which the capability must grant.
//! The binary links MLX, so it gets the same rpath/OpenBLAS link arguments as the CLI.
include!("command_names.rs");
include!("../crates/mlx-sys/link_args.rs");

fn main() {
    link_mlx_binary();
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    let attrs = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(manifest);
    if let Err(e) = tauri_build::try_build(attrs) {
        panic!("tauri-build failed: {e:#}");
    }
}
