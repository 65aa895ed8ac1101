//! tauri-build: tauri.conf.json sits at the repository root; capabilities live in src-tauri/.
fn main() {
    let attrs = tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*");
    if let Err(e) = tauri_build::try_build(attrs) {
        panic!("tauri-build failed: {e:#}");
    }
}
