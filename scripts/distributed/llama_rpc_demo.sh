#!/usr/bin/env bash
# Distributed inference for real, on this machine: llama.cpp's RPC backend splits SmolLM2's layers
# across two `rpc-server` workers on loopback ports, behind `llama-server --rpc`. Parallax uses
# it as a remote engine (registered in a scratch configuration folder), runs a chat turn through
# it, and runs the quick benchmark through it and on the local GGUF engine, on the same file.
# Prints a table of both. Not part of `make test`: the llama.cpp build takes minutes.
#   scripts/distributed/llama_rpc_demo.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-target/rpc-demo}
MODEL_ID=smollm2-135m-instruct-q4_1
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
PX=target/debug/parallax
A=50052; B=50053; PORT=18190
test -f "$MODEL" || { echo "run \`make models\` first" >&2; exit 1; }
test -x "$PX" || cargo build --bin parallax

BIN=$(.venv/bin/python scripts/bench/llama_bench_build.py --rpc)
rm -rf "$OUT" && mkdir -p "$OUT"
export PARALLAX_CONFIG_DIR="$OUT/config"
pids=()
# The server first, then its workers (a worker gone under a live server is an RPC error there).
trap 'for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; sleep 0.2; done' EXIT

# Two workers, one thread each: each exposes this machine's CPU as one RPC device.
for port in $A $B; do
  "$BIN/ggml-rpc-server" -H 127.0.0.1 -p $port -t 1 > "$OUT/rpc-$port.log" 2>&1 &
  pids+=($!)
done
sleep 1
# -ngl 99: every layer goes to the RPC devices, split between them by their free memory.
"$BIN/llama-server" -m "$MODEL" --rpc 127.0.0.1:$A,127.0.0.1:$B -ngl 99 --host 127.0.0.1 --port $PORT \
  -c 4096 -lv 4 --metrics > "$OUT/llama-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do curl -sf http://127.0.0.1:$PORT/health > /dev/null && break; sleep 0.5; done
echo "--- where llama-server put the layers"
grep -E "offload|RPC[0-9].*buffer size|model buffer size" "$OUT/llama-server.log" | head -8 || true

$PX remote add rpc-demo http://127.0.0.1:$PORT --timeout 120
$PX remote list --probe
REMOTE_MODEL=$($PX remote list --probe --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[0]["models"][0])')
echo "--- a chat turn through the RPC cluster ($REMOTE_MODEL)"
$PX generate --model "$REMOTE_MODEL" --prompt "Name the planets of the solar system." --max-tokens 64 --temperature 0

echo "--- the quick benchmark: llama.cpp RPC (2 workers) and the local GGUF engine, same file"
$PX bench --suite quick --model $MODEL_ID --endpoint http://127.0.0.1:$PORT/v1 \
  --endpoint-model "${REMOTE_MODEL%@rpc-demo}" --out "$OUT/bench-rpc" > /dev/null
$PX bench --suite quick --model $MODEL_ID --engines gguf --out "$OUT/bench-local" > /dev/null
echo "--- what llama-server publishes about itself (read by Parallax, each figure with its source)"
$PX remote list --probe
.venv/bin/python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
print("| engine | runs | decode tok/s (median) | TTFT ms (median) | prompt tok/s (median) |")
print("|---|---|---|---|---|")
for name, d in [("llama.cpp RPC, 2 loopback workers (remote)", "bench-rpc"), ("Parallax GGUF (local)", "bench-local")]:
    r = json.load(open(f"{out}/{d}/results.json"))
    for s in r["summaries"]:
        a = s["all"]
        med = lambda k: f"{a[k]['median']:.1f}" if a.get(k) else "—"
        print(f"| {name} | {a['runs']} | {med('decode_tps')} | {med('ttft_ms')} | {med('prompt_tps')} |")
PY
