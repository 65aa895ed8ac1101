//! Every synthetic shape `parallax bench --synthetic` offers, scaled down, written and run on
//! both engines: the file loads as its family on each, and the two engines read the same
//! weights (their logits on one prompt agree closely; random weights make no clear top token,
//! so agreement is measured over the whole vocabulary, not by greedy tokens). GPT-OSS's shape
//! carries MXFP4 experts, which the MLX engine runs as MLX's mxfp4 mode.

use parallax_core::synthetic::{presets, Shape};
use parallax_core::GgufHeader;

/// Correlation of two logit vectors.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

#[test]
fn every_synthetic_shape_runs_on_both_engines_from_the_same_weights() {
    let tokenizer = parallax_core::catalog::resolve("smollm2-135m-instruct-q4_1")
        .unwrap_or_else(|e| panic!("{e} (run `make models`)"))
        .path;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for preset in presets() {
        let small = format!("{},layers=2,hidden=256,heads=4,kv_heads=2,head_dim=64", preset.name);
        let small = match preset.experts {
            0 => format!("{small},ff=512"),
            _ => format!("{small},ff=128"),
        };
        let shape = Shape::parse(&small).expect("shape");
        let path = dir.path().join(format!("{}.gguf", shape.name));
        parallax_gguf::synthetic::write(&shape, &tokenizer, &path).expect("write");
        let header = GgufHeader::read(&path).expect("header");
        let expert_type = header
            .tensors
            .iter()
            .find(|t| t.name == "blk.0.ffn_up_exps.weight")
            .map(|t| t.ggml_type.name);
        let ids: Vec<u32> = (1..40).map(|i| i * 97 % 49_000).collect();
        let mut logits = Vec::new();
        for engine in ["gguf", "mlx"] {
            let mut m = parallax_engines::load_model(engine, path.to_str().expect("utf-8"))
                .unwrap_or_else(|e| panic!("{} on {engine}: {e}", shape.name));
            let info = m.engine.info().clone();
            let l = m.engine.forward(&ids).expect("forward");
            assert!(l.iter().all(|x| x.is_finite()), "{} on {engine}", shape.name);
            println!(
                "{:16} {engine:4} {} ({})",
                shape.name, info.architecture, info.weight_format
            );
            logits.push((l, info.architecture));
        }
        let r = correlation(&logits[0].0, &logits[1].0);
        println!(
            "{:16} GGUF vs MLX logits: correlation {r:.5}; experts {expert_type:?}",
            shape.name
        );
        assert_eq!(logits[0].1, logits[1].1);
        if shape.name.starts_with("gpt-oss") {
            assert_eq!((logits[0].1.as_str(), expert_type), ("gpt-oss", Some("MXFP4")));
        }
        // The engines differ only in how they round activations (the GGUF engine to 8 bits).
        if !(r > 0.99) {
            failures.push(format!("{}: correlation {r}", shape.name));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
