//! The MLX engine's memory report includes MLX's allocator figures, and unloading a model
//! returns MLX's active memory to (near) where it was. Alone in its own test binary: MLX's
//! counters are process-wide, so no other test may allocate meanwhile.

use parallax_core::{catalog, generate, Flow, GenerateRequest, Prompt, SamplingParams};

/// What may stay allocated after unload (MLX keeps small internal buffers).
const SLACK_BYTES: u64 = 4 << 20;

#[test]
fn unloading_returns_mlx_active_memory_to_near_zero() {
    let path = catalog::resolve("smollm2-135m-instruct-q4_1").expect("fetched").path;
    parallax_mlx::compute_device();
    let before = mlx_rs::memory::active_memory().expect("active") as u64;
    let mut model = parallax_mlx::load(&path, "smol").expect("load");
    let req = GenerateRequest {
        prompt: Prompt::Raw("The capital of France is".into()),
        max_tokens: 8,
        sampling: SamplingParams::greedy(),
        stop: vec![],
        logprobs: None,
        cache_prompt: false,
        format: None,
        tools: vec![],
        tool_choice: Default::default(),
        logit_bias: vec![],
    };
    generate(&mut model, &req, &mut |_| Flow::Continue).expect("generate");
    let m = model.engine.memory();
    let active = m.allocator_active_bytes.expect("MLX reports active memory");
    println!("loaded: {m:?}");
    assert!(active >= m.weight_bytes, "active {active} < weights {}", m.weight_bytes);
    assert!(m.allocator_peak_bytes.expect("peak") >= active);
    assert!(m.allocator_cache_bytes.is_some());
    assert!(m.kv_cache_bytes > 0 && m.kv_tokens > 0);
    drop(model);
    mlx_rs::memory::clear_cache().expect("clear cache");
    let after = mlx_rs::memory::active_memory().expect("active") as u64;
    println!("active before load {before}, loaded {active}, after unload {after}");
    assert!(
        after <= before + SLACK_BYTES,
        "{after} bytes still active after unload (was {before})"
    );
}
