//! Correctness of the MLX engine on the real models:
//! - against mlx-lm: on a directory made by `parallax convert`, greedy tokens equal mlx-lm's
//!   (tests/fixtures/mlx_greedy, made by scripts/reference/mlx_lm_greedy.py on such a directory);
//! - against the GGUF engine: on the same Q4_1 GGUF, both engines, loaded in one process and
//!   used alternately, give the same greedy tokens (tests/fixtures/greedy prompts);
//! - mlx-lm itself loads and runs a converted directory.

use parallax_core::{catalog, ChatMessage, LoadedModel};
use serde_json::Value;

const MATCH_TOKENS: usize = 24;
/// Cross-engine: float rounding may flip a choice only where the two best logits are closer
/// than this. The GGUF engine rounds every activation to 8 bits (as llama.cpp does) and MLX
/// does not, which moves a margin by a few tenths: "import numpy as np" splits at 0.30.
const NEAR_TIE_LOGITS: f32 = 0.35;

fn workspace(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

fn fixture(dir: &str, model_id: &str) -> Value {
    let path = workspace(&format!("tests/fixtures/{dir}/{model_id}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn ids(v: &Value) -> Vec<u32> {
    serde_json::from_value(v.clone()).expect("ids")
}

fn gguf_path(model_id: &str) -> std::path::PathBuf {
    catalog::resolve(model_id).expect("model fetched by `make models`").path
}

fn argmax_and_margin(logits: &[f32]) -> (u32, f32) {
    let (mut best, mut second) = ((0usize, f32::NEG_INFINITY), f32::NEG_INFINITY);
    for (i, &l) in logits.iter().enumerate() {
        if l > best.1 {
            second = best.1;
            best = (i, l);
        } else if l > second {
            second = l;
        }
    }
    (best.0 as u32, best.1 - second)
}

/// Greedy decoding driven straight through `Engine::forward`: `n` tokens, EOS included, each
/// with the margin between the two best logits.
fn greedy(model: &mut LoadedModel, prompt: &[u32], n: usize) -> Vec<(u32, f32)> {
    model.engine.reset().expect("reset");
    let mut logits = model.engine.forward(prompt).expect("prefill");
    let mut out = vec![];
    for _ in 0..n {
        let (tok, margin) = argmax_and_margin(&logits);
        out.push((tok, margin));
        logits = model.engine.forward(&[tok]).expect("decode");
    }
    assert_eq!(model.engine.kv_len(), prompt.len() + n, "KV length after decoding");
    out
}

fn mlx_matches_mlx_lm(model_id: &str) {
    let fx = fixture("mlx_greedy", model_id);
    let dir = tempfile::tempdir().expect("tempdir");
    parallax_mlx::convert::convert(&gguf_path(model_id), dir.path(), Default::default()).expect("convert");
    let mut model = parallax_mlx::load(dir.path(), model_id).expect("load the converted directory");
    let template = model.template.clone().expect("convert wrote the chat template");
    let mut full = 0;
    for case in fx["cases"].as_array().expect("cases") {
        let prompt = case["prompt"].as_str().expect("prompt");
        let prompt_ids = ids(&case["prompt_ids"]);
        // The directory's tokenizer and template, as we read them, equal transformers'.
        let text = template
            .render(&[ChatMessage::new("user", prompt)], true)
            .expect("render");
        assert_eq!(
            model.tokenizer.encode(&text, false).expect("encode"),
            prompt_ids,
            "prompt {prompt:?}"
        );
        let reference = ids(&case["tokens"]);
        let margins: Vec<f64> = serde_json::from_value(case["margins"].clone()).expect("margins");
        let ours = greedy(&mut model, &prompt_ids, reference.len());
        let agree = ours.iter().zip(&reference).take_while(|((o, _), r)| o == *r).count();
        println!("{model_id} {prompt:?}: {agree}/{} tokens equal mlx-lm", reference.len());
        if agree < reference.len() {
            println!(
                "  first divergence at {agree}: mlx-lm top-2 margin {:.4} nats",
                margins[agree]
            );
        }
        if agree >= MATCH_TOKENS {
            full += 1;
        }
    }
    assert_eq!(
        full,
        fx["cases"].as_array().map_or(0, Vec::len),
        "every prompt must match {MATCH_TOKENS} tokens"
    );
}

#[test]
fn smollm2_on_the_mlx_engine_equals_mlx_lm_on_the_converted_directory() {
    mlx_matches_mlx_lm("smollm2-135m-instruct-q4_1");
}

#[test]
fn gemma3_on_the_mlx_engine_equals_mlx_lm_on_the_converted_directory() {
    mlx_matches_mlx_lm("gemma3-270m-q4_k_m");
}

#[test]
fn both_engines_give_the_same_greedy_tokens_on_the_same_q4_1_file() {
    let model_id = "smollm2-135m-instruct-q4_1";
    let path = gguf_path(model_id);
    // Both engines live in this one process and are used alternately, prompt by prompt.
    let mut gguf = parallax_gguf::load(&path, model_id).expect("gguf engine");
    let mut mlx = parallax_mlx::load(&path, model_id).expect("mlx engine");
    assert!(
        mlx.engine.info().weight_format.contains("bit-exact"),
        "{}",
        mlx.engine.info().weight_format
    );
    let fx = fixture("greedy", model_id);
    let mut full = 0;
    for case in fx["cases"].as_array().expect("cases") {
        let prompt_ids = ids(&case["prompt_ids"]);
        let a = greedy(&mut gguf, &prompt_ids, MATCH_TOKENS);
        let b = greedy(&mut mlx, &prompt_ids, MATCH_TOKENS);
        let agree = a.iter().zip(&b).take_while(|(x, y)| x.0 == y.0).count();
        println!("{:?}: {agree}/{MATCH_TOKENS} equal", case["prompt"]);
        if agree == MATCH_TOKENS {
            full += 1;
        } else {
            let (gm, mm) = (a[agree].1, b[agree].1);
            println!("  first divergence at {agree}: top-2 logit margin gguf {gm:.4}, mlx {mm:.4}");
            assert!(
                gm.min(mm) < NEAR_TIE_LOGITS,
                "a divergence at a clear choice (margins {gm}, {mm}) is a bug"
            );
        }
    }
    assert!(full >= 5, "only {full} prompts matched {MATCH_TOKENS} tokens");
}

#[test]
fn mlx_lm_loads_and_runs_a_converted_directory() {
    let python = workspace(".venv/bin/python");
    assert!(python.is_file(), "the project venv is made by `make deps`");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = gguf_path("smollm2-135m-instruct-q4_1");
    parallax_mlx::convert::convert(&path, dir.path(), Default::default()).expect("convert");
    let script = "import sys; from mlx_lm import load, generate; m, t = load(sys.argv[1]); \
                  print(generate(m, t, prompt='The capital of France is', max_tokens=8))";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(dir.path())
        .output()
        .expect("run mlx-lm");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mlx-lm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Paris"), "mlx-lm wrote {stdout:?}");
}
