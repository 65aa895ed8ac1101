#!/usr/bin/env python3
"""The CUDA tool chain `make build-cuda` needs, on a machine with no GPU and no CUDA install.

1. nvcc, its back ends and the CUDA headers from NVIDIA's PyPI wheels, pinned to CUDA 13.0 (the
   lent H200's driver, 580, runs 13.0), installed into `<root>/site` (`CUDA_HOME` is
   `<root>/site/nvidia/cu13`).
2. Link stubs: cudarc links the driver and CUDA's libraries dynamically, and none of them exist
   here. For each library it links, a stub with the real soname and one empty function per symbol
   that cudarc's bindings declare is compiled into `$CUDA_HOME/lib/stubs`, where cudarc's build
   script searches. The binary records only the sonames; at run time the real libraries load
   (the driver's libcuda, CUDA's libraries from the GPU machine's install). Nothing binary is
   committed: the stubs are generated here from the sources cargo fetched.

Usage: cuda_toolchain.py ROOT   (idempotent; prints the CUDA_HOME it set up)
"""
import re
import subprocess
import sys
from pathlib import Path

WHEELS = [
    "nvidia-cuda-nvcc==13.0.88",
    "nvidia-nvvm==13.0.88",
    "nvidia-cuda-crt==13.0.88",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-cccl==13.0.85",
]
CUDARC = "cudarc-0.19.10"
# (cudarc module, library, soname)
STUBS = [
    ("driver", "cuda", "libcuda.so.1"),
    ("cublas", "cublas", "libcublas.so.13"),
    ("cublaslt", "cublasLt", "libcublasLt.so.13"),
    ("curand", "curand", "libcurand.so.10"),
    ("nvrtc", "nvrtc", "libnvrtc.so.13"),
]


def install_wheels(site: Path) -> Path:
    home = site / "nvidia" / "cu13"
    stamp = site / (".installed-" + "-".join(w.split("==")[1] for w in WHEELS))
    if not stamp.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--upgrade", "--target", str(site), *WHEELS],
            check=True,
        )
        stamp.touch()
    if not (home / "bin" / "nvcc").is_file():
        sys.exit(f"cuda_toolchain: no nvcc in {home}/bin after installing the wheels")
    # candle-kernels links `cudart` by its unversioned name.
    link = home / "lib" / "libcudart.so"
    if not link.exists():
        link.symlink_to("libcudart.so.13")
    return home


def cudarc_sources() -> Path:
    """cudarc's sources as `cargo fetch` unpacked them."""
    subprocess.run(["cargo", "fetch", "--quiet"], check=True)
    home = Path(subprocess.run(
        ["sh", "-c", 'echo "${CARGO_HOME:-$HOME/.cargo}"'], capture_output=True, text=True, check=True
    ).stdout.strip())
    found = sorted((home / "registry" / "src").glob(f"*/{CUDARC}/src"))
    if not found:
        sys.exit(f"cuda_toolchain: {CUDARC} is not in {home}/registry/src (cargo fetch failed?)")
    return found[0]


def write_stub(src: Path, module: str, lib: str, soname: str, out: Path) -> int:
    bindings = (src / module / "sys" / "mod.rs").read_text()
    names = sorted(set(re.findall(r"pub unsafe fn (\w+)\(", bindings)))
    if not names:
        sys.exit(f"cuda_toolchain: no functions found in cudarc's {module} bindings")
    c = out / f"{lib}_stub.c"
    c.write_text("".join(f"void {n}(void) {{}}\n" for n in names))
    target = out / soname
    subprocess.run(["cc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(target), str(c)], check=True)
    c.unlink()
    plain = out / f"lib{lib}.so"
    if plain.is_symlink() or plain.exists():
        plain.unlink()
    plain.symlink_to(soname)
    return len(names)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    root = Path(sys.argv[1]).resolve()
    home = install_wheels(root / "site")
    stubs = home / "lib" / "stubs"
    stubs.mkdir(parents=True, exist_ok=True)
    src = cudarc_sources()
    for module, lib, soname in STUBS:
        n = write_stub(src, module, lib, soname, stubs)
        print(f"cuda_toolchain: stub {soname} ({n} symbols)", file=sys.stderr)
    print(home)


if __name__ == "__main__":
    main()
