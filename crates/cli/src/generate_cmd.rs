//! `parallax generate`: one generation, streamed to stdout, or one JSON object with `--json`.

use std::io::Write;

use anyhow::{bail, Result};
use parallax_core::{ChatMessage, EngineHandle, Event, GenerateRequest, MemoryReport, Prompt, SamplingParams};
use serde::Serialize;

use crate::engines;

#[derive(clap::Args)]
pub struct Args {
    /// Catalog id (see `parallax models`), path to a GGUF file, (mlx) an MLX model directory, or
    /// `MODEL@REMOTE` for a model of a registered remote (see `parallax remote`).
    #[arg(long)]
    model: String,
    /// Engine to run the model with: gguf (candle) or mlx (mlx-rs).
    #[arg(long, default_value = "gguf")]
    engine: String,
    /// User message, rendered through the model's chat template.
    #[arg(long, conflicts_with = "raw", required_unless_present = "raw")]
    prompt: Option<String>,
    /// System message (with --prompt).
    #[arg(long, requires = "prompt")]
    system: Option<String>,
    /// Text tokenised as given (BOS added if the model asks for it), no chat template.
    #[arg(long)]
    raw: Option<String>,
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// 0 means greedy.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    temperature: f32,
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    top_p: f32,
    /// 0 disables.
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    min_p: f32,
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    repeat_penalty: f32,
    /// Random seed; the same seed and settings give the same text.
    #[arg(long)]
    seed: Option<u64>,
    /// Stop when this text appears (repeatable); it is not included in the output.
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON object at the end instead of streaming text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct JsonOutput {
    text: String,
    token_ids: Vec<u32>,
    finish_reason: parallax_core::FinishReason,
    usage: parallax_core::Usage,
    timings: parallax_core::Timings,
    engine: &'static str,
    model: String,
    load_ms: f64,
    memory: MemoryReport,
    peak_rss_bytes: Option<u64>,
}

pub fn run(a: Args) -> Result<()> {
    if a.max_tokens == 0 {
        bail!("--max-tokens must be at least 1");
    }
    let sampling = SamplingParams {
        temperature: a.temperature,
        top_p: a.top_p,
        top_k: a.top_k,
        min_p: a.min_p,
        repetition_penalty: a.repeat_penalty,
        seed: a.seed.unwrap_or_else(time_seed),
        ..Default::default()
    };
    sampling.validate()?;
    let prompt = match (&a.prompt, &a.raw) {
        (Some(user), _) => {
            let mut messages = vec![];
            if let Some(system) = &a.system {
                messages.push(ChatMessage::new("system", system));
            }
            messages.push(ChatMessage::new("user", user));
            Prompt::Chat(messages)
        }
        (None, Some(raw)) => Prompt::Raw(raw.clone()),
        (None, None) => bail!("give --prompt or --raw"),
    };
    if let Some((model, remote)) = crate::remote_cmd::remote_model(&a.model)? {
        let Prompt::Chat(messages) = prompt else {
            bail!("a remote model takes --prompt (the chat API); --raw needs a local engine");
        };
        let mut body = serde_json::json!({
            "messages": messages,
            "max_tokens": a.max_tokens,
            "temperature": a.temperature,
            "top_p": a.top_p,
            "top_k": a.top_k,
            "min_p": a.min_p,
            "repeat_penalty": a.repeat_penalty,
            "seed": sampling.seed,
        });
        if !a.stop.is_empty() {
            body["stop"] = serde_json::json!(a.stop);
        }
        return crate::remote_cmd::generate(&model, &remote, body, a.json);
    }
    let model = engines::load(&a.engine, &a.model)?;
    let handle = EngineHandle::spawn(model);
    let mut stream = handle.generate(GenerateRequest {
        prompt,
        max_tokens: a.max_tokens,
        sampling,
        stop: a.stop,
        logprobs: None,
        cache_prompt: false,
        format: None,
        tools: vec![],
        tool_choice: Default::default(),
        logit_bias: vec![],
    })?;
    let mut out = std::io::stdout().lock();
    let mut shown = 0usize;
    while let Some(event) = stream.next_blocking() {
        match event? {
            Event::Token { text, .. } if !a.json => {
                out.write_all(text.as_bytes())?;
                out.flush()?;
                shown += text.len();
            }
            Event::Finished(r) => {
                if a.json {
                    let memory = handle.memory_blocking()?;
                    let json = JsonOutput {
                        text: r.text,
                        token_ids: r.token_ids,
                        finish_reason: r.finish_reason,
                        usage: r.usage,
                        timings: r.timings,
                        engine: handle.backend(),
                        model: handle.info().id.clone(),
                        load_ms: handle.load_ms(),
                        memory,
                        peak_rss_bytes: peak_rss_bytes(),
                    };
                    writeln!(out, "{}", serde_json::to_string(&json)?)?;
                } else {
                    writeln!(out, "{}", r.text.get(shown..).unwrap_or_default())?;
                    eprintln!(
                        "[{} · {} prompt + {} generated tokens · TTFT {:.0} ms · prompt {:.1} tok/s · decode {:.1} tok/s · {:?}]",
                        handle.backend(),
                        r.usage.prompt_tokens,
                        r.usage.completion_tokens,
                        r.timings.ttft_ms,
                        r.timings.prompt_tps,
                        r.timings.decode_tps,
                        r.finish_reason
                    );
                }
                return Ok(());
            }
            _ => {}
        }
    }
    bail!("the engine stopped without finishing the generation")
}

fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Peak resident set size of this process (Linux VmHWM).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
