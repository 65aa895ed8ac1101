#!/usr/bin/env bash
# Runs ON the lent GPU machine, from the repository root the device tool copied there
# (scripts/gpu/README.md has the whole sequence of calls). One step per call:
#   measure.sh stash            copy this call's carried part (.gpu/N) to /root/stash
#   measure.sh unpack           reassemble and check the payload into /root/px
#   measure.sh llama            build llama.cpp-CUDA's llama-bench in the background
#   measure.sh check            greedy tokens, CPU against CUDA, both engines (SmolLM2)
#   measure.sh bench SHAPE REPS pp512 / tg128 / tg128@4096 on a synthetic Q4_0 model, for
#                               llama.cpp-CUDA, the GGUF engine and the MLX engine on CUDA
#   measure.sh report           bench-results/gpu.md into $OUT, from everything measured so far
set -euo pipefail
PX=/root/px
RES=$PX/results
STASH=/root/stash
REPO=$(pwd)
mkdir -p "$RES" "$STASH"

gpu_env() {
  # CUDA's libraries from the machine's PyTorch install (CUDA 13, as the binary was built for),
  # MLX's CUDA library from the payload, the driver's libcuda from the system.
  local site
  site=$(python3 -c 'import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))')
  local libs
  libs=$(ls -d "$site"/nvidia/*/lib 2>/dev/null | tr '\n' ':')
  export LD_LIBRARY_PATH="$PX/mlx/lib:$PX/mlx_cuda_13.libs:${libs}${LD_LIBRARY_PATH:-}"
  export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
  export PATH="$CUDA_HOME/bin:$PATH"
  BIN=$PX/parallax
}

case "${1:-}" in
stash)
  cp -v .gpu/*/payload.part.* "$STASH"/
  ;;
unpack)
  want=$(cat .gpu/payload.sha256)
  got=$(cat "$STASH"/payload.part.* | sha256sum | cut -d' ' -f1)
  [ "$want" = "$got" ] || { echo "unpack: payload checksum $got, expected $want (a part is missing?)"; ls -la "$STASH"; exit 1; }
  cat "$STASH"/payload.part.* | zstd -d -q | tar -x -C $PX
  tar -C $PX -xf $PX/llama.cpp.tar && rm $PX/llama.cpp.tar
  mkdir -p "$REPO/models" && ln -sf $PX/models/*.gguf "$REPO/models/"
  gpu_env
  nvidia-smi
  ldd $BIN | grep -E "not found|mlx|cuda|cublas" || true
  $BIN --help | head -2
  ;;
llama)
  gpu_env
  cd $PX/llama.cpp-11434
  setsid nohup bash -c "cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90-real -DGGML_CUDA_NCCL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_UI=OFF > $RES/llama-build.log 2>&1 && nice -n 10 ninja -C build-cuda llama-bench >> $RES/llama-build.log 2>&1; \
    echo \$? > $RES/llama-build.rc" > /dev/null 2>&1 &
  echo "llama: building in the background (log $RES/llama-build.log)"
  ;;
check)
  gpu_env
  fixture=tests/fixtures/greedy/smollm2-135m-instruct-q4_1.json
  for engine in gguf mlx; do
    for device in cpu cuda; do
      $BIN parity --device $device --engine $engine --model $PX/models/SmolLM2-135M-Instruct.Q4_1.gguf \
        --fixture $fixture --tokens 16 > $RES/parity-$engine-$device.jsonl
    done
  done
  python3 scripts/gpu/report.py parity $RES $fixture
  ;;
bench)
  gpu_env
  shape=$2; reps=${3:-3}
  for engine in gguf mlx; do
    $BIN speed --device cuda --engine $engine --synthetic $shape --synthetic-dir $PX/models \
      --tests pp512,tg128,tg128@4096 --reps "$reps" --json > $RES/speed-$shape-$engine.jsonl
    tail -1 $RES/speed-$shape-$engine.jsonl
  done
  if [ "$(cat $RES/llama-build.rc 2>/dev/null)" = 0 ]; then
    lb=$PX/llama.cpp-11434/build-cuda/bin/llama-bench
    $lb -m $PX/models/synthetic-$shape.gguf -ngl 99 -fa 1 -p 512 -n 128 -r "$reps" -o json > $RES/llama-$shape.json
    $lb -m $PX/models/synthetic-$shape.gguf -ngl 99 -fa 1 -p 0 -n 128 -d 4096 -r "$reps" -o json > $RES/llama-$shape-d4096.json
  else
    echo "bench: llama.cpp-CUDA not built (yet): $(tail -3 $RES/llama-build.log 2>/dev/null)"
  fi
  python3 scripts/gpu/report.py table $RES
  ;;
bandwidth)
  python3 - > $RES/bandwidth.json <<'PY'
import json, torch
n = 2 << 30  # 2 GiB, far past the L2
a = torch.empty(n, dtype=torch.uint8, device="cuda"); b = torch.empty_like(a)
for _ in range(3): b.copy_(a)
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
times = []
for _ in range(10):
    s.record(); b.copy_(a); e.record(); torch.cuda.synchronize(); times.append(s.elapsed_time(e))
times.sort()
ms = times[len(times) // 2]
print(json.dumps({"bytes_moved": 2 * n, "ms": ms, "gb_per_s": 2 * n / ms / 1e6, "gpu": torch.cuda.get_device_name()}))
PY
  cat $RES/bandwidth.json
  ;;
report)
  python3 scripts/gpu/report.py report $RES
  mkdir -p "$OUT" && cp $RES/gpu.md "$OUT"/ && tar -C $RES -czf "$OUT"/results.tgz .
  ;;
*)
  sed -n 2,12p "$0"; exit 2
  ;;
esac
