//! Continuous batching on the real SmolLM2, both engines: several sequences in one step give
//! each row the logits it would have had alone, and generations run side by side through the
//! worker's scheduler produce exactly the tokens they produce alone (temperature 0), with
//! their own sampling settings and seeds honoured (a seeded sampled request is unchanged by
//! what runs beside it).

use parallax_core::{EngineHandle, GenerateRequest, LoadedModel, Prompt, SamplingParams, SlotTokens};

const MODEL: &str = "smollm2-135m-instruct-q4_1";

fn load(engine: &str, slots: usize) -> LoadedModel {
    let path = parallax_core::catalog::resolve(MODEL)
        .unwrap_or_else(|e| panic!("{e} (run `make models`)"))
        .path;
    let mut m = parallax_engines::load_model(engine, path.to_str().expect("utf-8")).expect("load");
    assert_eq!(
        m.set_slots(slots).expect("slots"),
        slots,
        "{engine} holds the slots asked for"
    );
    m
}

fn prompts() -> Vec<Vec<u32>> {
    (0..4u32)
        .map(|p| (0..(2 + p)).map(|i| 200 + (i * 37 + p * 101) % 4000).collect())
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Rows in one step against each row alone, bit for bit: prompt rows of different lengths,
/// then decode rows (one token each, as the scheduler batches them). Under 16 rows in all,
/// the GGUF engine's kernels compute each output row from its own input row alone. (From 16
/// rows a matmul takes the panel path, whose rounding differs slightly: the scheduler
/// therefore never mixes a prompt into the decode step.)
#[test]
fn a_batched_step_gives_each_row_its_own_logits() {
    for engine in ["gguf", "mlx"] {
        let prompts = prompts();
        let mut alone = load(engine, 1);
        let mut expected = Vec::new();
        for p in &prompts {
            alone.engine.reset().expect("reset");
            alone.engine.forward(p).expect("prefill");
            expected.push(alone.engine.forward(&[42]).expect("decode"));
        }
        let mut batched = load(engine, 4);
        let rows: Vec<SlotTokens> = prompts
            .iter()
            .enumerate()
            .map(|(slot, tokens)| SlotTokens { slot, tokens })
            .collect();
        let mixed = batched.engine.forward_batch(&rows).expect("prompt rows");
        assert_eq!(mixed.len(), 4);
        let decode: Vec<SlotTokens> = (0..4).map(|slot| SlotTokens { slot, tokens: &[42] }).collect();
        let got = batched.engine.forward_batch(&decode).expect("decode rows");
        for (slot, (g, e)) in got.iter().zip(&expected).enumerate() {
            let d = max_diff(g, e);
            println!("{engine} slot {slot}: max |Δ logit| batched vs alone {d:e}");
            assert_eq!(d, 0.0, "{engine} slot {slot}: batched rows must be exact");
        }
        // Each slot holds its own sequence: the prompt and the decoded token.
        for (slot, p) in prompts.iter().enumerate() {
            batched.select_slot(slot).expect("select");
            assert_eq!(batched.engine.kv_len(), p.len() + 1, "{engine} slot {slot}");
        }
        // Two rows for one slot in one step is refused, not mixed up.
        let twice = [
            SlotTokens { slot: 1, tokens: &[1] },
            SlotTokens { slot: 1, tokens: &[2] },
        ];
        assert!(batched.engine.forward_batch(&twice).is_err(), "{engine}");
    }
}

fn request(prompt: &str, sampling: SamplingParams) -> GenerateRequest {
    let chat = Prompt::Chat(vec![parallax_core::ChatMessage::new("user", prompt)]);
    GenerateRequest {
        // Off: a reused prefix changes how many rows the rest of the prompt is prefilled in,
        // and so the kernel path (see above); with it on, batched and alone would differ by
        // that, not by the batching.
        cache_prompt: false,
        ..GenerateRequest::new(chat, 24, sampling)
    }
}

/// The scheduler: four requests at once on four slots (and a fifth waiting for a slot) give
/// every request the tokens it gets alone; the worker ran them side by side.
#[test]
fn generations_side_by_side_equal_each_generation_alone() {
    let greedy = SamplingParams {
        temperature: 0.0,
        seed: 1,
        ..Default::default()
    };
    let seeded = SamplingParams {
        temperature: 0.9,
        top_k: 40,
        seed: 7,
        ..Default::default()
    };
    let requests = vec![
        request("What is the capital of France?", greedy.clone()),
        request("Name three colours.", greedy.clone()),
        request("Write a haiku about rain.", seeded),
        request("Count from one to ten.", greedy.clone()),
        request("Why is the sky blue?", greedy),
    ];
    for engine in ["gguf", "mlx"] {
        let alone = EngineHandle::spawn(load(engine, 1));
        let expected: Vec<Vec<u32>> = requests
            .iter()
            .map(|r| {
                alone
                    .generate(r.clone())
                    .expect("queue")
                    .collect_blocking()
                    .expect("alone")
                    .token_ids
            })
            .collect();
        drop(alone);
        let handle = EngineHandle::spawn(load(engine, 4));
        assert_eq!(handle.slots(), 4);
        let streams: Vec<_> = requests
            .iter()
            .map(|r| handle.generate(r.clone()).expect("queue"))
            .collect();
        let mut most_at_once = 0;
        let mut results = Vec::new();
        let collectors: Vec<_> = streams
            .into_iter()
            .map(|s| std::thread::spawn(move || s.collect_blocking()))
            .collect();
        while collectors.iter().any(|c| !c.is_finished()) {
            most_at_once = most_at_once.max(handle.live().generations.len());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for c in collectors {
            results.push(c.join().expect("thread").expect("generation"));
        }
        println!("{engine}: at most {most_at_once} generations at once");
        assert!(most_at_once >= 2, "{engine}: the requests never ran side by side");
        assert!(most_at_once <= 4, "{engine}: more generations than slots");
        for (i, (r, e)) in results.iter().zip(&expected).enumerate() {
            assert_eq!(
                &r.token_ids, e,
                "{engine} request {i}: batched output differs from alone"
            );
            assert!(!e.is_empty());
        }
        assert_eq!(handle.live().generations.len(), 0);
        assert_eq!(handle.live().generations_done, 5);
    }
}
