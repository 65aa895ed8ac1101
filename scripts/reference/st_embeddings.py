#!/usr/bin/env python3
"""Reference vectors for the embedding engine: sentence-transformers on the model directory
that `make models` fetches (models/all-MiniLM-L6-v2), written to
tests/fixtures/embeddings/all-minilm-l6-v2.json.

sentence-transformers needs torch (several GB), so it is not part of `make test`; run this
in a separate venv (`pip install sentence-transformers`) to regenerate the fixture:
    python scripts/reference/st_embeddings.py
"""
import json
import pathlib

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "all-MiniLM-L6-v2"
OUT = ROOT / "tests" / "fixtures" / "embeddings" / "all-minilm-l6-v2.json"

INPUTS = [
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "",
    "fn main() { println!(\"hello\"); }",
    "Ünïcödé, emoji 🚀 and 漢字 in one sentence.",
    "A GGUF file holds quantised weights; MLX arrays live in unified memory.",
    # Longer than the model's 256-token window: sentence-transformers truncates it.
    " ".join(f"sentence {i} talks about memory bandwidth and token throughput." for i in range(60)),
]


def main():
    model = SentenceTransformer(str(MODEL), device="cpu")
    vectors = model.encode(INPUTS, convert_to_numpy=True, normalize_embeddings=False, batch_size=4)
    tokens = [len(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in INPUTS]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "model": "all-minilm-l6-v2",
        "reference": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, CPU, float32",
        "max_seq_length": model.max_seq_length,
        "cases": [{"input": t, "tokens": n, "vector": [float(x) for x in v]} for t, n, v in zip(INPUTS, tokens, vectors)],
    }, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({len(INPUTS)} vectors of {vectors.shape[1]})")


if __name__ == "__main__":
    main()
