// Included (`include!`) by the build script of every crate whose binaries or tests link MLX.
// A dependency's build script cannot set the final binary's link arguments, so each such crate
// sets them here from what our mlx-sys publishes (the crate must depend on mlx-sys directly for
// cargo to pass DEP_MLX_* to it):
// - the rpath to libmlx (DEP_MLX_LIBDIR), so binaries and tests run without LD_LIBRARY_PATH;
// - OpenBLAS as a direct dependency (DEP_MLX_PREFER_BLAS): the mlx-cpu wheel bundles Netlib
//   reference BLAS, 23x slower on sgemm; a library the executable itself needs comes first in
//   symbol lookup, ahead of libmlx's own dependencies, so MLX's cblas calls bind to OpenBLAS.
//   `--no-as-needed` keeps it although nothing references it by name.
fn link_mlx_binary() {
    println!("cargo:rerun-if-env-changed=DEP_MLX_LIBDIR");
    println!("cargo:rerun-if-env-changed=DEP_MLX_PREFER_BLAS");
    if let Some(dir) = std::env::var_os("DEP_MLX_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
    if let Ok(blas) = std::env::var("DEP_MLX_PREFER_BLAS") {
        println!("cargo:rustc-link-arg=-Wl,--push-state,--no-as-needed,-l{blas},--pop-state");
    }
}
