//! `parallax generate` end to end on the real models.

use std::process::Command;

use serde_json::Value;

fn run_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(args)
        .arg("--json")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn json_output_has_text_ids_usage_and_timings() {
    let v = run_json(&[
        "generate",
        "--model",
        "smollm2-135m-instruct-q4_1",
        "--prompt",
        "What is the capital of France?",
        "--temperature",
        "0",
        "--max-tokens",
        "12",
    ]);
    let ids = v["token_ids"].as_array().expect("ids");
    assert_eq!(v["usage"]["completion_tokens"].as_u64(), Some(ids.len() as u64));
    assert!(v["usage"]["prompt_tokens"].as_u64().expect("prompt") > 10);
    let times = v["timings"]["token_times_ms"].as_array().expect("times");
    assert_eq!(times.len(), ids.len());
    let t: Vec<f64> = times.iter().map(|t| t.as_f64().expect("f64")).collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "timestamps are monotonic");
    let ttft = v["timings"]["ttft_ms"].as_f64().expect("ttft");
    let total = v["timings"]["total_ms"].as_f64().expect("total");
    assert_eq!(ttft, t[0]);
    let decode = v["timings"]["decode_tps"].as_f64().expect("decode");
    assert!((decode - ids.len() as f64 / ((total - ttft) / 1000.0)).abs() < 1e-6 * decode.max(1.0));
    assert!(["stop", "length"].contains(&v["finish_reason"].as_str().expect("reason")));
    assert!(v["memory"]["kv_cache_bytes"].as_u64().expect("kv") > 0);
    assert!(v["peak_rss_bytes"].as_u64().expect("rss") > 50_000_000);
}

#[test]
fn the_same_seed_reproduces_the_same_tokens() {
    let args = [
        "generate",
        "--model",
        "gemma3-270m-q4_k_m",
        "--prompt",
        "Write a short poem about rain.",
        "--temperature",
        "1.0",
        "--seed",
        "42",
        "--max-tokens",
        "16",
    ];
    let a = run_json(&args);
    let b = run_json(&args);
    assert_eq!(a["token_ids"], b["token_ids"]);
    let mut other = args.to_vec();
    other[8] = "43";
    let c = run_json(&other);
    assert_ne!(
        a["token_ids"], c["token_ids"],
        "a different seed should sample differently"
    );
}

#[test]
fn a_stop_string_ends_the_text_before_it() {
    let v = run_json(&[
        "generate",
        "--model",
        "smollm2-135m-instruct-q4_1",
        "--raw",
        "1, 2, 3, 4, 5,",
        "--temperature",
        "0",
        "--max-tokens",
        "20",
        "--stop",
        "8",
    ]);
    let text = v["text"].as_str().expect("text");
    assert!(!text.contains('8'), "{text:?}");
    assert!(text.contains('7'), "{text:?}");
    assert_eq!(v["finish_reason"], "stop");
}

#[test]
fn text_streams_to_stdout_with_stats_on_stderr() {
    let out = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args([
            "generate",
            "--model",
            "smollm2-135m-instruct-q4_1",
            "--prompt",
            "Say hello.",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("decode"));
}

#[test]
fn models_lists_the_catalog_as_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(["models", "--json"])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = v["catalog"]
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["smollm2-135m-instruct-q4_1", "gemma3-270m-q4_k_m", "all-minilm-l6-v2"]
    );
    for m in v["catalog"].as_array().expect("array") {
        assert!(m["fetched"].as_bool().expect("fetched"), "{m}");
    }
    assert_eq!(v["catalog"][0]["kind"], "chat");
    assert_eq!(v["catalog"][2]["kind"], "embedding");
}

#[test]
fn monitor_streams_json_snapshots() {
    let out = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(["monitor", "--json", "--count", "3", "--interval-ms", "250"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let snaps: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(snaps.len(), 3);
    assert!(snaps.iter().all(|s| s["process"]["rss_bytes"].as_u64() > Some(0)));
    assert!(snaps[2]["at_unix_ms"].as_u64() > snaps[0]["at_unix_ms"].as_u64());
    let bad = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(["monitor", "--interval-ms", "50", "--count", "1"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("250"));
}
