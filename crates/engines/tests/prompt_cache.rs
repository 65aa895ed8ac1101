//! Prompt caching on the real models, both engines: a chat's second turn prefills only what the
//! first turn's KV cache does not already hold, a regenerate reuses all but the prompt's last
//! token, an edited earlier message reuses only the shared prefix, and past Gemma's sliding
//! window the reuse stays exact. Every reply equals a cold run's at temperature 0.

use parallax_core::generate::tokenize_prompt;
use parallax_core::{
    generate, ChatMessage, Flow, GenerateRequest, GenerationResult, LoadedModel, Prompt, SamplingParams,
};

/// One engine at a time: two on 2 cores fight over them (candle's spinning pool against MLX's
/// threads) and each runs many times slower than alone.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const SMOLLM2: &str = "smollm2-135m-instruct-q4_1";
const GEMMA3: &str = "gemma3-270m-q4_k_m";

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn load(engine: &str, model: &str) -> LoadedModel {
    parallax_engines::load_model(engine, model).unwrap_or_else(|e| panic!("{model} on {engine} (make models): {e}"))
}

fn request(prompt: Prompt, cache_prompt: bool) -> GenerateRequest {
    GenerateRequest {
        prompt,
        max_tokens: 8,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        stop: vec![],
        logprobs: None,
        cache_prompt,
        format: None,
        tools: vec![],
        tool_choice: Default::default(),
        logit_bias: vec![],
    }
}

fn run(model: &mut LoadedModel, prompt: &Prompt, cache_prompt: bool) -> GenerationResult {
    generate(model, &request(prompt.clone(), cache_prompt), &mut |_| Flow::Continue).expect("generate")
}

/// What the KV cache holds after `r` ran on `prompt`: the prompt, then every generated token
/// that was fed back (the last sampled one is not).
fn held_after(model: &LoadedModel, prompt: &Prompt, r: &GenerationResult) -> Vec<u32> {
    let mut held = tokenize_prompt(model, prompt).expect("tokenize");
    held.extend(&r.token_ids);
    held.truncate(r.kv_len);
    held
}

/// The tokens a warm run of `next` can reuse from `held`: their common prefix, all but `next`'s
/// last token at most.
fn expected_reuse(model: &LoadedModel, held: &[u32], next: &Prompt) -> usize {
    let next = tokenize_prompt(model, next).expect("tokenize");
    let common = held.iter().zip(&next).take_while(|(a, b)| a == b).count();
    common.min(next.len() - 1)
}

/// Runs `next` warm after whatever the model last ran, checks the reuse against `held` and the
/// reply against a cold run of the same prompt, and returns the warm result.
fn warm_equals_cold(model: &mut LoadedModel, held: &[u32], next: &Prompt, what: &str) -> GenerationResult {
    let want_cached = expected_reuse(model, held, next);
    let warm = run(model, next, true);
    assert_eq!(warm.usage.cached_tokens, want_cached, "{what}: cached tokens");
    let cold = run(model, next, false);
    assert_eq!(cold.usage.cached_tokens, 0, "{what}: a cold run reuses nothing");
    assert_eq!(warm.usage.prompt_tokens, cold.usage.prompt_tokens, "{what}");
    assert_eq!(
        warm.token_ids, cold.token_ids,
        "{what}: the warm reply differs from the cold one"
    );
    warm
}

fn chat_turns(engine: &str) {
    let mut model = load(engine, SMOLLM2);
    let user = |s: &str| ChatMessage::new("user", s.to_owned());
    let first = Prompt::Chat(vec![user("What is the capital of France?")]);
    let r1 = run(&mut model, &first, true);
    assert_eq!(r1.usage.cached_tokens, 0, "nothing to reuse on the first turn");
    let held = held_after(&model, &first, &r1);

    // Turn two: the first turn's prompt and most of its reply are already in the cache.
    let second = Prompt::Chat(vec![
        user("What is the capital of France?"),
        ChatMessage::new("assistant", r1.text.clone()),
        user("And of Italy?"),
    ]);
    let r2 = warm_equals_cold(&mut model, &held, &second, "second turn");
    assert!(
        r2.usage.cached_tokens >= r1.usage.prompt_tokens,
        "{engine}: the second turn reused {} tokens, fewer than the first turn's prompt ({})",
        r2.usage.cached_tokens,
        r1.usage.prompt_tokens
    );
    assert!(r2.usage.cached_tokens < r2.usage.prompt_tokens);

    // Regenerate: the same prompt again reuses everything but its last token.
    let held = held_after(&model, &second, &r2);
    let again = warm_equals_cold(&mut model, &held, &second, "regenerate");
    assert_eq!(again.usage.cached_tokens, again.usage.prompt_tokens - 1);

    // An edited first message: the prefix diverges mid-way, only the shared part is reused.
    let held = held_after(&model, &second, &again);
    let edited = Prompt::Chat(vec![user("What is the capital of Spain?")]);
    let r3 = warm_equals_cold(&mut model, &held, &edited, "edited message");
    assert!(r3.usage.cached_tokens > 0 && r3.usage.cached_tokens < r1.usage.prompt_tokens - 1);
}

/// Gemma 3's local layers attend to the last 512 positions only. A prompt that shares 520 of
/// the cached positions and then diverges reuses those 520 and must give what a cold run gives.
/// (One cold comparison: MLX's CPU prefill of Gemma runs at about 13 tok/s.)
fn past_the_sliding_window(engine: &str) {
    let mut model = load(engine, GEMMA3);
    let text: String = (1..=50)
        .map(|i| format!("Line {i}: the quick brown fox jumps over the lazy dog. "))
        .collect();
    let long = model.tokenizer.encode(&text, true).expect("encode");
    assert!(
        long.len() > 530,
        "the prompt must pass the 512-token window: {}",
        long.len()
    );
    let first = Prompt::Tokens(long[..530].to_vec());
    let r1 = run(&mut model, &first, true);
    let held = held_after(&model, &first, &r1);
    let mut diverged = long[..520].to_vec();
    diverged.extend(&long[5..25]);
    let r2 = warm_equals_cold(&mut model, &held, &Prompt::Tokens(diverged), "diverged past the window");
    assert!(r2.usage.cached_tokens >= 520, "reused {}", r2.usage.cached_tokens);
}

#[test]
fn gguf_chat_turns_reuse_the_cache() {
    let _one = serial();
    chat_turns("gguf");
}

#[test]
fn mlx_chat_turns_reuse_the_cache() {
    let _one = serial();
    chat_turns("mlx");
}

#[test]
fn gguf_reuse_is_exact_past_the_sliding_window() {
    let _one = serial();
    past_the_sliding_window("gguf");
}

#[test]
fn mlx_reuse_is_exact_past_the_sliding_window() {
    let _one = serial();
    past_the_sliding_window("mlx");
}

/// The GGUF engine's sliding-window layers drop keys no query sees any more once a prompt runs
/// past the window plus a batch. A prompt that diverges after the dropped keys still reuses its
/// prefix; one that diverges before them cannot, and runs cold instead. Both replies equal a cold
/// run's.
#[test]
fn gguf_reuse_after_the_window_dropped_keys_is_exact_or_cold() {
    let _one = serial();
    let mut model = load("gguf", GEMMA3);
    let text: String = (1..=120)
        .map(|i| format!("Line {i}: the quick brown fox jumps over the lazy dog. "))
        .collect();
    let long = model.tokenizer.encode(&text, true).expect("encode");
    assert!(long.len() > 1200, "the prompt must pass window + batch: {}", long.len());
    let first = Prompt::Tokens(long[..1200].to_vec());
    let r1 = run(&mut model, &first, true);
    let held = held_after(&model, &first, &r1);

    let mut late = long[..1150].to_vec();
    late.extend(&long[5..25]);
    let late = Prompt::Tokens(late);
    let r2 = warm_equals_cold(&mut model, &held, &late, "diverged after the dropped keys");
    assert_eq!(r2.usage.cached_tokens, 1150);

    // Back to the long prompt's state, then a prompt that diverges at 300: position 300's
    // window reaches keys the local layers no longer hold, so nothing is reused.
    run(&mut model, &first, true);
    let mut early = long[..300].to_vec();
    early.extend(&long[5..25]);
    let early = Prompt::Tokens(early);
    let warm = run(&mut model, &early, true);
    assert_eq!(
        warm.usage.cached_tokens, 0,
        "a prefix behind the dropped keys is not reused"
    );
    let cold = run(&mut model, &early, false);
    assert_eq!(warm.token_ids, cold.token_ids);
}
