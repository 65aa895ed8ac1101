//! Every bad input ends with a one-line error and a non-zero exit: never a panic, a hang or a
//! huge allocation. Crafted GGUF files are built here, byte by byte.

mod common;

use common::{fails_cleanly, temp_file, Gguf};

fn generate_with(model: &str, extra: &[&str]) -> String {
    let mut args = vec!["generate", "--model", model, "--raw", "hello", "--max-tokens", "4"];
    args.extend_from_slice(extra);
    fails_cleanly(&args)
}

const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;

#[test]
fn a_missing_file_is_a_clear_error() {
    let line = generate_with("/nonexistent/model.gguf", &[]);
    assert!(line.contains("not found"), "{line}");
}

#[test]
fn an_unknown_model_id_is_a_clear_error() {
    let line = generate_with("no-such-model", &[]);
    assert!(line.contains("unknown model id"), "{line}");
}

#[test]
fn a_file_that_is_not_gguf_is_rejected() {
    let f = temp_file(b"this is a text file, not a model\n");
    let line = generate_with(f.path().to_str().expect("utf8"), &[]);
    assert!(line.contains("not a GGUF file"), "{line}");
}

#[test]
fn an_empty_file_is_rejected() {
    let f = temp_file(b"");
    assert!(generate_with(f.path().to_str().expect("utf8"), &[]).contains("not a GGUF file"));
}

#[test]
fn a_truncated_gguf_is_rejected() {
    let real = parallax_core::catalog::resolve("smollm2-135m-instruct-q4_1").expect("make models");
    let bytes = std::fs::read(&real.path).expect("read");
    for cut in [3, 100, 4096, bytes.len() / 2, bytes.len() - 1] {
        let f = temp_file(&bytes[..cut]);
        let line = generate_with(f.path().to_str().expect("utf8"), &[]);
        assert!(line.contains("GGUF"), "cut at {cut}: {line}");
    }
}

#[test]
fn absurd_tensor_and_metadata_counts_are_rejected_before_allocating() {
    for (name, bytes) in [
        ("tensor count", Gguf::new(u64::MAX, 0).0),
        ("metadata count", Gguf::new(0, u64::MAX / 2).0),
        ("string length", Gguf::new(0, 1).u64(1 << 60).0),
        (
            "array length",
            Gguf::new(0, 1)
                .string("tokenizer.ggml.tokens")
                .u32(GGUF_ARRAY)
                .u32(GGUF_STRING)
                .u64(1 << 61)
                .0,
        ),
        (
            "string in array",
            Gguf::new(0, 1)
                .string("k")
                .u32(GGUF_ARRAY)
                .u32(GGUF_STRING)
                .u64(1)
                .u64(u64::MAX)
                .0,
        ),
        (
            "tensor dimensions",
            Gguf::new(1, 0)
                .string("t")
                .u32(2)
                .u64(1 << 40)
                .u64(1 << 40)
                .u32(0)
                .u64(0)
                .0,
        ),
        ("tensor rank", Gguf::new(1, 0).string("t").u32(4000).0),
        (
            "tensor type",
            Gguf::new(1, 0).string("t").u32(1).u64(32).u32(9999).u64(0).0,
        ),
        ("value type", Gguf::new(0, 1).string("k").u32(77).0),
    ] {
        let f = temp_file(&bytes);
        let line = generate_with(f.path().to_str().expect("utf8"), &[]);
        assert!(line.contains("invalid GGUF"), "{name}: {line}");
    }
}

#[test]
fn an_unsupported_architecture_is_named_in_the_error() {
    let bytes = Gguf::new(0, 1).kv_str("general.architecture", "mamba").0;
    let f = temp_file(&bytes);
    let line = generate_with(f.path().to_str().expect("utf8"), &[]);
    assert!(line.contains("unsupported architecture `mamba`"), "{line}");
}

#[test]
fn a_prompt_longer_than_the_context_is_refused() {
    let long = "word ".repeat(9000);
    let line = fails_cleanly(&[
        "generate",
        "--model",
        "smollm2-135m-instruct-q4_1",
        "--raw",
        &long,
        "--max-tokens",
        "4",
    ]);
    assert!(line.contains("context length is 8192"), "{line}");
}

#[test]
fn a_negative_temperature_is_refused() {
    let line = generate_with("smollm2-135m-instruct-q4_1", &["--temperature", "-0.5"]);
    assert!(line.contains("temperature"), "{line}");
}

#[test]
fn zero_max_tokens_is_refused() {
    let line = fails_cleanly(&[
        "generate",
        "--model",
        "smollm2-135m-instruct-q4_1",
        "--raw",
        "hi",
        "--max-tokens",
        "0",
    ]);
    assert!(line.contains("max-tokens"), "{line}");
}

#[test]
fn an_unknown_engine_is_refused_with_the_list_of_engines() {
    let line = generate_with("smollm2-135m-instruct-q4_1", &["--engine", "vllm"]);
    assert!(
        line.contains("unknown engine `vllm`") && line.contains("gguf"),
        "{line}"
    );
}

#[test]
fn generating_with_an_embedding_model_says_what_it_is_for() {
    for engine in ["gguf", "mlx"] {
        let line = fails_cleanly(&[
            "generate",
            "--engine",
            engine,
            "--model",
            "all-minilm-l6-v2",
            "--prompt",
            "hi",
        ]);
        assert!(line.contains("embedding model"), "{engine}: {line}");
    }
}
