//! `parallax tokenize` on llama.cpp's vocab-only test files, and models found where users keep
//! them (a Hugging Face cache, LM Studio's folder, a user folder) listed, run by id, and
//! refused with a reason where an engine cannot run them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vocab(name: &str) -> PathBuf {
    root().join(format!("models/llama.cpp/ggml-vocab-{name}.gguf"))
}

fn run_with_home(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(args)
        .env("HOME", home)
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_CACHE")
        .env_remove("PARALLAX_MODEL_DIRS")
        .output()
        .expect("run parallax")
}

#[test]
fn tokenize_prints_llama_cpps_ids_for_a_vocab_only_file() {
    // Case 5 of llama.cpp's llama-bpe vectors: " Hello" → [22691].
    let path = vocab("llama-bpe");
    let p = path.to_str().expect("utf-8");
    let out = common::parallax(&["tokenize", "--model", p, "--text", " Hello World", "--no-bos", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ids"], serde_json::json!([22691, 4435]));
    assert_eq!(v["pieces"], serde_json::json!([" Hello", " World"]));

    // With BOS (Llama 3 adds it), and a special token read as a token unless told otherwise.
    let out = common::parallax(&["tokenize", "--model", p, "--text", "<|eot_id|>", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ids"], serde_json::json!([128000, 128009]));
    let out = common::parallax(&[
        "tokenize",
        "--model",
        p,
        "--text",
        "<|eot_id|>",
        "--no-parse-special",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["ids"].as_array().expect("ids").len() > 2, "{v}");
}

#[test]
fn tokenize_refuses_an_unknown_pre_tokenizer_and_a_missing_file_in_one_line() {
    let line = common::fails_cleanly(&["tokenize", "--model", "/nonexistent/x.gguf", "--text", "hi"]);
    assert!(line.contains("not found"), "{line}");
    // bert-bge is a WordPiece vocabulary: refused by name.
    let path = vocab("bert-bge");
    let line = common::fails_cleanly(&["tokenize", "--model", path.to_str().expect("utf-8"), "--text", "hi"]);
    assert!(line.contains("bert"), "{line}");
}

fn link(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(from, to).expect("symlink");
}

#[test]
fn models_in_the_hf_cache_lm_studio_and_a_folder_are_listed_and_run_by_id() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let tiny = root().join("models/tiny/qwen2.gguf");
    // Hugging Face hub cache: a GGUF repo, and an MLX repo (config + safetensors + tokenizer).
    let snap = h.join(".cache/huggingface/hub/models--tiny-org--Qwen2-GGUF/snapshots/abc123");
    link(&tiny, &snap.join("qwen2-f32.gguf"));
    let mlx = h.join(".cache/huggingface/hub/models--tiny-org--Qwen3-mlx/snapshots/def456");
    for f in ["config.json", "model.safetensors"] {
        link(&root().join("models/tiny/qwen3").join(f), &mlx.join(f));
    }
    // LM Studio: a sharded GGUF with its second part missing, and a vocabulary-only file.
    let lms = h.join(".lmstudio/models/pub/Big-GGUF");
    link(&tiny, &lms.join("big-Q8_0-00001-of-00002.gguf"));
    link(&vocab("gpt-2"), &h.join(".lmstudio/models/pub/vocab/gpt2-vocab.gguf"));
    // ... a mixture of experts, and the same with its experts in MXFP4 ...
    for f in ["qwen3moe.gguf", "qwen3moe-mxfp4.gguf"] {
        link(
            &root().join("models/tiny").join(f),
            &h.join(".lmstudio/models/pub/MoE-GGUF").join(f),
        );
    }
    // ... and a complete split model (three parts written by gguf-py).
    for k in 1..=3 {
        let name = format!("qwen2-split-0000{k}-of-00003.gguf");
        link(
            &root().join("models/tiny/split").join(&name),
            &h.join(".lmstudio/models/pub/Split-GGUF").join(&name),
        );
    }

    let out = run_with_home(h, &["models", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let found = v["found"].as_array().expect("found");
    let by_id = |id: &str| {
        found
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {found:?}"))
    };
    let gguf = by_id("hf:tiny-org/Qwen2-GGUF/qwen2-f32.gguf");
    assert_eq!(gguf["architecture"], "qwen2");
    assert_eq!(gguf["quantization"], "F32");
    assert_eq!(gguf["gguf_engine"]["ok"], true);
    assert_eq!(gguf["mlx_engine"]["ok"], true);
    let dir = by_id("hf:tiny-org/Qwen3-mlx");
    assert_eq!(dir["format"], "mlx");
    assert_eq!(dir["gguf_engine"]["ok"], false);
    assert!(
        dir["mlx_engine"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("tokenizer.json"),
        "{dir}"
    );
    let split = by_id("lmstudio:pub/Big-GGUF/big-Q8_0-00001-of-00002.gguf");
    assert_eq!(split["parts"], 2);
    assert!(
        split["gguf_engine"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("part 2 of 2 is missing"),
        "{split}"
    );
    let whole = by_id("lmstudio:pub/Split-GGUF/qwen2-split-00001-of-00003.gguf");
    assert_eq!(
        (whole["parts"].as_u64(), whole["gguf_engine"]["ok"].as_bool()),
        (Some(3), Some(true)),
        "{whole}"
    );
    assert!(
        !found
            .iter()
            .any(|m| m["id"].as_str().unwrap_or_default().contains("00002-of-00003")),
        "listed once"
    );
    let vocab_only = by_id("lmstudio:pub/vocab/gpt2-vocab.gguf");
    assert_eq!(vocab_only["gguf_engine"]["ok"], false);
    // A mixture of experts says what one token reads; its MXFP4 twin runs on both engines.
    let moe = by_id("lmstudio:pub/MoE-GGUF/qwen3moe.gguf");
    let active = moe["active_weight_bytes"].as_u64().expect("active bytes");
    assert!(active < moe["size_bytes"].as_u64().unwrap_or(0), "{moe}");
    assert!(gguf["active_weight_bytes"].is_null(), "a dense model: {gguf}");
    let fp4 = by_id("lmstudio:pub/MoE-GGUF/qwen3moe-mxfp4.gguf");
    assert_eq!(
        (fp4["gguf_engine"]["ok"].as_bool(), fp4["mlx_engine"]["ok"].as_bool()),
        (Some(true), Some(true))
    );
    let table = run_with_home(h, &["models"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("MB read per token"));

    // The ids run on both engines, the split one too.
    for (engine, id) in [
        ("gguf", "hf:tiny-org/Qwen2-GGUF/qwen2-f32.gguf"),
        ("mlx", "hf:tiny-org/Qwen2-GGUF/qwen2-f32.gguf"),
        ("gguf", "lmstudio:pub/Split-GGUF/qwen2-split-00001-of-00003.gguf"),
    ] {
        let out = run_with_home(
            h,
            &[
                "generate",
                "--engine",
                engine,
                "--model",
                id,
                "--raw",
                "Hello",
                "--max-tokens",
                "3",
                "--temperature",
                "0",
                "--json",
            ],
        );
        assert!(
            out.status.success(),
            "{engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["usage"]["completion_tokens"], 3, "{v}");
    }

    // A user folder, named on the command line.
    let folder = tempfile::tempdir().expect("folder");
    link(&tiny, &folder.path().join("deep/er/model.gguf"));
    let out = run_with_home(
        h,
        &["models", "--json", "--folder", folder.path().to_str().expect("utf-8")],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let name = folder.path().file_name().expect("name").to_string_lossy().into_owned();
    let want = format!("folder:{name}/deep/er/model.gguf");
    assert!(
        v["found"]
            .as_array()
            .expect("found")
            .iter()
            .any(|m| m["id"] == want.as_str()),
        "{v}"
    );
}
