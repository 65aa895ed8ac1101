//! `--device` in a CPU build (what CI runs): `cpu` runs both engines and is reported, an
//! explicit GPU the build or machine lacks is a one-line error naming what would work, a bad
//! value is refused; `parallax parity` gives the same greedy tokens as the fixture's first ones.

mod common;

use common::{fails_cleanly, parallax};

const MODEL: &str = "smollm2-135m-instruct-q4_1";

fn parity(engine: &str, device: &str) -> Vec<serde_json::Value> {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/greedy/smollm2-135m-instruct-q4_1.json"
    );
    let run = parallax(&[
        "--device",
        device,
        "parity",
        "--engine",
        engine,
        "--model",
        MODEL,
        "--fixture",
        fixture,
        "--tokens",
        "4",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn cpu_runs_both_engines_and_is_reported() {
    for engine in ["gguf", "mlx"] {
        let rows = parity(engine, "cpu");
        assert_eq!(rows.len(), 20, "{engine}: one line per fixture prompt");
        for r in &rows {
            assert_eq!(r["device"], "cpu");
            assert_eq!(r["tokens"].as_array().unwrap().len(), 4);
            assert!(r["margins"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m.as_f64().unwrap() >= 0.0));
        }
        // "The capital of France is" → " Paris." on both engines, as llama.cpp's fixture has it.
        assert_eq!(rows[0]["tokens"][0], 7042, "{engine}: {}", rows[0]);
    }
}

#[test]
fn a_gpu_this_build_lacks_is_a_one_line_error() {
    let gen = |engine: &str, device: &str| {
        fails_cleanly(&[
            "--device",
            device,
            "generate",
            "--engine",
            engine,
            "--model",
            MODEL,
            "--raw",
            "Hi",
            "--max-tokens",
            "2",
        ])
    };
    let err = gen("gguf", "cuda");
    assert!(
        err.contains("device `cuda:0` is not available") && err.contains("make build-cuda"),
        "{err}"
    );
    let err = gen("gguf", "metal");
    assert!(err.contains("MLX engine runs on Metal"), "{err}");
    let err = gen("mlx", "cuda:1");
    assert!(err.contains("one GPU, cuda:0"), "{err}");
    let err = gen("mlx", "cuda");
    assert!(err.contains("no GPU backend"), "{err}");
    // A malformed value is clap's usage error (exit 2), naming the forms.
    let out = parallax(&["--device", "tpu", "models"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`tpu` is not a device (cpu, cuda, cuda:N, metal or auto)"),
        "{stderr}"
    );
}
