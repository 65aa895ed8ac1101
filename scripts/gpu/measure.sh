#!/usr/bin/env bash
# Runs ON the lent GPU machine, from the repository root the device tool copied there
# (scripts/gpu/README.md has the whole sequence of calls). One step per call:
#   measure.sh stash            copy this call's carried parts (.gpu/NAMEn) to /root/stash
#   measure.sh unpack NAME      reassemble and check payload NAME (speed, check) into /root/px
#   measure.sh llama            build llama.cpp-CUDA's llama-bench in the background
#   measure.sh smoke            both engines once on CUDA (PTX/NVRTC compile), the models written
#   measure.sh check [MODEL N]  greedy tokens, CPU against CUDA, both engines: SmolLM2 (after
#                               `unpack check`), or MODEL (e.g. the synthetic llama-1b) on N prompts
#   measure.sh check-candle     the GGUF engine's SmolLM2 check again with PARALLAX_KERNELS=candle
#   measure.sh ab-check [SHAPE N] greedy tokens on CUDA, our kernels against candle's ops alone
#   measure.sh bench SHAPE REPS pp512 / tg128 / tg128@4096 on a synthetic Q4_0 model, for
#                               llama.cpp-CUDA, the GGUF engine and the MLX engine on CUDA
#   measure.sh profile [SHAPE]  ncu: the GGUF engine's kernels in steady decode (default llama-8b)
#   measure.sh report           bench-results/gpu.md into $OUT, from everything measured so far
#   measure.sh wait-llama       until the background llama.cpp build has finished (5 min at most)
#   measure.sh prepare [PAYLOAD] after `stash` of the payload's parts (speed, or gguf: no MLX):
#                               unpack, llama.cpp build started, bandwidth, smoke, check on the
#                               synthetic 1B; everything not timed, while llama.cpp compiles
#   measure.sh finish           the SmolLM2 check (if `check` was stashed), then, once llama.cpp is
#                               built, the timed benches on a quiet machine, the profile, the report
#   measure.sh all [PAYLOAD]    prepare, then finish, in one call
# ENGINES (default "gguf mlx") limits check and bench, e.g. to gguf with the gguf payload.
# CANDLE_SHAPES (default llama-8b): shapes the bench also runs as gguf-candle (PARALLAX_KERNELS=candle).
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
  cp -v .gpu/*/*.part.* "$STASH"/
  ;;
unpack)
  name=$2
  want=$(cat .gpu/$name.sha256)
  got=$(cat "$STASH"/$name.part.* | sha256sum | cut -d' ' -f1)
  [ "$want" = "$got" ] || { echo "unpack: $name checksum $got, expected $want (a part is missing?)"; ls -la "$STASH"; exit 1; }
  cat "$STASH"/$name.part.* | gzip -d | tar -x -C $PX
  if [ -f $PX/llama.cpp.tar ]; then tar -C $PX -xf $PX/llama.cpp.tar && rm $PX/llama.cpp.tar; fi
  # The synthetic models take their tokenizer from the catalog's SmolLM2 entry; here that name
  # points at llama.cpp's Llama 3 vocabulary, so they are Llama-3-shaped to the vocabulary.
  mkdir -p $PX/vocab && ln -sf $PX/models/ggml-vocab-llama-bpe.gguf $PX/vocab/SmolLM2-135M-Instruct.Q4_1.gguf
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
smoke)
  gpu_env
  for engine in ${SMOKE_ENGINES:-gguf mlx}; do
    PARALLAX_MODELS_DIR=$PX/vocab timeout 240 $BIN speed --device cuda --engine $engine --synthetic ${SMOKE_SHAPE:-llama-1b} \
      --synthetic-dir $PX/models --tests pp512,tg128 --reps 1 2>&1 | tail -4 || echo "smoke: $engine FAILED"
  done
  PARALLAX_MODELS_DIR=$PX/vocab timeout 240 $BIN speed --device cuda --engine gguf --synthetic llama-8b \
    --synthetic-dir $PX/models --tests tg16 --reps 1 2>&1 | tail -3 || echo "smoke: 8B FAILED"
  ;;
check)
  gpu_env
  fixture=tests/fixtures/greedy/smollm2-135m-instruct-q4_1.json
  model=${2:-$PX/models/SmolLM2-135M-Instruct.Q4_1.gguf}
  tag=$(basename "$model" .gguf)
  for engine in ${ENGINES:-gguf mlx}; do
    for device in cpu cuda; do
      timeout 300 $BIN parity --device $device --engine $engine --model $model --cases "${3:-20}" \
        --fixture $fixture --tokens 16 > $RES/parity-$tag-$engine-$device.jsonl \
        2> $RES/parity-$tag-$engine-$device.err || echo "check: $engine on $device FAILED: $(tail -2 $RES/parity-$tag-$engine-$device.err)"
    done
  done
  python3 scripts/gpu/report.py parity $RES $fixture $tag
  ;;
check-candle)
  # The GGUF engine's SmolLM2 check with candle's ops alone (PARALLAX_KERNELS=candle), against the
  # CPU tokens `check` wrote: whether our CUDA kernels move the CUDA/CPU agreement.
  gpu_env
  fixture=tests/fixtures/greedy/smollm2-135m-instruct-q4_1.json
  tag=SmolLM2-135M-Instruct.Q4_1
  mkdir -p $RES/candle && cp $RES/parity-$tag-gguf-cpu.jsonl $RES/candle/
  PARALLAX_KERNELS=candle timeout 300 $BIN parity --device cuda --engine gguf --model $PX/models/$tag.gguf --cases 20 \
    --fixture $fixture --tokens 16 > $RES/candle/parity-$tag-gguf-cuda.jsonl 2> $RES/candle/parity.err || echo "check-candle: FAILED"
  ENGINES=gguf python3 scripts/gpu/report.py parity $RES/candle $fixture $tag
  ;;
ab-check)
  # Greedy tokens on CUDA with our kernels against candle's ops alone (PARALLAX_KERNELS=candle),
  # on the synthetic SHAPE (written by an earlier bench), N prompts: the kernels change the
  # arithmetic's order only, so the tokens should agree but for near-ties.
  gpu_env
  model=$PX/models/synthetic-${2:-llama-8b}.gguf
  fixture=tests/fixtures/greedy/smollm2-135m-instruct-q4_1.json
  for k in ours candle; do
    PARALLAX_KERNELS=${k#ours} PARALLAX_MODELS_DIR=$PX/vocab timeout 200 $BIN parity --device cuda --engine gguf --model $model \
      --cases "${3:-5}" --fixture $fixture --tokens 16 > $RES/ab-$k.jsonl 2> $RES/ab-$k.err || echo "ab-check: $k FAILED: $(tail -2 $RES/ab-$k.err)"
  done
  python3 scripts/gpu/report.py ab $RES
  ;;
bench)
  gpu_env
  shape=$2; reps=${3:-3}
  # gguf-candle: the GGUF engine with candle's ops alone (PARALLAX_KERNELS=candle: no kernels of
  # ours, no stacked projections), the before of our CUDA kernels, on the same machine.
  engines=${ENGINES:-gguf mlx}
  case " ${CANDLE_SHAPES-llama-8b} " in *" $shape "*) engines="$engines gguf-candle";; esac
  [ "${4:-}" = anchor-only ] || for engine in $engines; do
    kernels=; [ $engine = gguf-candle ] && kernels=candle
    PARALLAX_KERNELS=$kernels PARALLAX_MODELS_DIR=$PX/vocab timeout 300 $BIN speed --device cuda --engine ${engine%-candle} --synthetic $shape --synthetic-dir $PX/models \
      --tests pp512,tg128,tg128@4096 --reps "$reps" --json > $RES/speed-$shape-$engine.jsonl \
      2> $RES/speed-$shape-$engine.err || { echo "bench: $engine FAILED: $(tail -2 $RES/speed-$shape-$engine.err)"; continue; }
    tail -1 $RES/speed-$shape-$engine.jsonl
  done
  if [ "${4:-}" = ours-only ]; then
    :
  elif [ "$(cat $RES/llama-build.rc 2>/dev/null)" = 0 ]; then
    lb=$PX/llama.cpp-11434/build-cuda/bin/llama-bench
    timeout 200 $lb -m $PX/models/synthetic-$shape.gguf -ngl 99 -fa 1 -p 512 -n 128 -r "$reps" -o json > $RES/llama-$shape.json
    timeout 200 $lb -m $PX/models/synthetic-$shape.gguf -ngl 99 -fa 1 -p 0 -n 128 -d 4096 -r "$reps" -o json > $RES/llama-$shape-d4096.json
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
profile)
  # Steady decode under Nsight Compute, one metric (GPU time a kernel), a window of launches well
  # past load and warm-up: how many kernels a token takes and how long the GPU is busy with them.
  gpu_env
  shape=${2:-llama-8b}
  PARALLAX_MODELS_DIR=$PX/vocab timeout 400 ncu --clock-control none --metrics gpu__time_duration.sum \
    --launch-skip ${PROFILE_SKIP:-20000} --launch-count ${PROFILE_COUNT:-3000} --csv \
    $BIN speed --device cuda --engine gguf --synthetic $shape --synthetic-dir $PX/models --tests tg64 --reps 1 \
    > $RES/ncu-$shape-gguf.csv 2> $RES/ncu-$shape-gguf.err || echo "profile: FAILED: $(tail -3 $RES/ncu-$shape-gguf.err)"
  python3 scripts/gpu/report.py profile $RES $shape
  ;;
prepare)
  me="bash $0"
  $me unpack "${2:-speed}"
  [ -n "${SKIP_LLAMA:-}" ] || $me llama
  $me bandwidth || true
  $me smoke
  $me check $PX/models/synthetic-${CHECK_SHAPE:-llama-1b}.gguf ${CHECK_PROMPTS:-5} || true
  $me report > /dev/null
  ;;
finish)
  me="bash $0"
  if [ -f .gpu/check.sha256 ] && ls "$STASH"/check.part.* > /dev/null 2>&1; then
    $me unpack check > /dev/null && $me check || true
  fi
  $me wait-llama
  for shape in ${SHAPES:-llama-1b llama-8b}; do $me bench $shape 2; $me report > /dev/null; done
  [ -n "${SKIP_PROFILE:-}" ] || $me profile || true
  $me report
  ;;
wait-llama)
  for _ in $(seq 60); do [ -n "${SKIP_LLAMA:-}" ] || [ -f $RES/llama-build.rc ] && break; sleep 5; done
  echo "llama.cpp build: rc $(cat $RES/llama-build.rc 2>/dev/null || echo 'not finished')"; tail -2 $RES/llama-build.log || true
  ;;
all)
  bash $0 prepare "${2:-speed}"
  bash $0 finish
  ;;
report)
  python3 scripts/gpu/report.py report $RES
  mkdir -p "$OUT" && cp $RES/gpu.md "$OUT"/ && tar -C $RES -czf "$OUT"/results.tgz .
  ;;
*)
  sed -n 2,12p "$0"; exit 2
  ;;
esac
