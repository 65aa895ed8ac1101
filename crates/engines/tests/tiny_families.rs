//! Every family on both engines, proved on the tiny random-weight models that
//! `scripts/reference/tiny_models.py` writes (real tokenizer metadata, F32 weights):
//! - the GGUF engine against llama.cpp on the GGUF,
//! - the MLX engine against mlx-lm on the HF directory, and on mlx-lm's 4-bit quantization of it,
//! - the MLX engine on the directory `parallax convert` writes from the GGUF, against llama.cpp,
//! - the MLX engine on the GGUF against the GGUF engine.
//!
//! Each compares the last-position logits of three prompts (max and mean |Δ| over the
//! reference's top 64) and 16 greedy tokens. The models' logits are peaky (std ≈ 8), so greedy
//! tokens must match exactly; the logit tolerance is `MAX_ABS_DELTA` (f32 on both sides).

use std::path::{Path, PathBuf};

use parallax_core::{Engine, GgufHeader, LoadedModel, Tokenizer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const FAMILIES: &[&str] = &[
    "llama3",
    "mistral",
    "qwen2",
    "qwen3",
    "phi3",
    "gemma2",
    "qwen2-yarn",
    "phi3-longrope",
    "mixtral",
    "qwen3moe",
    "gpt-oss",
    "llama4",
];
/// The mixture-of-experts families, whose fixtures also hold each reference's routing.
const MOE_FAMILIES: &[&str] = &["mixtral", "qwen3moe", "gpt-oss", "llama4"];
/// Both sides compute in f32 (the GGUF engine with an f32 KV cache, as the fixtures were
/// made); differences are float-order only.
const MAX_ABS_DELTA: f32 = 2e-3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(family: &str) -> Value {
    let path = root().join(format!("tests/fixtures/tiny/{family}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e} (run `make models`)", path.display()));
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The tiny model files, checked to be the ones the references ran.
fn tiny(family: &str, fx: &Value) -> (PathBuf, PathBuf) {
    let gguf = root().join(format!("models/tiny/{family}.gguf"));
    let dir = root().join(format!("models/tiny/{family}"));
    assert_eq!(
        sha256(&gguf),
        fx["gguf_sha256"].as_str().unwrap_or_default(),
        "{family}.gguf differs from the fixture's"
    );
    assert_eq!(
        sha256(&dir.join("model.safetensors")),
        fx["safetensors_sha256"].as_str().unwrap_or_default(),
        "{family}/model.safetensors differs from the fixture's"
    );
    (gguf, dir)
}

/// An MLX directory for the engine: the HF config and weights, with the GGUF's tokenizer as
/// `tokenizer.json` (the references are fed token ids, so the tokenizer is not under test here).
fn mlx_dir(gguf: &Path, dir: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(dir).expect("model dir") {
        let path = entry.expect("entry").path();
        std::os::unix::fs::symlink(&path, tmp.path().join(path.file_name().expect("name"))).expect("symlink");
    }
    let tok = Tokenizer::from_gguf(&GgufHeader::read(gguf).expect("header")).expect("tokenizer");
    std::fs::write(tmp.path().join("tokenizer.json"), tok.to_hf_json().expect("json")).expect("write");
    tmp
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

struct Comparison {
    max_abs: f32,
    mean_abs: f32,
    greedy_same: usize,
    greedy_total: usize,
}

/// Runs `engine` on each reference case: logits after the prompt, then the reference's greedy
/// tokens fed back one at a time, comparing our argmax at every step.
fn compare(engine: &mut dyn Engine, cases: &Value) -> Comparison {
    let (mut max_abs, mut sum_abs, mut n) = (0f32, 0f32, 0usize);
    let (mut greedy_same, mut greedy_total) = (0, 0);
    for case in cases.as_array().expect("cases") {
        engine.reset().expect("reset");
        let mut logits = engine.forward(&ids(&case["ids"])).expect("forward");
        for pair in case["top"].as_array().expect("top") {
            let id = pair[0].as_u64().expect("id") as usize;
            let want = pair[1].as_f64().expect("logit") as f32;
            let d = (logits[id] - want).abs();
            max_abs = max_abs.max(d);
            sum_abs += d;
            n += 1;
        }
        for step in case["greedy"].as_array().expect("greedy") {
            let want = step[0].as_u64().expect("token") as u32;
            greedy_total += 1;
            greedy_same += usize::from(argmax(&logits) == want);
            logits = engine.forward(&[want]).expect("forward");
        }
    }
    Comparison {
        max_abs,
        mean_abs: sum_abs / n.max(1) as f32,
        greedy_same,
        greedy_total,
    }
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn check(label: &str, c: &Comparison, failures: &mut Vec<String>) {
    println!(
        "{label:40} max|Δ| {:.2e}  mean|Δ| {:.2e}  greedy {}/{}",
        c.max_abs, c.mean_abs, c.greedy_same, c.greedy_total
    );
    if c.max_abs.is_nan() || c.max_abs > MAX_ABS_DELTA || c.greedy_same != c.greedy_total {
        failures.push(label.to_owned());
    }
}

fn load(engine: &str, path: &Path) -> LoadedModel {
    let r = match engine {
        // The llama.cpp fixtures were made with f32 caches (make_greedy_fixtures.py).
        "gguf" => parallax_gguf::load_with_cache(path, "tiny", parallax_gguf::KvCacheType::F32),
        _ => parallax_mlx::load(path, "tiny"),
    };
    r.unwrap_or_else(|e| panic!("{engine} {}: {e}", path.display()))
}

/// The engine's own logits and greedy tokens on each case's prompt, in the fixture's shape.
fn reference_from(engine: &mut dyn Engine, cases: &Value) -> Value {
    let mut out = Vec::new();
    for case in cases.as_array().expect("cases") {
        engine.reset().expect("reset");
        let mut logits = engine.forward(&ids(&case["ids"])).expect("forward");
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let top: Vec<Value> = order[..64].iter().map(|&i| json!([i, logits[i]])).collect();
        let mut greedy = Vec::new();
        for _ in 0..16 {
            let t = argmax(&logits);
            greedy.push(json!([t, 0.0]));
            logits = engine.forward(&[t]).expect("forward");
        }
        out.push(json!({ "ids": case["ids"], "top": top, "greedy": greedy }));
    }
    Value::Array(out)
}

#[test]
fn every_family_matches_llama_cpp_and_mlx_lm_on_both_engines() {
    let mut failures = Vec::new();
    for family in FAMILIES {
        let fx = fixture(family);
        let (gguf, dir) = tiny(family, &fx);
        // Mistral GGUFs say `llama` (llama.cpp's converter writes them so); the HF config says
        // mistral. `qwen2-yarn` and `phi3-longrope` are their families with long-context RoPE.
        let base = family.trim_end_matches("-yarn").trim_end_matches("-longrope");
        let hf_arch = if base == "llama3" { "llama" } else { base };
        let gguf_arch = if *family == "mistral" { "llama" } else { hf_arch };

        let mut on_gguf = load("gguf", &gguf);
        assert_eq!(on_gguf.engine.info().architecture, gguf_arch);
        let c = compare(on_gguf.engine.as_mut(), &fx["llama_cpp"]["cases"]);
        check(&format!("{family}: GGUF engine vs llama.cpp"), &c, &mut failures);

        let tmp = mlx_dir(&gguf, &dir);
        let mut on_dir = load("mlx", tmp.path());
        assert_eq!(on_dir.engine.info().architecture, hf_arch);
        let c = compare(on_dir.engine.as_mut(), &fx["mlx_lm"]["cases"]);
        check(&format!("{family}: MLX engine (HF dir) vs mlx-lm"), &c, &mut failures);

        // mlx-lm's own 4-bit quantization of the HF directory (written by `make models`; not
        // hash-checked, since quantizing is float arithmetic: the tolerance covers another CPU).
        let q4 = mlx_dir(&gguf, &root().join(format!("models/tiny/{family}-mlx-q4")));
        let mut on_q4 = load("mlx", q4.path());
        assert!(
            on_q4.engine.info().weight_format.contains("4-bit"),
            "{}",
            on_q4.engine.info().weight_format
        );
        let c = compare(on_q4.engine.as_mut(), &fx["mlx_lm_q4"]["cases"]);
        check(
            &format!("{family}: MLX engine (MLX 4-bit dir) vs mlx-lm"),
            &c,
            &mut failures,
        );

        // `parallax convert`: the config.json written from the description loads back the same.
        let converted = tempfile::tempdir().expect("tempdir");
        parallax_mlx::convert::convert(&gguf, converted.path(), Default::default()).expect("convert");
        let mut on_converted = load("mlx", converted.path());
        let c = compare(on_converted.engine.as_mut(), &fx["llama_cpp"]["cases"]);
        check(
            &format!("{family}: MLX engine (converted dir) vs llama.cpp"),
            &c,
            &mut failures,
        );

        let mut mlx_on_gguf = load("mlx", &gguf);
        let ours = reference_from(on_gguf.engine.as_mut(), &fx["llama_cpp"]["cases"]);
        let c = compare(mlx_on_gguf.engine.as_mut(), &ours);
        check(
            &format!("{family}: MLX engine (GGUF) vs GGUF engine"),
            &c,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "out of tolerance: {failures:?}");
}

/// The experts an engine chose for each prompt token, per layer, checked against a reference's
/// (sorted sets: the order within a token's choice is not part of routing). The reference may
/// hold fewer tokens in a layer (llama.cpp runs its last layer on the last token only): its
/// tokens are the engine's last ones. References list the layers with experts only (Llama 4
/// interleaves dense ones).
fn compare_routing(engine: &mut dyn Engine, cases: &Value, label: &str, failures: &mut Vec<String>) {
    assert!(
        engine.record_routing(true),
        "{label}: the engine has no experts to record"
    );
    let (mut same, mut total) = (0, 0);
    for case in cases.as_array().expect("cases") {
        engine.reset().expect("reset");
        engine.take_routing();
        engine.forward(&ids(&case["ids"])).expect("forward");
        let log = engine.take_routing().expect("routing log");
        let k = log.experts_used;
        let reference = case["routing"].as_array().expect("the fixture has routing");
        let routed: Vec<usize> = (0..log.layers.len()).filter(|&l| !log.layers[l].is_empty()).collect();
        assert_eq!(routed.len(), reference.len(), "{label}: layers with experts");
        for (&layer, want) in routed.iter().zip(reference) {
            let want: Vec<u32> = ids(want);
            let ours = log.layers[layer].len() / k;
            let theirs = want.len() / k;
            assert!(
                ours >= theirs,
                "{label}: layer {layer} has {ours} tokens, the reference {theirs}"
            );
            for t in 0..theirs {
                let mut w = want[t * k..(t + 1) * k].to_vec();
                w.sort_unstable();
                total += 1;
                same += usize::from(log.chosen(layer, ours - theirs + t) == w);
            }
        }
    }
    engine.record_routing(false);
    println!("{label:40} routing {same}/{total} tokens");
    if same != total || total == 0 {
        failures.push(format!("{label}: routing {same}/{total}"));
    }
}

#[test]
fn moe_routing_chooses_the_references_experts_on_both_engines() {
    let mut failures = Vec::new();
    for family in MOE_FAMILIES {
        let fx = fixture(family);
        let (gguf, dir) = tiny(family, &fx);
        let mut on_gguf = load("gguf", &gguf);
        compare_routing(
            on_gguf.engine.as_mut(),
            &fx["llama_cpp"]["cases"],
            &format!("{family}: GGUF engine vs llama.cpp"),
            &mut failures,
        );
        let tmp = mlx_dir(&gguf, &dir);
        let mut on_dir = load("mlx", tmp.path());
        compare_routing(
            on_dir.engine.as_mut(),
            &fx["mlx_lm"]["cases"],
            &format!("{family}: MLX engine (HF dir) vs mlx-lm"),
            &mut failures,
        );
        let mut mlx_on_gguf = load("mlx", &gguf);
        compare_routing(
            mlx_on_gguf.engine.as_mut(),
            &fx["llama_cpp"]["cases"],
            &format!("{family}: MLX engine (GGUF) vs llama.cpp"),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{failures:?}");
    // A dense model has nothing to record.
    let fx = fixture("qwen3");
    let (gguf, _) = tiny("qwen3", &fx);
    assert!(!load("gguf", &gguf).engine.record_routing(true));
}

#[test]
fn quantized_experts_match_llama_cpp_on_both_engines() {
    // The MoE models with their matrices and experts in Q4_0, and with their experts in MXFP4:
    // the GGUF engine's quantized expert matmuls (panels where an expert gets enough rows)
    // against llama.cpp's, and the MLX
    // engine on the same file. Q4_0 maps to MLX's affine 4-bit exactly, but MLX multiplies by
    // f32 activations where llama.cpp quantizes them to 8 bits: measured 0.4-0.5 apart on
    // logits of std ~8, and close greedy steps can go either way. So the MLX side is a bound
    // (`MLX_ON_Q4_DELTA`; a wrong expert or layout is off by several units), not a parity
    // check: the MLX engine's quantized experts are held to mlx-lm's own 4-bit model above.
    // The same bound holds the MLX engine on the MXFP4 files (MLX's mxfp4 mode).
    const MLX_ON_Q4_DELTA: f32 = 1.0;
    let mut failures = Vec::new();
    for (family, quant) in MOE_FAMILIES.iter().flat_map(|f| [(f, "q4_0"), (f, "mxfp4")]) {
        let fx = &fixture(family)[format!("llama_cpp_{quant}").as_str()];
        let path = root().join(format!("models/tiny/{family}-{quant}.gguf"));
        assert_eq!(sha256(&path), fx["gguf_sha256"].as_str().unwrap_or_default());
        let mut on_gguf = load("gguf", &path);
        let header = GgufHeader::read(&path).expect("header");
        let experts = header.tensors.iter().find(|t| t.name.ends_with(".ffn_up_exps.weight"));
        assert_eq!(experts.map(|t| t.ggml_type.name.to_lowercase()), Some(quant.to_owned()));
        let c = compare(on_gguf.engine.as_mut(), &fx["cases"]);
        let label = format!("{family} {quant}: GGUF engine vs llama.cpp");
        check(&label, &c, &mut failures);
        compare_routing(on_gguf.engine.as_mut(), &fx["cases"], &label, &mut failures);
        let mut on_mlx = load("mlx", &path);
        if quant == "mxfp4" {
            // MXFP4 maps to MLX's mxfp4 mode bit-exactly (the repacking is checked against
            // ggml's values in parallax-mlx's unit tests); the bound covers the activations,
            // which llama.cpp quantizes to 8 bits and MLX does not.
            let format = &on_mlx.engine.info().weight_format;
            assert!(format.contains("mxfp4"), "{format}");
        }
        let c = compare(on_mlx.engine.as_mut(), &fx["cases"]);
        println!(
            "{family} {quant}: MLX engine vs llama.cpp  max|Δ| {:.2e} greedy {}/{}",
            c.max_abs, c.greedy_same, c.greedy_total
        );
        if c.max_abs.is_nan() || c.max_abs > MLX_ON_Q4_DELTA {
            failures.push(format!("{family} {quant}: MLX engine vs llama.cpp"));
        }
    }
    // mlx-lm's own mxfp4-mode quantization of each HF directory (every matrix, the embedding
    // too): MLX on both sides, so held to the float tolerance.
    for family in MOE_FAMILIES {
        let fx = fixture(family);
        let (gguf, _) = tiny(family, &fx);
        let dir = mlx_dir(&gguf, &root().join(format!("models/tiny/{family}-mlx-mxfp4")));
        let mut on_dir = load("mlx", dir.path());
        let format = &on_dir.engine.info().weight_format;
        assert!(format.contains("mxfp4"), "{format}");
        let c = compare(on_dir.engine.as_mut(), &fx["mlx_lm_mxfp4"]["cases"]);
        check(
            &format!("{family}: MLX engine (MLX mxfp4 dir) vs mlx-lm"),
            &c,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn a_mixtral_gguf_with_one_tensor_per_expert_runs_as_the_stacked_one() {
    // The older layout (blk.N.ffn_gate.E), which llama.cpp no longer loads: the same weights as
    // mixtral.gguf, so both engines must give the stacked file's reference results.
    let fx = fixture("mixtral");
    let path = root().join("models/tiny/mixtral-per-expert.gguf");
    let mut failures = Vec::new();
    for engine in ["gguf", "mlx"] {
        let mut m = load(engine, &path);
        assert_eq!(m.engine.info().architecture, "mixtral");
        let c = compare(m.engine.as_mut(), &fx["llama_cpp"]["cases"]);
        check(&format!("mixtral per-expert: {engine} vs llama.cpp"), &c, &mut failures);
    }
    assert!(failures.is_empty(), "out of tolerance: {failures:?}");
}

#[test]
fn a_split_gguf_loads_as_one_model_on_both_engines() {
    // The qwen2 tiny model split in three by gguf-py (as llama.cpp's gguf-split writes it).
    let fx = fixture("qwen2");
    let first = root().join("models/tiny/split/qwen2-split-00001-of-00003.gguf");
    let mut failures = Vec::new();
    let mut on_gguf = load("gguf", &first);
    let c = compare(on_gguf.engine.as_mut(), &fx["llama_cpp"]["cases"]);
    check("qwen2 split in 3: GGUF engine vs llama.cpp", &c, &mut failures);
    let mut on_mlx = load("mlx", &first);
    let c = compare(on_mlx.engine.as_mut(), &fx["llama_cpp"]["cases"]);
    check("qwen2 split in 3: MLX engine vs llama.cpp", &c, &mut failures);
    assert!(failures.is_empty(), "out of tolerance: {failures:?}");

    // Part 2 missing: each engine names it.
    let tmp = tempfile::tempdir().expect("tempdir");
    for k in [1, 3] {
        let name = format!("qwen2-split-0000{k}-of-00003.gguf");
        std::os::unix::fs::symlink(first.with_file_name(&name), tmp.path().join(&name)).expect("link");
    }
    let broken = tmp.path().join("qwen2-split-00001-of-00003.gguf");
    for engine in ["gguf", "mlx"] {
        let err = match engine {
            "gguf" => parallax_gguf::load(&broken, "broken").err(),
            _ => parallax_mlx::load(&broken, "broken").err(),
        }
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("part 2 of 3") && err.contains("qwen2-split-00002-of-00003.gguf"),
            "{engine}: {err}"
        );
    }
}
