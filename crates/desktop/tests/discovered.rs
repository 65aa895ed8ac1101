//! Models found in the Hugging Face cache reach the app's picker, grouped by source, and load
//! by their discovered id; one no engine can run is listed with the reason, not hidden.
//! (Its own test binary: it points `HF_HUB_CACHE` at a temporary cache for the whole process.)

use std::path::Path;

use parallax_desktop::{App, Choice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_picker_lists_hf_cache_models_by_source_and_loads_them_by_id() {
    let cache = tempfile::tempdir().expect("tempdir");
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny/qwen3.gguf");
    let snap = cache.path().join("models--tiny-org--Qwen3-GGUF/snapshots/abc");
    std::fs::create_dir_all(&snap).expect("mkdir");
    std::os::unix::fs::symlink(&tiny, snap.join("qwen3-f32.gguf")).expect("link");
    std::os::unix::fs::symlink(&tiny, snap.join("split-00001-of-00002.gguf")).expect("link");
    // An MLX directory: the HF config and weights, with a tokenizer.json.
    let mlx = cache.path().join("models--tiny-org--Qwen3-mlx/snapshots/def");
    std::fs::create_dir_all(&mlx).expect("mkdir");
    let tiny_dir = tiny.with_extension("");
    for f in ["config.json", "model.safetensors"] {
        std::os::unix::fs::symlink(tiny_dir.join(f), mlx.join(f)).expect("link");
    }
    let tok =
        parallax_core::Tokenizer::from_gguf(&parallax_core::GgufHeader::read(&tiny).expect("header")).expect("tok");
    std::fs::write(mlx.join("tokenizer.json"), tok.to_hf_json().expect("json")).expect("write");
    std::env::set_var("HF_HUB_CACHE", cache.path());

    let dir = tempfile::tempdir().expect("app dir");
    let app = App::open(dir.path()).expect("open");
    let options = app.model_options(None).expect("options");
    let found = options
        .iter()
        .find(|m| m.id == "hf:tiny-org/Qwen3-GGUF/qwen3-f32.gguf")
        .unwrap_or_else(|| panic!("not listed: {options:?}"));
    assert_eq!(found.source, "Hugging Face cache");
    assert_eq!(found.architecture, "qwen3");
    assert_eq!(
        (found.gguf_unsupported.as_deref(), found.mlx_unsupported.as_deref()),
        (None, None)
    );
    assert!(found.fit.kv_cache_bytes > 0, "{found:?}");
    let split = options
        .iter()
        .find(|m| m.id == "hf:tiny-org/Qwen3-GGUF/split-00001-of-00002.gguf")
        .expect("the split model is listed");
    assert!(split
        .gguf_unsupported
        .as_deref()
        .unwrap_or_default()
        .contains("part 2 of 2 is missing"));
    assert_eq!(options.first().map(|m| m.source.as_str()), Some("Catalog"));
    let dir = options
        .iter()
        .find(|m| m.id == "hf:tiny-org/Qwen3-mlx")
        .unwrap_or_else(|| panic!("MLX dir not listed: {options:?}"));
    assert_eq!(dir.format, "mlx");
    assert!(
        dir.gguf_unsupported.is_some() && dir.mlx_unsupported.is_none(),
        "{dir:?}"
    );
    assert!(dir.fit.kv_cache_bytes > 0, "the KV estimate reads config.json: {dir:?}");

    for engine in ["gguf", "mlx"] {
        let choice = Choice {
            engine: engine.into(),
            model: found.id.clone(),
        };
        app.preload(&choice).await.unwrap_or_else(|e| panic!("{engine}: {e:?}"));
    }
}
