#!/usr/bin/env bash
# Packs what the GPU measurement needs into .gpu/1 … .gpu/N, each under the device tool's 64 MiB
# a call (the working tree travels too). Run here, after `make build-cuda`; then one device call
# per part copies it aside (scripts/gpu/README.md), and the last runs scripts/gpu/measure.sh.
#   - target/cuda/parallax (the CUDA build);
#   - MLX's CUDA library: the mlx-cuda-13 0.32.2 wheel's libmlx.so, the libraries beside it and
#     the headers its run-time kernel compiler includes (same soname and headers as the mlx-cpu
#     wheel the binary was linked against, so it loads through LD_LIBRARY_PATH);
#   - SmolLM2-135M Q4_1 (the correctness check, and the synthetic models' tokenizer);
#   - llama.cpp's source from the pinned sdist, trimmed to what a CUDA llama-bench build needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
PART_MB=${PART_MB:-54}
STAGE=target/cuda/stage
rm -rf "$STAGE" .gpu && mkdir -p "$STAGE/payload/models" .gpu
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

cp models/SmolLM2-135M-Instruct.Q4_1.gguf "$STAGE/payload/models/"

SRC=target/anchors/llama.cpp-11434
test -f $SRC/CMakeLists.txt || .venv/bin/python scripts/bench/llama_bench_build.py --unpack-only
tar -C target/anchors -cf "$STAGE/payload/llama.cpp.tar" \
  --exclude=build --exclude=docs --exclude=models --exclude=media --exclude=examples --exclude=benches \
  --exclude=tests --exclude=gguf-py --exclude=conversion --exclude=.github --exclude=tools/ui \
  --exclude=ggml-sycl --exclude=ggml-vulkan --exclude=ggml-opencl --exclude=ggml-cann \
  --exclude=ggml-metal --exclude=ggml-webgpu --exclude=ggml-musa --exclude=ggml-zdnn \
  llama.cpp-11434

tar -C "$STAGE/payload" -cf - . | zstd -q -T2 -12 --long=27 -o "$STAGE/payload.tar.zst"
(cd .gpu && split -b ${PART_MB}m -d -a 1 "../$STAGE/payload.tar.zst" payload.part.)
for part in .gpu/payload.part.*; do n=$(( ${part##*.} + 1 )); mkdir -p .gpu/$n; mv "$part" .gpu/$n/; done
sha256sum "$STAGE/payload.tar.zst" | cut -d' ' -f1 > .gpu/payload.sha256
ls -la .gpu/*/ && echo "stage: $(ls -d .gpu/*/ | wc -l) parts, $(du -sh $STAGE/payload.tar.zst | cut -f1) in all"
