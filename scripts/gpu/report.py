#!/usr/bin/env python3
"""The GPU measurement's tables, from what scripts/gpu/measure.sh wrote into its results folder.

  report.py parity RES FIXTURE TAG  compare CPU and CUDA greedy tokens of model TAG, both engines
                                 -> RES/parity-TAG.md
  report.py profile RES SHAPE    summarise ncu's kernel times (RES/ncu-SHAPE-gguf.csv) -> RES/profile.md
  report.py table RES            print the speed table so far
  report.py report RES           RES/gpu.md: speed with ratios to llama.cpp-CUDA, the decode
                                 roofline from the measured bandwidth, the correctness check
"""
import glob
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from anchors import parse_llama_bench  # noqa: E402  (one reader of llama-bench's JSON)

TESTS = ["pp512", "tg128", "tg128@4096"]
CHECK_TOKENS = 16


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def parity(res, fixture, tag):
    cases = json.load(open(fixture))["cases"]
    out = ["| engine | prompts | CUDA = CPU, all 16 tokens | CUDA = llama.cpp (CPU fixture), all 16 | first CPU/CUDA split: prompt, step, margin CPU / CUDA |",
           "|---|---|---|---|---|"]
    for engine in ["gguf", "mlx"]:
        try:
            cpu, gpu = lines(f"{res}/parity-{tag}-{engine}-cpu.jsonl"), lines(f"{res}/parity-{tag}-{engine}-cuda.jsonl")
            if not cpu or not gpu:
                raise FileNotFoundError
        except (FileNotFoundError, json.JSONDecodeError):
            out.append(f"| {engine} | — | not run | not run | |")
            continue
        same = same_ref = 0
        split = "none"
        for c, g in zip(cpu, gpu):
            n = min(CHECK_TOKENS, len(g["tokens"]), len(cases[c["case"]]["tokens"]))
            same_ref += g["tokens"][:n] == cases[c["case"]]["tokens"][:n]
            if c["tokens"] == g["tokens"]:
                same += 1
                continue
            step = next(i for i, (a, b) in enumerate(zip(c["tokens"], g["tokens"])) if a != b)
            if split == "none":
                split = f"prompt {c['case']}, step {step}, {c['margins'][step]:.3f} / {g['margins'][step]:.3f}"
        device = gpu[0]["device"] if gpu else "?"
        out.append(f"| {engine} ({device}) | {len(gpu)} | {same}/{len(gpu)} | {same_ref}/{len(gpu)} | {split} |")
    text = f"Model: `{tag}`\n\n" + "\n".join(out) + "\n"
    open(f"{res}/parity-{tag}.md", "w").write(text)
    print(text)


def ab(res):
    """Our CUDA kernels against candle's ops alone, both on CUDA (`measure.sh ab-check`)."""
    try:
        ours_rows, candle_rows = lines(f"{res}/ab-ours.jsonl"), lines(f"{res}/ab-candle.jsonl")
    except FileNotFoundError:
        return
    out = ["| prompt | tokens equal | first split: step, margin ours / candle |", "|---|---|---|"]
    for o, c in zip(ours_rows, candle_rows):
        step = next((i for i, (a, b) in enumerate(zip(o["tokens"], c["tokens"])) if a != b), None)
        where = "—" if step is None else f"step {step}, {o['margins'][step]:.3f} / {c['margins'][step]:.3f}"
        out.append(f"| {o['case']} | {16 if step is None else step}/16 | {where} |")
    text = "Greedy tokens on CUDA, our kernels against candle's ops alone (`PARALLAX_KERNELS=candle`):\n\n" + "\n".join(out) + "\n"
    open(f"{res}/ab.md", "w").write(text)
    print(text)


def ours(res, shape, engine):
    path = f"{res}/speed-{shape}-{engine}.jsonl"
    if not os.path.exists(path):
        return {}, {}
    rows = lines(path)
    samples = {}
    for r in rows:
        if "test" in r:
            samples.setdefault(r["test"], []).append(r["tokens_per_s"])
    summary = next((r for r in rows if "engine" in r), {})
    return {t: statistics.median(v) for t, v in samples.items()}, summary


def llama(res, shape):
    got = {}
    for path in [f"{res}/llama-{shape}.json", f"{res}/llama-{shape}-d4096.json"]:
        if os.path.exists(path):
            got.update(parse_llama_bench(open(path).read()))
    return got


ENGINE_LABELS = {
    "gguf": "parallax gguf (candle CUDA + our kernels)",
    "gguf-candle": "parallax gguf, candle's ops alone (`PARALLAX_KERNELS=candle`)",
    "mlx": "parallax mlx (MLX CUDA)",
}


def shapes(res):
    """The shapes measured, from `speed-SHAPE-ENGINE.jsonl` (an engine name may hold a dash)."""
    found = set()
    for p in glob.glob(f"{res}/speed-*.jsonl"):
        name = os.path.basename(p)[len("speed-"):-len(".jsonl")]
        found |= {name[: -len(e) - 1] for e in ENGINE_LABELS if name.endswith("-" + e)}
    return sorted(found)


def table(res):
    out = ["| model | engine | device | " + " | ".join(TESTS) + " | GPU memory in use |", "|---|---|---|" + "---|" * (len(TESTS) + 1)]
    for shape in shapes(res):
        anchor = llama(res, shape)
        rows = [("llama.cpp-CUDA (-ngl 99 -fa 1)", anchor, {"device": "cuda:0"})]
        rows += [(ENGINE_LABELS[e], *ours(res, shape, e)) for e in ENGINE_LABELS if ours(res, shape, e)[0]]
        for name, tps, summary in rows:
            cells = []
            for t in TESTS:
                if t not in tps:
                    cells.append("—")
                elif name.startswith("llama") or t not in anchor:
                    cells.append(f"{tps[t]:,.1f}")
                else:
                    cells.append(f"{tps[t]:,.1f} ({tps[t] / anchor[t]:.2f}×)")
            mem = summary.get("gpu_used_bytes")
            mem = f"{mem / 2**30:.1f} GiB" if mem else "—"
            out.append(f"| {shape} | {name} | {summary.get('device', '—')} | " + " | ".join(cells) + f" | {mem} |")
    return "\n".join(out) + "\n"


def roofline(res):
    try:
        bw = json.load(open(f"{res}/bandwidth.json"))
    except FileNotFoundError:
        return "Bandwidth not measured.\n"
    gbps = bw["gb_per_s"]
    out = [f"Device-to-device copy on this GPU: **{gbps:,.0f} GB/s** (bytes read plus written, median of 10, 2 GiB buffers).\n",
           "Decode reads every weight once per token, so tokens/s cannot exceed bandwidth ÷ weight bytes "
           "(plus the KV cache at depth: 128 KiB a position for the 8B shape's f16 cache).\n",
           "| model | file bytes | tg128 roofline | tg128@4096 roofline | best measured tg128 (share of roofline) |", "|---|---|---|---|---|"]
    kv_per_pos = {"llama-8b": 32 * 2 * 8 * 128 * 2, "llama-1b": 16 * 2 * 8 * 64 * 2}
    for shape in shapes(res):
        path = glob.glob(f"/root/px/models/synthetic-{shape}.gguf")
        if not path:
            continue
        size = os.path.getsize(path[0])
        roof = gbps * 1e9 / size
        roof_d = gbps * 1e9 / (size + kv_per_pos.get(shape, 0) * 4096)
        measured = {"llama.cpp": llama(res, shape).get("tg128")}
        for e in ["gguf", "mlx"]:
            measured[f"parallax {e}"] = ours(res, shape, e)[0].get("tg128")
        best = ", ".join(f"{k} {v:,.0f} ({v / roof:.0%})" for k, v in measured.items() if v)
        out.append(f"| {shape} | {size / 1e9:.2f} GB | {roof:,.0f} t/s | {roof_d:,.0f} t/s | {best} |")
    return "\n".join(out) + "\n"


def profile(res, shape):
    """Kernels a decoded token takes and the GPU time they add up to, from ncu's CSV.

    The window of launches ncu timed lies inside steady decode; a token's share is found from the
    RMS-norm kernel, which runs twice a layer plus once at the end (2 L + 1 a token)."""
    import csv
    layers = {"llama-1b": 16, "llama-8b": 32}[shape]
    path = f"{res}/ncu-{shape}-gguf.csv"
    rows = []
    if os.path.exists(path):
        text = open(path).read()
        start = text.find('"ID"')
        rows = list(csv.DictReader(text[start:].splitlines())) if start >= 0 else []
    kernels = {}
    for r in rows:
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        units = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}
        scale = units.get(r.get("Metric Unit"))
        if scale is None:
            raise SystemExit(f"profile: unknown time unit {r.get('Metric Unit')!r}")
        k = kernels.setdefault(r["Kernel Name"].split("(")[0], [0, 0.0])
        k[0] += 1
        k[1] += float(r["Metric Value"].replace(",", "")) * scale
    norms = sum(n for name, (n, _) in kernels.items() if "rms" in name.lower())
    if not kernels or not norms:
        text = f"No profile for {shape} (see ncu-{shape}-gguf.err).\n"
    else:
        tokens = norms / (2 * layers + 1)
        launches = sum(n for n, _ in kernels.values())
        busy = sum(t for _, t in kernels.values())
        tg = ours(res, shape, "gguf")[0].get("tg128")
        wall = f"{1e6 / tg:,.0f} µs" if tg else "not measured"
        out = [f"ncu window: {launches:,} launches, about {tokens:.1f} decoded tokens of the {shape} shape.\n",
               f"- **{launches / tokens:,.0f} kernel launches a token**, GPU busy **{busy / tokens:,.0f} µs** a token; "
               f"the token takes {wall} at the measured tg128"
               + (f", so the GPU is busy {busy / tokens / (1e6 / tg):.0%} of it." if tg else "."),
               f"- GPU time per launch, mean: {busy / launches:.1f} µs.\n",
               "| kernel | launches a token | GPU µs a token | share |", "|---|---|---|---|"]
        for name, (n, t) in sorted(kernels.items(), key=lambda kv: -kv[1][1])[:15]:
            out.append(f"| `{name[:60]}` | {n / tokens:.1f} | {t / tokens:,.1f} | {t / busy:.0%} |")
        text = "\n".join(out) + "\n"
    open(f"{res}/profile.md", "w").write(text)
    print(text)


def smi():
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "nvidia-smi unavailable"


def report(res):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; nproc"],
                         capture_output=True, text=True).stdout.split("\n")
    parity_md = "\n".join(open(p).read() for p in sorted(glob.glob(f"{res}/parity-*.md"))) or "Not run.\n"
    if os.path.exists(f"{res}/ab.md"):
        parity_md += "\n" + open(f"{res}/ab.md").read()
    parity_md += "".join("\nThe GGUF engine again, with candle's ops alone on CUDA (`PARALLAX_KERNELS=candle`):\n\n" + open(p).read()
                         for p in sorted(glob.glob(f"{res}/candle/parity-*.md")))
    profile_md = open(f"{res}/profile.md").read() if os.path.exists(f"{res}/profile.md") else "Not run.\n"
    md = f"""# Parallax on an NVIDIA GPU: candle-CUDA and MLX-CUDA against llama.cpp-CUDA

Written by `scripts/gpu/measure.sh` on the lent machine (scripts/gpu/README.md).

- GPU: {smi()}
- Host: {cpu[0].strip()}, {cpu[1].strip()} cores
- Models: synthetic Llama-3-shaped GGUFs, random Q4_0 weights (`parallax speed --synthetic`), with Llama 3's
  128,256-token vocabulary (llama.cpp's `ggml-vocab-llama-bpe.gguf`); the same file for all three engines.
- Tests as llama-bench runs them: pp512 (prefill 512 tokens), tg128 (decode 128), tg128@4096 (decode 128
  after 4,096 untimed context tokens). tokens/s, the median of the repetitions; ratios to llama.cpp-CUDA
  from the same call.

## Speed

{table(res)}
## Decode roofline

{roofline(res)}
## Where the GGUF engine's decode time goes (Nsight Compute)

{profile_md}
## Correctness on the GPU

The prompts (token ids) of
`tests/fixtures/greedy/smollm2-135m-instruct-q4_1.json`, 16 greedy tokens each (`parallax parity`), on the
CPU and on CUDA, each engine; the margin is the top logit's lead over the runner-up at the first step where
the two devices chose differently. The llama.cpp column compares with the fixture's tokens, which are
SmolLM2's: it means something only for that model.

{parity_md}"""
    open(f"{res}/gpu.md", "w").write(md)
    print(md)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "parity":
        parity(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "profile":
        profile(sys.argv[2], sys.argv[3])
    elif mode == "ab":
        ab(sys.argv[2])
    elif mode == "table":
        print(table(sys.argv[2]))
    elif mode == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
