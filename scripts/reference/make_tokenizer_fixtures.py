"""Reference token ids and chat-template renderings from Hugging Face transformers, loading the
same GGUF files Parallax loads. Writes tests/fixtures/tokenizer/<model-id>.json.

Run: python scripts/reference/make_tokenizer_fixtures.py  (needs transformers, torch, gguf;
see scripts/reference/requirements.txt). Offline: HF_HUB_OFFLINE=1.
"""
import json
import os
import pathlib
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformers import AutoTokenizer, __version__ as tf_version  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from fixture_strings import STRINGS  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = {
    "smollm2-135m-instruct-q4_1": ("SmolLM2-135M-Instruct.Q4_1.gguf", None),
    # The Gemma GGUF carries no chat template; Parallax uses its built-in one, so the reference
    # renders that same template with jinja2.
    "gemma3-270m-q4_k_m": ("gemma-3-270m-q4_k_m.gguf", ROOT / "crates/core/templates/gemma3.jinja"),
}
CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi."}],
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi there. How can I help?"},
        {"role": "user", "content": "Tell me a joke about 猫 and emoji 😺."},
    ],
    [
        {"role": "user", "content": "  padded content  \n"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "fine"},
        {"role": "user", "content": "last"},
    ],
]


def main():
    out_dir = ROOT / "tests/fixtures/tokenizer"
    out_dir.mkdir(parents=True, exist_ok=True)
    for model_id, (file, template_path) in MODELS.items():
        tok = AutoTokenizer.from_pretrained(str(ROOT / "models"), gguf_file=file)
        template = template_path.read_text() if template_path else None
        encodings = [{"text": s, "ids": tok(s)["input_ids"]} for s in STRINGS]
        chats = []
        for conv in CONVERSATIONS:
            for gen in (True, False):
                rendered = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen, chat_template=template)
                ids = tok(rendered, add_special_tokens=False)["input_ids"]
                chats.append({"messages": conv, "add_generation_prompt": gen, "rendered": rendered, "ids": ids})
        fixture = {
            "model": model_id,
            "file": file,
            "reference": f"transformers {tf_version}",
            "encodings": encodings,
            "chats": chats,
        }
        path = out_dir / f"{model_id}.json"
        path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {path} ({len(encodings)} strings, {len(chats)} chats)")


if __name__ == "__main__":
    main()
