//! One remote server over its OpenAI-compatible API: the model list, a latency probe, and
//! streamed chat completions whose chunks arrive as [`Delta`]s, timed by the caller on our side
//! of the wire. A busy server (429/503) is asked again after its `Retry-After`, before any
//! token has arrived; a stream that ends without its final chunk is [`RemoteError::StreamCut`].

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{RemoteError, Result};
use crate::registry::RemoteSpec;
use crate::secret::ApiKey;

/// Connecting is quick or it fails: a remote that does not accept in this long is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Asked again at most this often when busy, each wait capped.
const BUSY_RETRIES: usize = 2;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

pub struct RemoteClient {
    pub name: String,
    base: String,
    key: Option<ApiKey>,
    timeout: Duration,
    agent: ureq::Agent,
}

/// One streamed chunk's content.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    pub content: String,
    pub reasoning: String,
}

/// A remote as a probe found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The `/v1/models` round trip: the network and the server's own overhead, no model work.
    pub latency: Duration,
    /// The ids of `/v1/models`, as the server names them.
    pub models: Vec<String>,
    pub published: Vec<crate::published::Published>,
}

/// How the stream ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Finished {
    pub finish_reason: Option<String>,
    /// `(prompt, completion)` tokens, when the server sent `usage`.
    pub usage: Option<(usize, usize)>,
    /// The calls the reply made, assembled from the stream's `tool_calls` deltas.
    pub tool_calls: Vec<ToolCallParts>,
}

/// One function call as its deltas arrive: the id and name once, the arguments in pieces.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCallParts {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Adds one chunk's `tool_calls` deltas to the calls so far (by their `index`).
fn add_tool_deltas(calls: &mut Vec<ToolCallParts>, deltas: &Value) {
    for d in deltas.as_array().into_iter().flatten() {
        let i = d["index"].as_u64().unwrap_or(0) as usize;
        if calls.len() <= i {
            calls.resize(i + 1, ToolCallParts::default());
        }
        let call = &mut calls[i];
        if let Some(id) = d["id"].as_str() {
            call.id = id.to_owned();
        }
        if let Some(name) = d["function"]["name"].as_str() {
            call.name.push_str(name);
        }
        if let Some(args) = d["function"]["arguments"].as_str() {
            call.arguments.push_str(args);
        }
    }
}

impl RemoteClient {
    /// A client for `spec`, its key read now (from the keyring or the environment).
    pub fn new(spec: &RemoteSpec) -> Result<Self> {
        let key = spec.key.as_ref().map(|k| k.read(&spec.name)).transpose()?;
        Ok(Self::with_key(spec, key))
    }

    pub fn with_key(spec: &RemoteSpec, key: Option<ApiKey>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(spec.timeout()))
            .build()
            .into();
        RemoteClient {
            name: spec.name.clone(),
            base: spec.api_base(),
            key,
            timeout: spec.timeout(),
            agent,
        }
    }

    /// The ids of `/v1/models`.
    pub fn models(&self) -> Result<Vec<String>> {
        let v = self.get_json("/models")?;
        let Some(data) = v["data"].as_array() else {
            return Err(self.bad("/models has no `data` list"));
        };
        Ok(data
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect())
    }

    /// One `/v1/models` round trip, timed, then what the server publishes about itself: for a
    /// listing of remotes (the CLI's `remote list --probe`, the app's settings and monitor).
    pub fn probe(&self) -> Result<Probe> {
        let start = Instant::now();
        let models = self.models()?;
        let latency = start.elapsed();
        Ok(Probe {
            latency,
            models,
            published: self.published(),
        })
    }

    /// One `/v1/models` round trip: the network and the server's own overhead, no model work.
    pub fn latency(&self) -> Result<Duration> {
        let start = Instant::now();
        self.get_json("/models")?;
        Ok(start.elapsed())
    }

    /// Starts a streamed chat completion of `body` (an OpenAI request without `stream`).
    pub fn chat(&self, body: &Value) -> Result<ChatStream> {
        let mut body = body.clone();
        body["stream"] = Value::Bool(true);
        body["stream_options"] = serde_json::json!({"include_usage": true});
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let mut attempt = 0;
        loop {
            let mut req = self.agent.post(format!("{}/chat/completions", self.base));
            if let Some(k) = &self.key {
                req = req.header("Authorization", format!("Bearer {}", k.expose()));
            }
            let resp = req.send_json(&body).map_err(|e| self.transport(e))?;
            let status = resp.status().as_u16();
            if status == 200 {
                return Ok(ChatStream {
                    name: self.name.clone(),
                    lines: BufReader::new(Box::new(resp.into_body().into_reader())),
                    received: 0,
                    finished: Finished::default(),
                    done: false,
                });
            }
            let retry_after = retry_after(&resp);
            let message = error_message(resp);
            match status {
                401 | 403 => return Err(self.auth(status)),
                404 => {
                    return Err(RemoteError::ModelNotFound {
                        name: self.name.clone(),
                        model,
                    })
                }
                429 | 503 if attempt < BUSY_RETRIES && retry_after.is_some_and(|d| d <= MAX_RETRY_WAIT) => {
                    std::thread::sleep(retry_after.unwrap_or_default());
                    attempt += 1;
                }
                429 | 503 => {
                    return Err(RemoteError::Busy {
                        name: self.name.clone(),
                        status,
                        retry_after,
                    })
                }
                _ => {
                    return Err(RemoteError::Refused {
                        name: self.name.clone(),
                        status,
                        message,
                    })
                }
            }
        }
    }

    /// What the server publishes about itself (llama-server's `/metrics` and `/slots`), each
    /// figure with its source; empty when it publishes nothing or refuses.
    pub fn published(&self) -> Vec<crate::published::Published> {
        let root = self.base.strip_suffix("/v1").unwrap_or(&self.base);
        let get = |path: &str| -> Option<String> {
            let mut req = self.agent.get(format!("{root}{path}"));
            if let Some(k) = &self.key {
                req = req.header("Authorization", format!("Bearer {}", k.expose()));
            }
            let resp = req.call().ok().filter(|r| r.status().as_u16() == 200)?;
            let mut text = String::new();
            resp.into_body()
                .into_reader()
                .take(1 << 20)
                .read_to_string(&mut text)
                .ok()?;
            Some(text)
        };
        let mut out = get("/metrics").map_or_else(Vec::new, |t| crate::published::from_metrics(&t));
        if let Some(v) = get("/slots").and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
            out.extend(crate::published::from_slots(&v));
        }
        out
    }

    fn get_json(&self, path: &str) -> Result<Value> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {}", k.expose()));
        }
        let resp = req.call().map_err(|e| self.transport(e))?;
        match resp.status().as_u16() {
            200 => {}
            s @ (401 | 403) => return Err(self.auth(s)),
            s => {
                return Err(RemoteError::Refused {
                    name: self.name.clone(),
                    status: s,
                    message: error_message(resp),
                })
            }
        }
        let mut text = String::new();
        resp.into_body()
            .into_reader()
            .read_to_string(&mut text)
            .map_err(|e| self.bad(&e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| self.bad(&format!("{path}: {e}")))
    }

    fn transport(&self, e: ureq::Error) -> RemoteError {
        match e {
            ureq::Error::Timeout(_) => RemoteError::Timeout {
                name: self.name.clone(),
                after: self.timeout,
            },
            other => RemoteError::Unreachable {
                name: self.name.clone(),
                url: self.base.clone(),
                reason: other.to_string(),
            },
        }
    }

    fn auth(&self, status: u16) -> RemoteError {
        RemoteError::AuthRefused {
            name: self.name.clone(),
            status,
        }
    }

    fn bad(&self, reason: &str) -> RemoteError {
        RemoteError::BadResponse {
            name: self.name.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the servers we target).
fn retry_after<B>(resp: &ureq::http::Response<B>) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The OpenAI error's message, or the body's start.
fn error_message(resp: ureq::http::Response<ureq::Body>) -> String {
    let mut text = String::new();
    let _ = resp.into_body().into_reader().take(4096).read_to_string(&mut text);
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => v["error"]["message"].as_str().unwrap_or(text.trim()).to_owned(),
        Err(_) => text.trim().to_owned(),
    }
}

/// The chunks of one streamed completion. Iterating yields each chunk's delta; [`ChatStream::finished`]
/// tells how it ended once the iterator is done.
pub struct ChatStream {
    name: String,
    lines: BufReader<Box<dyn Read + Send>>,
    received: usize,
    finished: Finished,
    done: bool,
}

impl ChatStream {
    /// After the last delta: the finish reason and usage.
    pub fn finished(&self) -> Option<&Finished> {
        self.done.then_some(&self.finished)
    }

    /// The end of the stream: complete when a finish reason came, else cut.
    fn end(&mut self, why: &str) -> Option<Result<Delta>> {
        if self.finished.finish_reason.is_some() {
            self.done = true;
            return None;
        }
        Some(Err(self.cut(why)))
    }

    fn cut(&self, reason: impl Into<String>) -> RemoteError {
        RemoteError::StreamCut {
            name: self.name.clone(),
            received: self.received,
            reason: reason.into(),
        }
    }
}

impl Iterator for ChatStream {
    type Item = Result<Delta>;

    fn next(&mut self) -> Option<Result<Delta>> {
        loop {
            if self.done {
                return None;
            }
            let mut line = String::new();
            match self.lines.read_line(&mut line) {
                // A server may close without `[DONE]` once it has finished.
                Ok(0) => return self.end("the connection closed before the last chunk"),
                Ok(_) => {}
                Err(e) => return Some(Err(self.cut(e.to_string()))),
            }
            let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                return self.end("[DONE] before a finish reason");
            }
            let v: Value = match serde_json::from_str(data) {
                Ok(v) => v,
                Err(e) => return Some(Err(self.cut(format!("a chunk that is not JSON: {e}")))),
            };
            if let Some(err) = v.get("error") {
                let msg = err["message"].as_str().unwrap_or("error event").to_owned();
                return Some(Err(self.cut(msg)));
            }
            self.received += 1;
            let f = &mut self.finished;
            if let (Some(p), Some(c)) = (
                v["usage"]["prompt_tokens"].as_u64(),
                v["usage"]["completion_tokens"].as_u64(),
            ) {
                f.usage = Some((p as usize, c as usize));
            }
            let choice = &v["choices"][0];
            if let Some(r) = choice["finish_reason"].as_str() {
                f.finish_reason = Some(r.to_owned());
            }
            add_tool_deltas(&mut f.tool_calls, &choice["delta"]["tool_calls"]);
            let delta = Delta {
                content: choice["delta"]["content"].as_str().unwrap_or_default().to_owned(),
                reasoning: choice["delta"]["reasoning_content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            };
            if !delta.content.is_empty() || !delta.reasoning.is_empty() {
                return Some(Ok(delta));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_deltas_assemble_by_index() {
        let mut calls = vec![];
        add_tool_deltas(
            &mut calls,
            &serde_json::json!([{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"ci"}}]),
        );
        add_tool_deltas(
            &mut calls,
            &serde_json::json!([{"index": 0, "function": {"arguments": "ty\": \"Paris\"}"}}]),
        );
        add_tool_deltas(&mut calls, &Value::Null);
        assert_eq!(
            calls,
            [ToolCallParts {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: "{\"city\": \"Paris\"}".into()
            }]
        );
    }
}
