//! `parallax speed` (the anchor harness's Parallax side) on the real SmolLM2, both engines: each
//! sample has the test's name and token count and a rate consistent with its time; the KV cache
//! depth a test asks for must fit the context; a bad test name is a one-line error.

mod common;

use common::{fails_cleanly, parallax};

const MODEL: &str = "smollm2-135m-instruct-q4_1";

fn samples(engine: &str) -> Vec<serde_json::Value> {
    let run = parallax(&[
        "speed",
        "--model",
        MODEL,
        "--engine",
        engine,
        "--tests",
        "pp24,tg6@40",
        "--reps",
        "2",
        "--json",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn each_engine_reports_every_repetition_of_every_test_and_a_summary() {
    for engine in ["gguf", "mlx"] {
        let rows = samples(engine);
        assert_eq!(rows.len(), 5, "{engine}: 2 × 2 samples and a summary: {rows:?}");
        let names: Vec<&str> = rows[..4].iter().map(|r| r["test"].as_str().unwrap()).collect();
        assert_eq!(names, ["pp24", "pp24", "tg6@40", "tg6@40"]);
        for (row, tokens) in rows[..4].iter().zip([24, 24, 6, 6]) {
            assert_eq!(row["tokens"], tokens);
            let (ms, tps) = (row["ms"].as_f64().unwrap(), row["tokens_per_s"].as_f64().unwrap());
            assert!(
                ms > 0.0 && (tps - tokens as f64 * 1000.0 / ms).abs() < 1e-6 * tps,
                "{row}"
            );
        }
        let summary = &rows[4];
        assert_eq!(summary["engine"], engine);
        assert!(summary["peak_rss_bytes"].as_u64().unwrap() > 50 << 20, "{summary}");
    }
}

#[test]
fn impossible_tests_fail_with_one_line() {
    let err = fails_cleanly(&["speed", "--model", MODEL, "--tests", "tg8@9000"]);
    assert!(err.contains("context length is 8192"), "{err}");
    let err = fails_cleanly(&["speed", "--model", MODEL, "--tests", "pp512,xx"]);
    assert!(err.contains("expected ppN, tgN or tgN@DEPTH"), "{err}");
    let err = fails_cleanly(&["speed", "--model", MODEL, "--reps", "0"]);
    assert!(err.contains("--reps must be at least 1"), "{err}");
}
