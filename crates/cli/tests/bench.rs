//! `parallax bench` end to end on the real SmolLM2: the quick suite on both engines (each in
//! its own worker process), the leak suite, a context-suite run at 2048 with the KV length
//! verified; the results file is checked against its schema and every figure is recomputed
//! from the raw per-token timestamps.

mod common;

use std::path::Path;

use common::{fails_cleanly, parallax_within};
use parallax_bench::Results;

const MODEL: &str = "smollm2-135m-instruct-q4_1";

fn bench(out: &Path, args: &[&str]) -> Results {
    let mut all = vec!["bench", "--model", MODEL, "--out", out.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    let run = parallax_within(&all, std::time::Duration::from_secs(1200));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    results_in(out)
}

/// `DIR/results.json`, checked against its schema.
fn results_in(out: &Path) -> Results {
    let json = std::fs::read_to_string(out.join("results.json")).expect("results.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["schema"], "parallax-bench/1");
    // Typed parse: every field of the schema present with the right type.
    serde_json::from_value(v).expect("results.json follows the parallax-bench/1 schema")
}

/// A real PNG of some substance, and its SVG twin.
fn assert_plot(dir: &Path, stem: &str) {
    let png =
        std::fs::read(dir.join("plots").join(format!("{stem}.png"))).unwrap_or_else(|e| panic!("{stem}.png: {e}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png is a PNG");
    assert!(png.len() > 10_000, "{stem}.png is only {} bytes", png.len());
    let svg = std::fs::read_to_string(dir.join("plots").join(format!("{stem}.svg"))).expect("svg");
    assert!(
        svg.contains("<svg")
            && svg.matches("<rect").count() + svg.matches("<circle").count() + svg.matches("<polyline").count() > 3
    );
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn quick_suite_on_both_engines_in_separate_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = bench(dir.path(), &["--suite", "quick", "--engines", "gguf,mlx"]);
    let engines: Vec<&str> = r.engines.iter().map(|e| e.engine.as_str()).collect();
    assert_eq!(engines, ["gguf", "mlx"]);
    for e in &r.engines {
        assert!(e.incomplete.is_none(), "{:?}", e.incomplete);
        assert!(e.load_ms.expect("load time") > 0.0);
        assert_eq!(e.runs.iter().filter(|r| r.warmup).count(), 1);
        let measured: Vec<_> = e.runs.iter().filter(|r| !r.warmup).collect();
        assert_eq!(measured.len(), 4, "2 categories × streamed and not");
        for run in &e.runs {
            // Every figure again, from the raw timestamps.
            let n = run.token_times_ms.len();
            assert_eq!(run.completion_tokens, n, "tokens are the output ids");
            let ttft = run.token_times_ms[0];
            assert!(close(run.ttft_ms, ttft));
            assert!(close(run.decode_tps, n as f64 / ((run.total_ms - ttft) / 1000.0)));
            assert!(close(run.prompt_tps, run.prompt_tokens as f64 / (ttft / 1000.0)));
            assert!(run.token_times_ms.windows(2).all(|w| w[0] <= w[1]));
            if run.streamed {
                assert_eq!(run.received_ms.len(), n);
            }
            assert!(run.memory_after.peak_rss_bytes >= run.memory_after.rss_bytes);
        }
        // The summary is the mean of the measured runs' figures (no outliers at n = 4 here
        // unless reported).
        let s = r.summaries.iter().find(|s| s.engine == e.engine).expect("summary");
        let tps = s.all.decode_tps.as_ref().expect("decode summary");
        assert_eq!(
            tps.n + tps.outliers_removed,
            measured.iter().filter(|r| r.completion_tokens > 1).count()
        );
    }
    let mlx = r.engines.iter().find(|e| e.engine == "mlx").expect("mlx");
    assert!(
        mlx.runs[0].engine_memory_after.allocator_active_bytes.is_some(),
        "MLX reports its allocator"
    );
    let csv = std::fs::read_to_string(dir.path().join("results.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 10, "header + 5 runs per engine");
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    assert!(md.contains("| Metric | GGUF | MLX | MLX advantage (%) |"), "{md}");
    assert!(
        md.contains("| simple |") && md.contains("| math |"),
        "per-category table"
    );
    assert!(md.contains(&r.model.sha256), "the file's sha256 is stated");
    for stem in ["tokps_by_category", "ttft_by_category", "memory_over_run"] {
        assert_plot(dir.path(), stem);
    }
    assert!(md.contains("![tokps_by_category.svg](plots/tokps_by_category.svg)"));
    for f in ["raw/gguf.jsonl", "raw/mlx.jsonl"] {
        assert!(dir.path().join(f).metadata().expect(f).len() > 0);
    }
}

#[test]
fn leak_suite_fits_a_slope_over_the_iterations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = bench(
        dir.path(),
        &["--suite", "leak", "--engines", "gguf", "--iterations", "4"],
    );
    assert_eq!(r.engines[0].leak.len(), 4);
    let leak = r.summaries[0].leak.as_ref().expect("leak result");
    let fit = &leak.rss.as_ref().expect("rss analysis").fit;
    assert_eq!(fit.n, 4);
    assert!(fit.slope_ci95_low <= fit.slope && fit.slope <= fit.slope_ci95_high);
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    assert!(md.contains("Leak: RSS slope"), "{md}");
    assert_plot(dir.path(), "leak_gguf");
}

#[test]
fn context_suite_verifies_the_kv_length_and_refuses_what_does_not_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = bench(
        dir.path(),
        &["--suite", "context", "--engines", "gguf", "--contexts", "2048,9000"],
    );
    let e = &r.engines[0];
    assert_eq!(e.context.len(), 1);
    let c = &e.context[0];
    assert_eq!(c.context_length, 2048);
    assert_eq!(c.prompt_tokens, 2048 - 128);
    assert!(!c.truncated, "{c:?}");
    assert_eq!(c.kv_len, c.expected_kv_len);
    assert!(c.kv_cache_bytes > 0);
    assert_eq!(e.refused.len(), 1);
    assert!(
        e.refused[0].contains("9000") && e.refused[0].contains("8192"),
        "{:?}",
        e.refused
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    assert!(
        md.contains("| verified |") && md.contains("KV verified up to 2048"),
        "{md}"
    );
}

#[test]
fn bad_bench_arguments_are_one_line_errors() {
    let out = tempfile::tempdir().expect("tempdir");
    let out = out.path().to_str().expect("utf-8");
    let line = fails_cleanly(&["bench", "--model", MODEL, "--out", out, "--engines", "vllm"]);
    assert!(line.contains("unknown engine"), "{line}");
    let line = fails_cleanly(&[
        "bench",
        "--model",
        MODEL,
        "--out",
        out,
        "--suite",
        "leak",
        "--iterations",
        "2",
    ]);
    assert!(line.contains("--iterations"), "{line}");
    let line = fails_cleanly(&["bench", "--model", "no-such-model", "--out", out]);
    assert!(line.contains("no-such-model"), "{line}");
}

#[test]
fn endpoint_mode_runs_the_suite_against_parallax_serve() {
    let server = common::Server::start(&["--port", "0"]);
    let url = format!("http://127.0.0.1:{}/v1", server.port());
    let dir = tempfile::tempdir().expect("tempdir");
    let r = bench(
        dir.path(),
        &[
            "--suite",
            "quick",
            "--endpoint",
            &url,
            "--endpoint-model",
            "smollm2-135m-instruct-q4_1@gguf",
        ],
    );
    assert_eq!(r.mode, "endpoint");
    let e = &r.engines[0];
    assert!(e.incomplete.is_none(), "{:?}", e.incomplete);
    assert_eq!(e.endpoint.as_deref(), Some(url.as_str()));
    let measured: Vec<_> = e.runs.iter().filter(|r| !r.warmup).collect();
    assert_eq!(measured.len(), 2, "2 categories, every request streamed");
    for run in &measured {
        assert!(run.streamed && run.completion_tokens > 0);
        assert_eq!(run.token_count_source.as_deref(), Some("server usage"));
        assert!(run.ttft_ms > 0.0 && run.ttft_ms <= run.total_ms);
        assert!(!run.received_ms.is_empty());
    }
    assert!(
        r.summaries[0].peak_rss_bytes.is_none(),
        "memory is not observable over HTTP"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    assert!(md.contains("memory unavailable"), "{md}");
}

#[test]
fn concurrent_mode_with_same_weights_and_reloads_is_labelled_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = bench(
        dir.path(),
        &[
            "--suite",
            "quick",
            "--engines",
            "gguf,mlx",
            "--concurrent",
            "--same-weights",
            "--reload-every",
            "2",
        ],
    );
    assert_eq!(r.mode, "concurrent");
    assert!(r.settings.same_weights);
    for e in &r.engines {
        assert!(e.incomplete.is_none(), "{:?}", e.incomplete);
        assert_eq!(e.runs.len(), 5, "warm-up + 2 categories × streamed and not");
        // 5 generations, a reload before the 3rd and the 5th.
        let after: Vec<u64> = e.reloads.iter().map(|x| x.after_generations).collect();
        assert_eq!(after, [2, 4], "{}", e.engine);
        assert!(e
            .reloads
            .iter()
            .all(|x| x.load_ms > 0.0 && x.memory_after.rss_bytes > 0));
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    assert!(md.contains("both engines at once"), "{md}");
    assert!(md.contains("**Same weights:**") && md.contains("## Reloads"), "{md}");
}

/// The parent is killed with SIGINT mid-run; what it gathered stays on disk, and `--resume`
/// finishes the run with the saved settings, skipping the jobs already done.
#[test]
fn an_interrupted_run_keeps_its_results_and_resume_finishes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8");
    let exe = env!("CARGO_BIN_EXE_parallax");
    let mut child = std::process::Command::new(exe)
        .args([
            "bench",
            "--model",
            MODEL,
            "--out",
            out,
            "--suite",
            "quick",
            "--engines",
            "gguf",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let log = dir.path().join("raw").join("gguf.jsonl");
    let progressed = |n: usize| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"kind\":\"progress\""))
            .count()
            >= n
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while !progressed(2) {
        assert!(std::time::Instant::now() < deadline, "no progress within 10 minutes");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the run ended before it was interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(!child.wait().expect("wait").success());
    assert!(!dir.path().join("results.json").exists(), "interrupted before the end");
    let kept = std::fs::read_to_string(&log).expect("raw log");
    assert!(
        kept.lines().filter(|l| l.contains("\"kind\":\"run\"")).count() >= 2,
        "{kept}"
    );

    let resumed = parallax_within(
        &["bench", "--out", out, "--resume"],
        std::time::Duration::from_secs(1200),
    );
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let r = results_in(dir.path());
    let e = &r.engines[0];
    assert!(e.incomplete.is_none(), "{:?}", e.incomplete);
    assert_eq!(e.resumed_after_jobs.len(), 1);
    assert!(e.resumed_after_jobs[0] >= 2, "{:?}", e.resumed_after_jobs);
    let measured: Vec<_> = e.runs.iter().filter(|r| !r.warmup).collect();
    assert_eq!(measured.len(), 4, "each job exactly once");
    let mut keys: Vec<_> = measured.iter().map(|r| (r.category.clone(), r.streamed)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "no job repeated or lost");
    assert_eq!(
        e.runs.iter().filter(|r| r.warmup).count(),
        2,
        "the resumed worker warmed up again"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    assert!(md.contains("**Resumed:**"), "{md}");
}

#[test]
fn same_weights_refuses_a_k_quant_and_resume_needs_a_started_run() {
    let out = tempfile::tempdir().expect("tempdir");
    let out = out.path().to_str().expect("utf-8");
    let line = fails_cleanly(&["bench", "--model", "gemma3-270m-q4_k_m", "--out", out, "--same-weights"]);
    assert!(line.contains("Q4_K") && line.contains("--same-weights"), "{line}");
    let line = fails_cleanly(&["bench", "--out", out, "--resume"]);
    assert!(line.contains("run.json"), "{line}");
}

#[test]
fn a_synthetic_moe_shape_is_written_and_benchmarked_with_its_routing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8");
    // A small Qwen3-MoE-like shape, so the test stays quick.
    let shape = "qwen3-moe-small,layers=2,hidden=256,heads=4,kv_heads=2,head_dim=64,ff=128,experts=16,used=4";
    let run = parallax_within(
        &[
            "bench",
            "--synthetic",
            shape,
            "--suite",
            "quick",
            "--cold-load",
            "--out",
            out,
        ],
        std::time::Duration::from_secs(1200),
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let r = results_in(dir.path());
    assert!(r.settings.same_weights, "both engines run the one synthetic file");
    assert!(r.synthetic.as_deref().is_some_and(|s| s.contains("16 experts, 4 used")));
    let w = r.weights_per_token.expect("weights per token");
    // A token reads 4 of the 16 experts: 12/16 of the expert bytes (2 layers × gate, up, down
    // of 16 experts × 128 × 256 weights in Q4_0, 18 bytes per 32) stay unread.
    let expert_bytes = 2 * 3 * 16 * 128 * 256 / 32 * 18;
    assert_eq!(w.total_bytes - w.active_bytes, expert_bytes * 12 / 16, "{w:?}");
    assert!(r.read_bandwidth.is_some_and(|b| b > 1e8));
    for e in &r.engines {
        assert!(e.incomplete.is_none(), "{:?}", e.incomplete);
        let categories: Vec<&str> = e.routing.iter().map(|r| r.category.as_str()).collect();
        assert_eq!(categories, ["simple", "math"], "{}", e.engine);
        for rec in &e.routing {
            let c = &rec.counts;
            assert_eq!((c.experts, c.experts_used, c.counts.len()), (16, 4, 2));
            // Every token chose `used` experts in every layer.
            for layer in &c.counts {
                assert_eq!(layer.iter().sum::<u64>(), c.tokens * 4, "{}", e.engine);
            }
        }
        let mem = e.memory_after_load.expect("memory");
        assert!(mem.rss_file_bytes.is_some() && mem.rss_anon_bytes.is_some());
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).expect("report");
    for section in [
        "Synthetic model: the weights are random",
        "## Weights per token and the memory roofline",
        "## Expert routing",
        "## Resident memory",
        "Load time (ms, fresh process, file dropped from the page cache)",
    ] {
        assert!(report.contains(section), "report lacks {section}");
    }
    assert_plot(dir.path(), "routing_gguf");
}

#[test]
fn a_synthetic_shape_that_does_not_fit_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let run = parallax_within(
        &[
            "bench",
            "--synthetic",
            "dense-small,layers=4000",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        std::time::Duration::from_secs(60),
    );
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("is available; use fewer layers or experts"), "{err}");
    assert!(!out.join("synthetic-dense-small.gguf").exists());
    let run = parallax_within(
        &[
            "bench",
            "--synthetic",
            "mixtral-small,used=9",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        std::time::Duration::from_secs(60),
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("9 experts used of 8"));
}

/// The concurrency suite end to end: `parallax serve --parallel 2` started and loaded by 1
/// and 2 clients at once, the table printed and written. (The llama-server anchor runs too
/// where `make bench-anchors` built it; CI has none, and the table then has no ratio to it.)
#[test]
fn the_concurrency_suite_loads_a_server_with_clients_at_once_and_prints_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8");
    let args = [
        "bench",
        "--suite",
        "concurrency",
        "--model",
        MODEL,
        "--engines",
        "gguf",
        "--clients",
        "1,2",
        "--rounds",
        "1",
        "--max-tokens",
        "8",
        "--out",
        out,
    ];
    let run = parallax_within(&args, std::time::Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for clients in ["1", "2"] {
        assert!(stdout.contains(&format!("| parallax gguf | {clients} |")), "{stdout}");
    }
    assert!(stdout.contains("CPU: "), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("concurrency.json")).expect("json"))
            .expect("JSON");
    let points = json["curves"][0]["points"].as_array().expect("points");
    assert_eq!(points.len(), 2);
    for p in points {
        assert!(p["aggregate_tps"].as_f64().expect("tps") > 0.0, "{p}");
        assert_eq!(p["requests"], p["clients"], "one round each");
    }
}

#[test]
fn bad_concurrency_arguments_are_one_line_errors() {
    for (args, says) in [
        (&["--clients", "0"][..], "at least 1"),
        (
            &["--endpoint", "http://127.0.0.1:1/v1", "--endpoint-model", "x"][..],
            "starts its own servers",
        ),
        (&["--llama-server", "/nonexistent/llama-server"][..], "no such file"),
    ] {
        let mut all = vec![
            "bench",
            "--suite",
            "concurrency",
            "--model",
            MODEL,
            "--out",
            "/tmp/parallax-unused",
        ];
        all.extend_from_slice(args);
        let e = fails_cleanly(&all);
        assert!(e.contains(says), "{args:?}: {e}");
    }
}
