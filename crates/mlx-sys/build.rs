//! Builds upstream mlx-c 0.7.0 against the official MLX wheel and generates the bindings.
//!
//! Why not upstream's build script: it always links Apple frameworks (rustc refuses `framework`
//! link kinds off Apple targets) and its mlx-c CMake downloads MLX from GitHub. Here:
//! 1. MLX comes from the wheel the set-up installed into the project venv (`mlx-cpu` on Linux,
//!    `mlx-metal` on macOS), or `PARALLAX_MLX_PREFIX`. The `cuda` feature links the same mlx-cpu
//!    wheel (its headers and soname are the mlx-cuda-13 wheel's), without OpenBLAS; the CUDA
//!    library is loaded in its place at run time.
//! 2. The mlx-c sources come from upstream mlx-sys 0.7.0 as `cargo fetch` unpacked it
//!    (scripts/mlx-c-fetch), or `MLX_C_SRC`; they are compiled with the `cc` crate, which needs
//!    no CUDA toolkit at configure time (the CUDA wheel's CMake config does).
//! 3. Bindings use upstream's bindgen options, so mlx-rs compiles unchanged.
//! 4. `libmlx` is linked dynamically; its directory is published as `DEP_MLX_LIBDIR` so every
//!    binary's own build script can set the rpath (a dependency cannot).
//! 5. Reruns only when an input named below changes: bindgen's header tracking is off, because
//!    it makes the script rerun on every build.
use std::env;
use std::path::{Path, PathBuf};

const MLX_C_VERSION: &str = "0.7.0";

fn main() {
    for var in ["PARALLAX_MLX_PREFIX", "MLX_C_SRC", "CARGO_HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for file in [
        "build.rs",
        "compat/prelude.h",
        "compat/format_fallback.hpp",
        "compat/mach_time.c",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let apple = target_os == "macos" || target_os == "ios";
    if cfg!(feature = "metal") && !apple {
        fail("the `metal` feature needs an Apple target; on Linux use the default (mlx-cpu) or `cuda`");
    }
    let prefix = mlx_prefix(&manifest);
    let mlx_c = mlx_c_sources();
    let compat = manifest.join("compat");

    compile_mlx_c(&mlx_c, &prefix, &compat, apple);
    link_mlx(&prefix, apple);
    generate_bindings(&mlx_c, &compat);
}

fn fail(msg: &str) -> ! {
    panic!("mlx-sys (Parallax drop-in): {msg}");
}

/// The wheel's `mlx/` directory: it holds `include/` and `lib/libmlx.{so,dylib}`.
fn mlx_prefix(manifest: &Path) -> PathBuf {
    let prefix = match env::var_os("PARALLAX_MLX_PREFIX") {
        Some(p) => PathBuf::from(p),
        None => {
            let venv_lib = manifest.join("../../.venv/lib");
            let found = std::fs::read_dir(&venv_lib).ok().and_then(|dirs| {
                dirs.flatten()
                    .map(|d| d.path().join("site-packages/mlx"))
                    .find(|p| p.join("include/mlx/mlx.h").is_file())
            });
            found.unwrap_or_else(|| {
                fail(&format!(
                    "no MLX wheel found under {}; run `make deps` (it installs mlx-cpu==0.32.2 into .venv) \
                     or set PARALLAX_MLX_PREFIX to a wheel's mlx/ directory",
                    venv_lib.display()
                ))
            })
        }
    };
    if !prefix.join("include/mlx/mlx.h").is_file() {
        fail(&format!("{} has no include/mlx/mlx.h", prefix.display()));
    }
    println!(
        "cargo:rerun-if-changed={}",
        prefix.join("include/mlx/version.h").display()
    );
    prefix.canonicalize().unwrap_or(prefix)
}

/// `src/mlx-c` of upstream mlx-sys as `cargo fetch` unpacked it in the registry.
fn mlx_c_sources() -> PathBuf {
    if let Some(p) = env::var_os("MLX_C_SRC") {
        return PathBuf::from(p);
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| fail("neither CARGO_HOME nor HOME is set"));
    let registry = cargo_home.join("registry/src");
    let crate_dir = format!("mlx-sys-{MLX_C_VERSION}");
    let found = std::fs::read_dir(&registry).ok().and_then(|indexes| {
        indexes
            .flatten()
            .map(|i| i.path().join(&crate_dir).join("src/mlx-c"))
            .find(|p| p.join("mlx/c/mlx.h").is_file())
    });
    found.unwrap_or_else(|| {
        fail(&format!(
            "the mlx-c {MLX_C_VERSION} sources are not under {}; run \
             `cargo fetch --manifest-path scripts/mlx-c-fetch/Cargo.toml` (part of `make deps`) or set MLX_C_SRC",
            registry.display()
        ))
    })
}

fn mlx_c_files(mlx_c: &Path) -> Vec<PathBuf> {
    let dir = mlx_c.join("mlx/c");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", dir.display())))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    files.sort();
    files
}

fn compile_mlx_c(mlx_c: &Path, prefix: &Path, compat: &Path, apple: bool) {
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++20")
        .files(mlx_c_files(mlx_c))
        .include(mlx_c)
        .include(prefix.join("include"))
        .include(compat)
        .flag("-include")
        .flag(compat.join("prelude.h").to_string_lossy().as_ref())
        .flag_if_supported("-w")
        .debug(false)
        .pic(true);
    if apple {
        build.flag("-stdlib=libc++");
    }
    build.compile("mlxc");
    if !apple {
        cc::Build::new()
            .file(compat.join("mach_time.c"))
            .pic(true)
            .compile("parallax_mach_time");
    }
}

fn link_mlx(prefix: &Path, apple: bool) {
    let libdir = prefix.join("lib");
    println!("cargo:rustc-link-search=native={}", libdir.display());
    println!("cargo:rustc-link-lib=dylib=mlx");
    // Dependents read this as DEP_MLX_LIBDIR to set their rpath (see crates/mlx-sys/link_args.rs).
    println!("cargo:libdir={}", libdir.display());
    println!("cargo:include={}", prefix.join("include").display());
    if apple {
        println!("cargo:rustc-link-lib=c++");
        println!("cargo:rustc-link-lib=framework=Foundation");
        if cfg!(feature = "metal") {
            println!("cargo:rustc-link-lib=framework=Metal");
        }
        println!("cargo:rustc-link-lib=framework=Accelerate");
    } else if !cfg!(feature = "cuda") {
        // The mlx-cpu wheel bundles Netlib reference BLAS; binaries link OpenBLAS directly
        // instead (DEP_MLX_PREFER_BLAS, see link_args.rs).
        println!("cargo:prefer_blas=openblas");
    }
}

fn generate_bindings(mlx_c: &Path, compat: &Path) {
    let mut headers: Vec<PathBuf> = std::fs::read_dir(mlx_c.join("mlx/c"))
        .unwrap_or_else(|e| fail(&format!("cannot read mlx-c headers: {e}")))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    headers.sort();
    let builder = bindgen::Builder::default()
        .rust_target("1.73.0".parse().expect("a valid rust target"))
        .clang_arg(format!("-I{}", mlx_c.display()))
        .clang_arg("-DPARALLAX_MLX_BINDGEN")
        .clang_arg("-include")
        .clang_arg(compat.join("prelude.h").to_string_lossy())
        .blocklist_function("malloc")
        .blocklist_function("realloc")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new().rerun_on_header_files(false)));
    let bindings = headers
        .iter()
        .fold(builder, |b, h| b.header(h.to_string_lossy()))
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen failed: {e}")));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings: {e}")));
}
