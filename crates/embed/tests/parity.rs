//! The embedding engine against sentence-transformers (tests/fixtures/embeddings, made by
//! scripts/reference/st_embeddings.py) on the real all-MiniLM-L6-v2 that `make models` fetches.

use std::path::Path;

use parallax_core::catalog;
use serde_json::Value;

/// The bar: every vector within 1e-4 of sentence-transformers' in cosine distance.
const MAX_COSINE_DISTANCE: f64 = 1e-4;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/embeddings/all-minilm-l6-v2.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn model_dir() -> std::path::PathBuf {
    catalog::resolve("all-minilm-l6-v2")
        .expect("model fetched by `make models`")
        .path
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y.powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn vectors_match_sentence_transformers() {
    let fx = fixture();
    let embedder = parallax_embed::load(&model_dir(), "all-minilm-l6-v2").expect("load");
    assert_eq!(
        embedder.max_tokens(),
        fx["max_seq_length"].as_u64().expect("max") as usize
    );
    let cases = fx["cases"].as_array().expect("cases");
    let inputs: Vec<String> = cases
        .iter()
        .map(|c| c["input"].as_str().expect("input").to_owned())
        .collect();
    let out = embedder.embed(&inputs).expect("embed");
    assert_eq!(out.vectors.len(), cases.len());
    let mut worst = 0f64;
    let mut tokens = 0;
    for (case, ours) in cases.iter().zip(&out.vectors) {
        let theirs: Vec<f64> = serde_json::from_value(case["vector"].clone()).expect("vector");
        assert_eq!(ours.len(), theirs.len());
        let distance = 1.0 - cosine(ours, &theirs);
        worst = worst.max(distance);
        assert!(
            distance < MAX_COSINE_DISTANCE,
            "{:?}: cosine distance {distance:e}",
            case["input"]
        );
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "normalised: {norm}");
        tokens += case["tokens"].as_u64().expect("tokens") as usize;
    }
    assert_eq!(out.prompt_tokens, tokens, "token counts (truncation at 256 included)");
    eprintln!(
        "{} vectors, worst cosine distance to sentence-transformers {worst:e}",
        cases.len()
    );
}

#[test]
fn one_input_alone_gives_the_same_vector_as_in_a_batch() {
    let embedder = parallax_embed::load(&model_dir(), "all-minilm-l6-v2").expect("load");
    let batch = embedder.embed(&["alpha".into(), "beta gamma".into()]).expect("batch");
    let alone = embedder.embed(&["beta gamma".into()]).expect("alone");
    assert_eq!(batch.vectors[1], alone.vectors[0]);
    assert_ne!(batch.vectors[0], batch.vectors[1]);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn broken_directories_are_clear_errors() {
    let missing = parallax_embed::load(Path::new("/nonexistent/minilm"), "x")
        .err()
        .expect("missing dir");
    assert_eq!(missing.code(), "model_not_found");

    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&model_dir(), tmp.path());
    std::fs::write(tmp.path().join("model.safetensors"), b"not a safetensors file").expect("write");
    let corrupt = parallax_embed::load(tmp.path(), "x").err().expect("corrupt weights");
    assert_eq!(corrupt.code(), "invalid_model");
    assert!(corrupt.to_string().contains("model.safetensors"), "{corrupt}");

    std::fs::remove_file(tmp.path().join("1_Pooling/config.json")).expect("rm");
    let no_pooling = parallax_embed::load(tmp.path(), "x").err().expect("no pooling config");
    assert!(no_pooling.to_string().contains("1_Pooling"), "{no_pooling}");
}
