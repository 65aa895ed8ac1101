//! The worker side: one engine in one fresh process runs the suites and reports each result as
//! soon as it has it (the parent writes them to disk as they come).

use std::time::Instant;

use parallax_core::generate::encode_chat;
use parallax_core::{
    ChatMessage, EngineHandle, Event, FinishReason, GenerateRequest, LoadedModel, Prompt, SamplingParams,
};

use crate::memory::process_memory;
use crate::prompts::{prompt_set, PromptSet};
use crate::record::{ContextRecord, LeakSample, ReloadRecord, RunRecord, Settings, Suite, WorkerEvent};

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

/// Loads the model afresh (the first load and every reload).
pub type Load<'a> = dyn FnMut() -> parallax_core::Result<LoadedModel> + 'a;

/// The loaded model and what the jobs need from it.
struct Loaded {
    handle: EngineHandle,
    template: Option<std::sync::Arc<parallax_core::ChatTemplate>>,
    tokenizer: std::sync::Arc<parallax_core::Tokenizer>,
    rss_at_load: u64,
    generations_since_load: u64,
}

impl Loaded {
    fn new(model: LoadedModel) -> Self {
        Loaded {
            template: model.template.clone(),
            tokenizer: model.tokenizer.clone(),
            handle: EngineHandle::spawn(model),
            rss_at_load: process_memory().rss_bytes,
            generations_since_load: 0,
        }
    }

    /// Chat prompts are measured as the generation loop will tokenise them.
    fn count_tokens(&self, msgs: &[ChatMessage]) -> usize {
        encode_chat(&self.tokenizer, self.template.as_deref(), msgs).map_or(0, |ids| ids.len())
    }
}

/// Where a resumed worker starts: after `done` jobs, or at the start of a leak suite that
/// `done` falls inside (a leak series must come from one process).
fn resume_point(jobs: &[Job], done: usize) -> (usize, bool) {
    let done = done.min(jobs.len());
    if done > 0 && done < jobs.len() && matches!(jobs[done], Job::Leak(i) if i > 0) {
        let start = jobs[..done]
            .iter()
            .rposition(|j| matches!(j, Job::Leak(0)))
            .unwrap_or(0);
        return (start, true);
    }
    (done, false)
}

/// Runs every suite in `settings`, loading the model with `load` (again for each reload),
/// and reports through `emit`. `resume_after` jobs were done by an earlier worker: they are
/// skipped, after one warm-up generation excluded from the statistics.
pub fn run(
    load: &mut Load<'_>,
    settings: &Settings,
    resume_after: usize,
    emit: &mut dyn FnMut(&WorkerEvent),
) -> parallax_core::Result<()> {
    let prompts = prompt_set();
    let model = load()?;
    let engine = model.engine.backend().to_owned();
    let load_ms = model.load_ms;
    let info = model.engine.info().clone();
    let mut loaded = Loaded::new(model);
    emit(&WorkerEvent::Loaded {
        engine,
        info: Box::new(info.clone()),
        load_ms,
        memory: process_memory(),
        engine_memory: loaded.handle.memory_blocking()?,
    });
    let jobs = plan(settings, &prompts, info.context_length, emit);
    let total = jobs.len();
    let (start, restarted_leak) = resume_point(&jobs, resume_after);
    if resume_after > 0 {
        emit(&WorkerEvent::Resumed {
            skipped_jobs: start,
            restarted_leak,
        });
        if let Some(Job::Run(warmup)) = jobs.first().filter(|_| start > 0) {
            run_one(&loaded, &Job::Run(*warmup), settings, &prompts, emit)?;
        }
    }
    let policy = parallax_monitor::ReloadPolicy {
        after_generations: settings.reload_every,
        rss_growth_mb: None,
    };
    for (i, job) in jobs.iter().enumerate().skip(start) {
        let rss = || process_memory().rss_bytes;
        if let Some(reason) = policy.check(loaded.generations_since_load, loaded.rss_at_load, rss) {
            // Generations this worker ran so far (a resumed one starts counting again).
            let generations = (i - start) as u64;
            loaded = reload(loaded, load, generations, reason, emit)?;
        }
        run_one(&loaded, job, settings, &prompts, emit)?;
        loaded.generations_since_load += 1;
        emit(&WorkerEvent::Progress { done: i + 1, total });
    }
    if settings
        .suites
        .iter()
        .any(|s| matches!(s, Suite::Quick | Suite::Standard))
    {
        routing_pass(&loaded, settings, &prompts, emit)?;
    }
    emit(&WorkerEvent::Finished {
        memory: process_memory(),
    });
    Ok(())
}

/// Tokens generated per prompt in the routing pass.
const ROUTING_TOKENS: usize = 32;

/// For a mixture-of-experts model: the prompts of each category the suite ran, once more, with
/// routing recorded (apart from the timed runs, since recording costs time), one record per
/// category.
fn routing_pass(
    loaded: &Loaded,
    settings: &Settings,
    prompts: &PromptSet,
    emit: &mut dyn FnMut(&WorkerEvent),
) -> parallax_core::Result<()> {
    if loaded.handle.routing_blocking(true)?.is_none() {
        return Ok(());
    }
    let quick_only = !settings.suites.contains(&Suite::Standard);
    for (category, cat) in prompts.categories.iter().enumerate() {
        // The categories and prompts the timed suite ran.
        if quick_only && !QUICK_CATEGORIES.contains(&cat.id.as_str()) {
            continue;
        }
        let n_prompts = if quick_only { 1 } else { cat.prompts.len() };
        let mut counts = parallax_core::RoutingCounts::default();
        for prompt in 0..n_prompts {
            let req = request(
                Prompt::Chat(cat.messages(prompt, &|m| loaded.count_tokens(m))),
                ROUTING_TOKENS.min(cat.max_tokens),
                settings.temperature,
                1000 * category as u64 + prompt as u64,
            );
            generate(&loaded.handle, req, false)?;
            if let Some(log) = loaded.handle.routing_blocking(true)? {
                counts.add(&log.counts());
            }
        }
        emit(&WorkerEvent::Routing(crate::record::RoutingRecord {
            category: cat.id.clone(),
            generations: n_prompts,
            counts,
        }));
    }
    loaded.handle.routing_blocking(false)?;
    Ok(())
}

/// Drops the model (its worker thread joins, freeing it) and loads it again.
fn reload(
    old: Loaded,
    load: &mut Load<'_>,
    after_generations: u64,
    reason: String,
    emit: &mut dyn FnMut(&WorkerEvent),
) -> parallax_core::Result<Loaded> {
    let memory_before = process_memory();
    drop(old);
    let model = load()?;
    let load_ms = model.load_ms;
    let loaded = Loaded::new(model);
    emit(&WorkerEvent::Reloaded(ReloadRecord {
        after_generations,
        reason,
        load_ms,
        memory_before,
        memory_after: process_memory(),
    }));
    Ok(loaded)
}

/// Runs one job and reports its record.
fn run_one(
    loaded: &Loaded,
    job: &Job,
    settings: &Settings,
    prompts: &PromptSet,
    emit: &mut dyn FnMut(&WorkerEvent),
) -> parallax_core::Result<()> {
    let ev = match job {
        Job::Run(job) => WorkerEvent::Run(Box::new(run_record(loaded, job, settings, prompts)?)),
        Job::Leak(iteration) => {
            let cat = &prompts.categories[0];
            let req = request(
                Prompt::Chat(cat.messages(0, &|m| loaded.count_tokens(m))),
                32,
                settings.temperature,
                *iteration as u64,
            );
            let (result, _) = generate(&loaded.handle, req, false)?;
            let mem = loaded.handle.memory_blocking()?;
            WorkerEvent::Leak(LeakSample {
                iteration: *iteration,
                completion_tokens: result.token_ids.len(),
                memory: process_memory(),
                allocator_active_bytes: mem.allocator_active_bytes,
                kv_cache_bytes: mem.kv_cache_bytes,
            })
        }
        Job::Context(length) => WorkerEvent::Context(context_record(loaded, *length, settings, prompts)?),
    };
    emit(&ev);
    Ok(())
}

fn run_record(
    loaded: &Loaded,
    job: &RunJob,
    settings: &Settings,
    prompts: &PromptSet,
) -> parallax_core::Result<RunRecord> {
    let cat = &prompts.categories[job.category];
    let (max_tokens, seed) = (job.max_tokens(settings, prompts), job.seed());
    let req = request(
        Prompt::Chat(cat.messages(job.prompt, &|m| loaded.count_tokens(m))),
        max_tokens,
        settings.temperature,
        seed,
    );
    let (result, received_ms) = generate(&loaded.handle, req, job.streamed)?;
    Ok(RunRecord {
        suite: job.suite,
        category: cat.id.clone(),
        prompt_index: job.prompt,
        rep: job.rep,
        streamed: job.streamed,
        warmup: job.warmup,
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
        engine_memory_after: loaded.handle.memory_blocking()?,
        token_count_source: None,
    })
}

fn context_record(
    loaded: &Loaded,
    length: usize,
    settings: &Settings,
    prompts: &PromptSet,
) -> parallax_core::Result<ContextRecord> {
    let prompt_len = length - settings.context_generate;
    let mut ids: Vec<u32> = vec![];
    while ids.len() < prompt_len {
        let more = loaded.tokenizer.encode(&prompts.context_filler, ids.is_empty())?;
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
    let (r, _) = generate(&loaded.handle, req, false)?;
    let fed = r.token_ids.len() - usize::from(r.finish_reason == FinishReason::Length);
    let expected = r.usage.prompt_tokens + fed;
    let mem = loaded.handle.memory_blocking()?;
    Ok(ContextRecord {
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
    })
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
        // The suite measures cold prefill: every generation starts from an empty cache.
        cache_prompt: false,
        format: None,
        tools: vec![],
        tool_choice: Default::default(),
        logit_bias: vec![],
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
