//! The MLX engine on MLX model directories built here: a tiny random-weight llama runs, and
//! every broken variant of it ends in one clear error line with exit code 1 — never an abort
//! (an MLX exception escaping mlx-rs's handler would exit with 255).

mod common;

use std::path::Path;

use common::{fails_cleanly, parallax, temp_file, Gguf};
use serde_json::{json, Value};

const HIDDEN: usize = 16;
const VOCAB: usize = 8;

fn config(model_type: &str) -> Value {
    json!({
        "model_type": model_type, "hidden_size": HIDDEN, "num_hidden_layers": 1,
        "intermediate_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
        "vocab_size": VOCAB, "max_position_embeddings": 64, "tie_word_embeddings": true,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0
    })
}

/// The tensors of the tiny llama: (name, shape).
fn tiny_llama_tensors() -> Vec<(String, Vec<usize>)> {
    let l = "model.layers.0";
    let t = |n: &str, s: &[usize]| (n.to_owned(), s.to_vec());
    vec![
        t("model.embed_tokens.weight", &[VOCAB, HIDDEN]),
        t(&format!("{l}.input_layernorm.weight"), &[HIDDEN]),
        t(&format!("{l}.self_attn.q_proj.weight"), &[16, HIDDEN]),
        t(&format!("{l}.self_attn.k_proj.weight"), &[8, HIDDEN]),
        t(&format!("{l}.self_attn.v_proj.weight"), &[8, HIDDEN]),
        t(&format!("{l}.self_attn.o_proj.weight"), &[HIDDEN, 16]),
        t(&format!("{l}.post_attention_layernorm.weight"), &[HIDDEN]),
        t(&format!("{l}.mlp.gate_proj.weight"), &[32, HIDDEN]),
        t(&format!("{l}.mlp.up_proj.weight"), &[32, HIDDEN]),
        t(&format!("{l}.mlp.down_proj.weight"), &[HIDDEN, 32]),
        t("model.norm.weight", &[HIDDEN]),
    ]
}

/// A safetensors file of f32 tensors with pseudo-random values in [-0.5, 0.5).
fn safetensors(tensors: &[(String, Vec<usize>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    let mut state = 0x9E37_79B9_u32;
    for (name, shape) in tensors {
        let start = data.len();
        for _ in 0..shape.iter().product::<usize>() {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            data.extend(((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5).to_le_bytes());
        }
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut h = serde_json::to_vec(&header).expect("json");
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

fn tokenizer_json() -> Value {
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "unk_token": "<unk>",
                  "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "a": 3, "b": 4, "c": 5, "d": 6, "e": 7}}
    })
}

/// Writes a complete tiny model directory; `edit` breaks it in one way.
fn tiny_dir(edit: impl FnOnce(&Path, &mut Value, &mut Vec<(String, Vec<usize>)>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut cfg, mut tensors) = (config("llama"), tiny_llama_tensors());
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer_json().to_string()).expect("write");
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        json!({"eos_token": "</s>"}).to_string(),
    )
    .expect("write");
    edit(dir.path(), &mut cfg, &mut tensors);
    if !cfg.is_null() {
        std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");
    }
    if !tensors.is_empty() {
        std::fs::write(dir.path().join("model.safetensors"), safetensors(&tensors)).expect("write");
    }
    dir
}

/// `parallax generate --engine mlx --model <dir> --raw <text> --max-tokens <n>` plus `extra`.
fn mlx_generate_args<'a>(model: &'a str, raw: &'a str, max_tokens: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "generate",
        "--engine",
        "mlx",
        "--model",
        model,
        "--raw",
        raw,
        "--max-tokens",
        max_tokens,
    ];
    args.extend_from_slice(extra);
    args
}

fn mlx_generate_fails(dir: &Path) -> String {
    fails_cleanly(&mlx_generate_args(dir.to_str().expect("utf8"), "a b", "2", &[]))
}

#[test]
fn a_tiny_random_weight_mlx_directory_loads_and_generates() {
    let dir = tiny_dir(|_, _, _| {});
    let model = dir.path().to_str().expect("utf8");
    let out = parallax(&mlx_generate_args(
        model,
        "a b c",
        "40",
        &["--temperature", "0", "--json"],
    ));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let generated = v["usage"]["completion_tokens"].as_u64().expect("usage");
    assert!(generated >= 1);
    // The KV cache holds the prompt and every generated token that was fed back: all but the
    // last when it stopped at max tokens; all of them when the next one sampled was EOS.
    let kv = v["memory"]["kv_tokens"].as_u64().expect("kv_tokens");
    let expected = match v["finish_reason"].as_str() {
        Some("length") => 3 + generated - 1,
        _ => 3 + generated,
    };
    assert_eq!(kv, expected, "finish {:?}, generated {generated}", v["finish_reason"]);
    assert!(v["memory"]["allocator_active_bytes"].as_u64().is_some());
}

#[test]
fn a_sharded_directory_with_an_index_loads() {
    let dir = tiny_dir(|dir, _, tensors| {
        let second = tensors.split_off(tensors.len() / 2);
        let mut weight_map = serde_json::Map::new();
        for (file, part) in [
            ("model-00001-of-00002.safetensors", &*tensors),
            ("model-00002-of-00002.safetensors", &second),
        ] {
            std::fs::write(dir.join(file), safetensors(part)).expect("write");
            for (name, _) in part {
                weight_map.insert(name.clone(), json!(file));
            }
        }
        let index = json!({"metadata": {}, "weight_map": weight_map});
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).expect("write");
        tensors.clear();
    });
    let out = parallax(&mlx_generate_args(dir.path().to_str().expect("utf8"), "a", "3", &[]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_directory_without_config_is_a_clear_error() {
    let dir = tiny_dir(|_, cfg, _| *cfg = Value::Null);
    assert!(mlx_generate_fails(dir.path()).contains("config.json"));
}

#[test]
fn a_directory_without_weights_is_a_clear_error() {
    let dir = tiny_dir(|_, _, tensors| tensors.clear());
    assert!(mlx_generate_fails(dir.path()).contains("no model.safetensors"));
}

#[test]
fn mismatched_shapes_are_a_clear_error() {
    let dir = tiny_dir(|_, _, tensors| tensors[2].1 = vec![16, 12]);
    let line = mlx_generate_fails(dir.path());
    assert!(line.contains("q_proj") && line.contains("shape"), "{line}");
}

#[test]
fn a_missing_tensor_is_a_clear_error() {
    let dir = tiny_dir(|_, _, tensors| {
        tensors.remove(9);
    });
    assert!(mlx_generate_fails(dir.path()).contains("down_proj"));
}

#[test]
fn an_unknown_model_type_is_named_in_the_error() {
    let dir = tiny_dir(|_, cfg, _| cfg["model_type"] = json!("mamba"));
    assert!(mlx_generate_fails(dir.path()).contains("unsupported architecture `mamba`"));
}

#[test]
fn a_corrupt_safetensors_header_is_an_error_not_an_abort() {
    for (name, bytes) in [
        ("garbage header", {
            let mut b = 64u64.to_le_bytes().to_vec();
            b.extend([b'{'; 64]);
            b
        }),
        ("header longer than the file", (1u64 << 40).to_le_bytes().to_vec()),
        ("empty file", vec![]),
    ] {
        let dir = tiny_dir(|_, _, _| {});
        std::fs::write(dir.path().join("model.safetensors"), &bytes).expect("write");
        let line = mlx_generate_fails(dir.path());
        assert!(line.contains("model.safetensors"), "{name}: {line}");
    }
}

#[test]
fn a_gguf_with_an_unsupported_tensor_type_is_refused_by_the_mlx_engine() {
    // IQ2_XXS (ggml type 16): neither MLX nor candle can read it.
    let bytes = Gguf::new(1, 1)
        .kv_str("general.architecture", "llama")
        .string("blk.0.attn_q.weight")
        .u32(2)
        .u64(256)
        .u64(16)
        .u32(16)
        .u64(0)
        .0;
    let f = temp_file(&bytes);
    let line = fails_cleanly(&mlx_generate_args(f.path().to_str().expect("utf8"), "a", "2", &[]));
    assert!(line.contains("unsupported ggml type 16"), "{line}");
}
