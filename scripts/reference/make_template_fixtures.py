#!/usr/bin/env python3
"""Each family's real chat template (llama.cpp's models/templates/, from the sdist the set-up
fetches) rendered by transformers' own renderer (`render_jinja_template`, what
`apply_chat_template` calls), into tests/fixtures/templates.json. The clock is fixed
(2026-12-03 UTC) for templates that print today's date.
Usage: .venv/bin/python scripts/reference/make_template_fixtures.py"""
import datetime
import json
import pathlib

import transformers
import transformers.utils.chat_template_utils as ctu

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "models" / "llama.cpp" / "templates"
FIXED = datetime.datetime(2026, 12, 3, 7, 0, 5)

# (family, template file, bos, eos, whether the template accepts a system message)
CASES = [
    ("llama3", "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", True),
    ("llama3", "meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", True),
    ("mistral", "mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>", True),
    ("qwen2", "Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>", True),
    ("qwen2", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", True),
    ("qwen3", "Qwen-Qwen3-0.6B.jinja", "", "<|im_end|>", True),
    ("phi3", "microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>", True),
    ("gemma2", "google-gemma-2-2b-it.jinja", "<bos>", "<eos>", False),
]
SYSTEM = {"role": "system", "content": "You are a terse assistant."}
TURNS = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy? Answer in one word."},
]


class FixedClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED


def main():
    ctu.datetime = FixedClock
    out = []
    for family, name, bos, eos, system in CASES:
        messages = ([SYSTEM] if system else []) + TURNS
        source = (TEMPLATES / name).read_text()
        rendered = ctu.render_jinja_template(conversations=[messages], chat_template=source,
                                             add_generation_prompt=True, bos_token=bos, eos_token=eos)[0][0]
        out.append({"family": family, "template": name, "bos_token": bos, "eos_token": eos,
                    "messages": messages, "rendered": rendered})
        print(f"{family:8} {name}: {len(rendered)} chars")
    ref = {"reference": f"transformers {transformers.__version__} render_jinja_template, add_generation_prompt, "
                        f"clock fixed at {FIXED.isoformat()}", "cases": out}
    (ROOT / "tests" / "fixtures" / "templates.json").write_text(json.dumps(ref, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
