//! Endpoint mode: the same quick/standard suite against any OpenAI-compatible server (LM
//! Studio, Ollama, llama-server, `parallax serve`). Every request is streamed, since a
//! non-streamed answer shows no first-token time over HTTP. TTFT and tok/s come from the
//! chunks' arrival times; the token count from the server's `usage` when it sends one,
//! otherwise from our tokenizer on the text (recorded per run). Memory is not observable.

use std::time::Instant;

use parallax_core::{ChatMessage, FinishReason, MemoryReport, Tokenizer};
use parallax_remote::{ApiKey, RemoteClient, RemoteSpec};
use serde_json::json;

use crate::memory::ProcessMemory;
use crate::prompts::prompt_set;
use crate::record::{RunRecord, Settings, Suite, WorkerEvent};
use crate::worker::{run_jobs, RunJob};

/// Where a run's completion-token count came from.
pub const COUNT_FROM_USAGE: &str = "server usage";
pub const COUNT_FROM_TOKENIZER: &str = "our tokenizer on the text";

#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, e.g. `http://127.0.0.1:11480/v1`.
    pub url: String,
    pub model: String,
    pub api_key: Option<String>,
}

pub(crate) struct Answer {
    pub text: String,
    pub chunk_times_ms: Vec<f64>,
    pub total_ms: f64,
    pub usage: Option<(usize, usize)>,
    pub finish: FinishReason,
}

/// The endpoint as a remote engine (the one OpenAI-compatible client, `parallax-remote`).
fn client(ep: &Endpoint) -> RemoteClient {
    let spec = RemoteSpec {
        name: "endpoint".into(),
        url: ep.url.clone(),
        key: None,
        timeout_secs: Some(1800),
    };
    RemoteClient::with_key(&spec, ep.api_key.clone().map(ApiKey::new))
}

pub(crate) fn ask(
    ep: &Endpoint,
    messages: &[ChatMessage],
    max_tokens: usize,
    temperature: f32,
    seed: u64,
) -> Result<Answer, String> {
    // `cache_prompt: false` asks llama-server (and Parallax) for a cold prefill, as the local
    // suite measures; servers without prompt caching ignore it.
    let body = json!({"model": ep.model, "messages": messages, "max_tokens": max_tokens,
        "temperature": temperature, "seed": seed, "cache_prompt": false});
    let start = Instant::now();
    let ms = |s: Instant| s.elapsed().as_secs_f64() * 1000.0;
    let failed = |e: parallax_remote::RemoteError| format!("{}: {e}", ep.url);
    let mut stream = client(ep).chat(&body).map_err(failed)?;
    let mut answer = Answer {
        text: String::new(),
        chunk_times_ms: vec![],
        total_ms: 0.0,
        usage: None,
        finish: FinishReason::Stop,
    };
    for delta in stream.by_ref() {
        let delta = delta.map_err(failed)?;
        if !delta.content.is_empty() {
            answer.chunk_times_ms.push(ms(start));
            answer.text.push_str(&delta.content);
        }
    }
    if let Some(f) = stream.finished() {
        answer.usage = f.usage;
        if f.finish_reason.as_deref() == Some("length") {
            answer.finish = FinishReason::Length;
        }
    }
    answer.total_ms = ms(start);
    Ok(answer)
}

/// Runs the quick/standard suites of `settings` against `ep`; other suites are refused
/// (they need the engine's memory and KV cache). `tokenizer` counts tokens when the server
/// sends no usage.
pub fn run(
    ep: &Endpoint,
    settings: &Settings,
    tokenizer: Option<&Tokenizer>,
    emit: &mut dyn FnMut(&WorkerEvent),
) -> Result<(), String> {
    let prompts = prompt_set();
    let count = |msgs: &[ChatMessage]| {
        tokenizer.map_or(0, |t| {
            t.encode(&msgs.iter().map(|m| m.content.as_str()).collect::<String>(), false)
                .map_or(0, |v| v.len())
        })
    };
    let mut jobs = vec![];
    for &suite in &settings.suites {
        match suite {
            Suite::Quick | Suite::Standard => jobs.extend(run_jobs(suite, settings, &prompts, &[true])),
            other => emit(&WorkerEvent::Refused {
                suite: other,
                reason: "endpoint mode cannot see the server's memory or KV cache: only quick and standard run".into(),
            }),
        }
    }
    let total = jobs.len();
    for (done, job) in jobs.into_iter().enumerate() {
        let RunJob {
            suite,
            category: c,
            prompt: p,
            rep,
            streamed,
            warmup,
        } = job;
        let cat = &prompts.categories[c];
        let (max_tokens, seed) = (job.max_tokens(settings, &prompts), job.seed());
        let messages = cat.messages(p, &count);
        let a = ask(ep, &messages, max_tokens, settings.temperature, seed)?;
        let (prompt_tokens, completion_tokens, source) = match (a.usage, tokenizer) {
            (Some((p, c)), _) => (p, c, COUNT_FROM_USAGE),
            (None, Some(t)) => (
                count(&messages),
                t.encode(&a.text, false).map_or(0, |v| v.len()),
                COUNT_FROM_TOKENIZER,
            ),
            (None, None) => return Err("the server sent no usage and no tokenizer was given (--model)".into()),
        };
        let ttft_ms = a.chunk_times_ms.first().copied().unwrap_or(a.total_ms);
        emit(&WorkerEvent::Run(Box::new(RunRecord {
            suite,
            category: cat.id.clone(),
            prompt_index: p,
            rep,
            streamed,
            warmup,
            seed,
            max_tokens,
            prompt_tokens,
            completion_tokens,
            finish_reason: a.finish,
            ttft_ms,
            prompt_tps: parallax_core::figures::prompt_tps(prompt_tokens, ttft_ms),
            decode_tps: parallax_core::figures::decode_tps(completion_tokens, ttft_ms, a.total_ms),
            total_ms: a.total_ms,
            token_times_ms: vec![],
            received_ms: a.chunk_times_ms,
            kv_len: 0,
            memory_after: ProcessMemory::default(),
            engine_memory_after: MemoryReport::default(),
            token_count_source: Some(source.into()),
        })));
        emit(&WorkerEvent::Progress { done: done + 1, total });
    }
    emit(&WorkerEvent::Finished {
        memory: ProcessMemory::default(),
    });
    Ok(())
}
