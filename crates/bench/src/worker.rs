//! The worker side: one engine in one fresh process runs the suites and reports each result as
//! soon as it has it (the parent writes them to disk as they come).

use std::time::Instant;

use parallax_core::generate::encode_chat;
use parallax_core::{
    ChatMessage, EngineHandle, Event, FinishReason, GenerateRequest, LoadedModel, Prompt, SamplingParams,
};

use crate::memory::process_memory;
use crate::prompts::{prompt_set, PromptSet};
use crate::record::{ContextRecord, LeakSample, RunRecord, Settings, Suite, WorkerEvent};

/// Categories of the quick suite.
pub const QUICK_CATEGORIES: [&str; 2] = ["simple", "math"];

/// One generation of the quick or standard suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunJob {
    pub suite: Suite,
    pub category: usize,
    pub prompt: usize,
    pub rep: usize,
    pub streamed: bool,
    pub warmup: bool,
}

impl RunJob {
    /// `quick` keeps answers short; `standard` uses each category's length.
    pub fn max_tokens(&self, settings: &Settings, prompts: &PromptSet) -> usize {
        match self.suite {
            Suite::Quick => settings.quick_max_tokens,
            _ => prompts.categories[self.category].max_tokens,
        }
    }

    /// Fixed per (category, prompt, rep), so every engine and mode samples with the same seed.
    pub fn seed(&self) -> u64 {
        1000 * self.category as u64 + 10 * self.rep as u64 + self.prompt as u64
    }
}

/// The generations of a quick or standard suite, in order: one warm-up first (excluded from
/// the statistics), then each category × prompt × rep in every mode of `modes` (streamed or not).
pub fn run_jobs(suite: Suite, settings: &Settings, prompts: &PromptSet, modes: &[bool]) -> Vec<RunJob> {
    let reps = if suite == Suite::Quick { 1 } else { settings.reps.max(1) };
    let mut jobs = vec![RunJob {
        suite,
        category: 0,
        prompt: 0,
        rep: 0,
        streamed: modes.first().copied().unwrap_or(false),
        warmup: true,
    }];
    for (category, cat) in prompts.categories.iter().enumerate() {
        if suite == Suite::Quick && !QUICK_CATEGORIES.contains(&cat.id.as_str()) {
            continue;
        }
        let n_prompts = if suite == Suite::Quick { 1 } else { cat.prompts.len() };
        for prompt in 0..n_prompts {
            for rep in 0..reps {
                for &streamed in modes {
                    jobs.push(RunJob {
                        suite,
                        category,
                        prompt,
                        rep,
                        streamed,
                        warmup: false,
                    });
                }
            }
        }
    }
    jobs
}

enum Job {
    Run(RunJob),
    Leak(usize),
    Context(usize),
}

fn plan(
    settings: &Settings,
    prompts: &PromptSet,
    context_length: usize,
    emit: &mut dyn FnMut(&WorkerEvent),
) -> Vec<Job> {
    let mut jobs = vec![];
    for &suite in &settings.suites {
        match suite {
            Suite::Quick | Suite::Standard => {
                jobs.extend(
                    run_jobs(suite, settings, prompts, &[false, true])
                        .into_iter()
                        .map(Job::Run),
                );
            }
            Suite::Leak => jobs.extend((0..settings.iterations.max(3)).map(Job::Leak)),
            Suite::Context => {
                for &len in &settings.contexts {
                    if len > context_length {
                        emit(&WorkerEvent::Refused {
                            suite,
                            reason: format!("context {len} is beyond this model's maximum of {context_length} tokens"),
                        });
                    } else if len <= settings.context_generate {
                        emit(&WorkerEvent::Refused {
                            suite,
                            reason: format!(
                                "context {len} leaves no room for a prompt before {} generated tokens",
                                settings.context_generate
                            ),
                        });
                    } else {
                        jobs.push(Job::Context(len));
                    }
                }
            }
        }
    }
    jobs
}

/// Runs every suite in `settings` on `model`, reporting through `emit`.
pub fn run(model: LoadedModel, settings: &Settings, emit: &mut dyn FnMut(&WorkerEvent)) -> parallax_core::Result<()> {
    let prompts = prompt_set();
    let engine = model.engine.backend().to_owned();
    let load_ms = model.load_ms;
    let template = model.template.clone();
    let tokenizer = model.tokenizer.clone();
    let info = model.engine.info().clone();
    // Chat prompts are measured as the generation loop will tokenise them.
    let count_tokens =
        |msgs: &[ChatMessage]| encode_chat(&tokenizer, template.as_deref(), msgs).map_or(0, |ids| ids.len());
    let handle = EngineHandle::spawn(model);
    emit(&WorkerEvent::Loaded {
        engine,
        info: info.clone(),
        load_ms,
        memory: process_memory(),
        engine_memory: handle.memory_blocking()?,
    });
    let jobs = plan(settings, &prompts, info.context_length, emit);
    let total = jobs.len();
    for (done, job) in jobs.into_iter().enumerate() {
        match job {
            Job::Run(job) => {
                let RunJob {
                    suite,
                    category,
                    prompt,
                    rep,
                    streamed,
                    warmup,
                } = job;
                let cat = &prompts.categories[category];
                let (max_tokens, seed) = (job.max_tokens(settings, &prompts), job.seed());
                let req = request(
                    Prompt::Chat(cat.messages(prompt, &count_tokens)),
                    max_tokens,
                    settings.temperature,
                    seed,
                );
                let (result, received_ms) = generate(&handle, req, streamed)?;
                emit(&WorkerEvent::Run(Box::new(RunRecord {
                    suite,
                    category: cat.id.clone(),
                    prompt_index: prompt,
                    rep,
                    streamed,
                    warmup,
                    seed,
                    max_tokens,
                    prompt_tokens: result.usage.prompt_tokens,
                    completion_tokens: result.token_ids.len(),
                    finish_reason: result.finish_reason,
                    ttft_ms: result.timings.ttft_ms,
                    prompt_tps: result.timings.prompt_tps,
                    decode_tps: result.timings.decode_tps,
                    total_ms: result.timings.total_ms,
                    token_times_ms: result.timings.token_times_ms,
                    received_ms,
                    kv_len: result.kv_len,
                    memory_after: process_memory(),
                    engine_memory_after: handle.memory_blocking()?,
                    token_count_source: None,
                })));
            }
            Job::Leak(iteration) => {
                let cat = &prompts.categories[0];
                let req = request(
                    Prompt::Chat(cat.messages(0, &count_tokens)),
                    32,
                    settings.temperature,
                    iteration as u64,
                );
                let (result, _) = generate(&handle, req, false)?;
                let mem = handle.memory_blocking()?;
                emit(&WorkerEvent::Leak(LeakSample {
                    iteration,
                    completion_tokens: result.token_ids.len(),
                    memory: process_memory(),
                    allocator_active_bytes: mem.allocator_active_bytes,
                    kv_cache_bytes: mem.kv_cache_bytes,
                }));
            }
            Job::Context(length) => {
                let prompt_len = length - settings.context_generate;
                let mut ids: Vec<u32> = vec![];
                while ids.len() < prompt_len {
                    let more = tokenizer.encode(&prompts.context_filler, ids.is_empty())?;
                    if more.is_empty() {
                        break;
                    }
                    ids.extend(more);
                }
                ids.truncate(prompt_len);
                let req = request(
                    Prompt::Tokens(ids),
                    settings.context_generate,
                    settings.temperature,
                    length as u64,
                );
                let (r, _) = generate(&handle, req, false)?;
                let fed = r.token_ids.len() - usize::from(r.finish_reason == FinishReason::Length);
                let expected = r.usage.prompt_tokens + fed;
                let mem = handle.memory_blocking()?;
                emit(&WorkerEvent::Context(ContextRecord {
                    context_length: length,
                    prompt_tokens: r.usage.prompt_tokens,
                    completion_tokens: r.token_ids.len(),
                    finish_reason: r.finish_reason,
                    kv_len: r.kv_len,
                    expected_kv_len: expected,
                    truncated: r.kv_len != expected || r.usage.prompt_tokens != prompt_len,
                    ttft_ms: r.timings.ttft_ms,
                    prompt_tps: r.timings.prompt_tps,
                    decode_tps: r.timings.decode_tps,
                    peak_rss_bytes: process_memory().peak_rss_bytes,
                    kv_cache_bytes: mem.kv_cache_bytes,
                    allocator_peak_bytes: mem.allocator_peak_bytes,
                }));
            }
        }
        emit(&WorkerEvent::Progress { done: done + 1, total });
    }
    emit(&WorkerEvent::Finished {
        memory: process_memory(),
    });
    Ok(())
}

fn request(prompt: Prompt, max_tokens: usize, temperature: f32, seed: u64) -> GenerateRequest {
    GenerateRequest {
        prompt,
        max_tokens,
        sampling: SamplingParams {
            temperature,
            seed,
            ..SamplingParams::default()
        },
        stop: vec![],
        logprobs: None,
    }
}

/// Streamed: consume each event as it arrives and time its receipt. Not streamed: wait for
/// the whole result. Both through the same runtime the server uses.
fn generate(
    handle: &EngineHandle,
    req: GenerateRequest,
    streamed: bool,
) -> parallax_core::Result<(parallax_core::GenerationResult, Vec<f64>)> {
    let start = Instant::now();
    let mut stream = handle.generate(req)?;
    if !streamed {
        return Ok((stream.collect_blocking()?, vec![]));
    }
    let mut received = vec![];
    while let Some(ev) = stream.next_blocking() {
        match ev? {
            Event::Token { .. } => received.push(start.elapsed().as_secs_f64() * 1000.0),
            Event::Finished(r) => return Ok((r, received)),
            Event::Started { .. } => {}
        }
    }
    Err(parallax_core::Error::WorkerGone)
}
