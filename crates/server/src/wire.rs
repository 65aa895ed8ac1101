//! OpenAI's response shapes: full responses, streamed chunks, usage, log-probabilities, and
//! Parallax's own `timings` field (which clients ignore, as llama-server's).

use parallax_core::{FinishReason, GenerationResult, Logprobs, Tokenizer};
use serde_json::{json, Value};

/// Chat (`chat.completion`) or plain (`text_completion`) completions: same flow, other shapes.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Chat,
    Text,
}

pub fn sse(v: &Value) -> String {
    format!("data: {v}\n\n")
}

pub fn created() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn finish(r: &GenerationResult) -> &'static str {
    match r.finish_reason {
        _ if !r.tool_calls.is_empty() => "tool_calls",
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

/// OpenAI's `tool_calls` of a message (or, with `index`, of a streamed delta).
pub fn tool_calls(r: &GenerationResult, streamed: bool) -> Value {
    r.tool_calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}});
            if streamed {
                v["index"] = json!(i);
            }
            v
        })
        .collect()
}

/// Usage of a request's choices: the prompt once, every choice's completion tokens.
pub fn usage(results: &[GenerationResult]) -> Value {
    let Some(first) = results.first() else {
        return json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
    };
    let p = first.usage.prompt_tokens;
    let c: usize = results.iter().map(|r| r.usage.completion_tokens).sum();
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
        "prompt_tokens_details": {"cached_tokens": first.usage.cached_tokens}})
}

/// Parallax's own figures, in an extra field clients ignore (as llama-server's `timings`).
fn timings(r: &GenerationResult, engine: &str) -> Value {
    let t = &r.timings;
    json!({"ttft_ms": t.ttft_ms, "prompt_tps": t.prompt_tps, "decode_tps": t.decode_tps, "total_ms": t.total_ms, "engine": engine})
}

/// What every response of one request shares.
pub struct Meta {
    pub id: String,
    pub model: String,
    pub engine: &'static str,
    pub kind: Kind,
    /// The model's tokenizer, for log-probabilities' token text; `None` for a remote model
    /// (which refuses `logprobs`).
    pub tokenizer: Option<std::sync::Arc<Tokenizer>>,
}

impl Meta {
    pub fn object(&self, chunk: bool) -> &'static str {
        match (self.kind, chunk) {
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Text, _) => "text_completion",
        }
    }

    pub fn delta(&self, text: &str) -> Value {
        match (self.kind, text.is_empty()) {
            (Kind::Chat, true) => json!({}),
            (Kind::Chat, false) => json!({"content": text}),
            (Kind::Text, _) => json!(text),
        }
    }

    /// A chat delta of reasoning and answer text (either may be empty; `{}` when both are).
    pub fn split_delta(&self, (reasoning, answer): (String, String)) -> Value {
        let mut d = json!({});
        if !reasoning.is_empty() {
            d["reasoning_content"] = json!(reasoning);
        }
        if !answer.is_empty() {
            d["content"] = json!(answer);
        }
        d
    }

    fn token_text(&self, id: u32) -> String {
        self.tokenizer
            .as_ref()
            .and_then(|t| t.decode(&[id]).ok())
            .unwrap_or_default()
    }

    /// The `logprobs` of a choice covering `tokens` (null when none were asked for).
    /// `offset` is the text offset of the first token, for completions' `text_offset`.
    pub fn logprobs(&self, tokens: &[Logprobs], offset: usize) -> Value {
        if tokens.is_empty() {
            return Value::Null;
        }
        match self.kind {
            Kind::Chat => {
                let entry = |id: u32, lp: f32| {
                    let t = self.token_text(id);
                    json!({"token": t, "logprob": lp, "bytes": t.as_bytes()})
                };
                let content: Vec<Value> = tokens
                    .iter()
                    .map(|l| {
                        let mut e = entry(l.token.id, l.token.logprob);
                        e["top_logprobs"] = l.top.iter().map(|t| entry(t.id, t.logprob)).collect();
                        e
                    })
                    .collect();
                json!({"content": content, "refusal": null})
            }
            Kind::Text => {
                let texts: Vec<String> = tokens.iter().map(|l| self.token_text(l.token.id)).collect();
                let mut at = offset;
                let offsets: Vec<usize> = texts
                    .iter()
                    .map(|t| {
                        let o = at;
                        at += t.len();
                        o
                    })
                    .collect();
                let top: Vec<Value> = tokens
                    .iter()
                    .map(|l| {
                        let m: serde_json::Map<String, Value> = l
                            .top
                            .iter()
                            .map(|t| (self.token_text(t.id), json!(t.logprob)))
                            .collect();
                        Value::Object(m)
                    })
                    .collect();
                json!({"tokens": texts, "token_logprobs": tokens.iter().map(|l| l.token.logprob).collect::<Vec<_>>(),
                    "top_logprobs": top, "text_offset": offsets})
            }
        }
    }

    /// One streamed chunk of choice `index`; `done` carries the finish reason and timings.
    pub fn chunk(&self, index: usize, delta: Value, logprobs: Value, done: Option<&GenerationResult>) -> String {
        let mut choice = json!({"index": index, "finish_reason": done.map(finish), "logprobs": logprobs});
        choice[if self.kind == Kind::Chat { "delta" } else { "text" }] = delta;
        let mut v = json!({"id": self.id, "object": self.object(true), "created": created(), "model": self.model,
            "choices": [choice]});
        if let Some(r) = done {
            v["timings"] = timings(r, self.engine);
        }
        sse(&v)
    }

    /// The usage-only chunk of `stream_options.include_usage`.
    pub fn usage_chunk(&self, results: &[GenerationResult]) -> String {
        sse(
            &json!({"id": self.id, "object": self.object(true), "created": created(),
            "model": self.model, "choices": [], "usage": usage(results)}),
        )
    }

    /// The whole response: one choice per result (`n`), each with its reasoning text (empty for
    /// none), timings of the first.
    pub fn full(&self, results: &[GenerationResult], reasoning: &[String]) -> Value {
        let choices: Vec<Value> = results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut choice = json!({"index": i, "finish_reason": finish(r),
                    "logprobs": self.logprobs(&r.logprobs, 0)});
                match self.kind {
                    Kind::Chat => {
                        let content = match (r.text.is_empty(), r.tool_calls.is_empty()) {
                            (true, false) => Value::Null,
                            _ => json!(r.text),
                        };
                        choice["message"] = json!({"role": "assistant", "content": content, "refusal": null});
                        if let Some(text) = reasoning.get(i).filter(|t| !t.is_empty()) {
                            choice["message"]["reasoning_content"] = json!(text);
                        }
                        if !r.tool_calls.is_empty() {
                            choice["message"]["tool_calls"] = tool_calls(r, false);
                        }
                    }
                    Kind::Text => choice["text"] = json!(r.text),
                }
                choice
            })
            .collect();
        let mut v = json!({"id": self.id, "object": self.object(false), "created": created(), "model": self.model,
            "choices": choices, "usage": usage(results)});
        if let Some(r) = results.first() {
            v["timings"] = timings(r, self.engine);
        }
        v
    }
}
