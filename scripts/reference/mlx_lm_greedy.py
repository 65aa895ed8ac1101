#!/usr/bin/env python3
"""Greedy reference for the MLX engine: mlx-lm (Python, CPU) on a directory made by `parallax convert`.

Usage: .venv/bin/python scripts/reference/mlx_lm_greedy.py MODEL_DIR OUT.json

For each prompt: the chat template is applied by transformers' tokenizer loaded from the same
directory, mlx-lm decodes greedily, and we record the prompt ids, the generated ids and, at
every step, the margin between the two best log-probabilities (to explain any divergence by
float summation order). The model runs in float32 (`set_dtype`), as Parallax's MLX engine does
on a CPU, where half-precision arithmetic is emulated.
"""
import json
import sys

import mlx.core as mx
from mlx_lm import load
from mlx_lm.generate import generate_step

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
    "List three prime numbers.",
    "Translate 'good morning' into Spanish.",
]
N_TOKENS = 32


def main(model_dir, out_path):
    mx.set_default_device(mx.cpu)
    model, tokenizer = load(model_dir)
    model.set_dtype(mx.float32)
    cases = []
    for prompt in PROMPTS:
        messages = [{"role": "user", "content": prompt}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict):
            ids = ids["input_ids"]
        ids = list(ids)
        tokens, margins = [], []
        for token, logprobs in generate_step(mx.array(ids), model, max_tokens=N_TOKENS):
            top2 = mx.sort(logprobs)[-2:].tolist()
            tokens.append(int(token))
            margins.append(round(top2[1] - top2[0], 5))
        cases.append({"prompt": prompt, "prompt_ids": ids, "tokens": tokens, "margins": margins})
        print(prompt, "->", repr(tokenizer.decode(tokens)), file=sys.stderr)
    import mlx_lm
    ref = {"reference": f"mlx-lm {mlx_lm.__version__}, mlx {mx.__version__}, cpu, float32, greedy",
           "model_dir": "parallax convert of the catalog GGUF", "cases": cases}
    with open(out_path, "w") as f:
        json.dump(ref, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
