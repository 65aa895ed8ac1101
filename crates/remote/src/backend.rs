//! The registered remotes as the model host's [`Remotes`]: a generation becomes a streamed chat
//! completion whose deltas are the stream's `Token` events, timed here, on our side of the wire,
//! with the figures every engine's replies use (`parallax_core::figures`).

use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use parallax_core::generate::{Event, FinishReason, GenerationResult, Timings, Usage};
use parallax_core::{figures, EventSender, GenerateRequest, GenerationStream};
use parallax_host::{HostError, HostResult, Remotes};

use crate::client::{ChatStream, RemoteClient};
use crate::error::RemoteError;
use crate::registry::Registry;
use crate::request::chat_body;

/// The remotes of one `parallax.toml`, read at each request, so a remote added or removed in
/// the settings or by `parallax remote` applies at once.
pub struct RegisteredRemotes {
    path: PathBuf,
    /// The last listing of the remotes' models, and when it was made.
    listed: Mutex<Option<(Instant, Vec<String>)>>,
}

/// How long a listing of the remotes' models is reused, and how long one remote may take.
const LISTING_AGE: Duration = Duration::from_secs(10);
const LISTING_WAIT: Duration = Duration::from_secs(5);

impl RegisteredRemotes {
    /// The registry of Parallax's configuration folder.
    pub fn new() -> Self {
        Self::at(crate::registry::config_dir().join("parallax.toml"))
    }

    pub fn at(path: impl Into<PathBuf>) -> Self {
        RegisteredRemotes {
            path: path.into(),
            listed: Mutex::new(None),
        }
    }

    fn registry(&self) -> Result<Registry, RemoteError> {
        Registry::at(&self.path)
    }
}

impl Default for RegisteredRemotes {
    fn default() -> Self {
        Self::new()
    }
}

/// A remote's failure as the host reports it: its code kept.
pub fn host_error(e: RemoteError) -> HostError {
    HostError::Engine(core_error(e))
}

fn core_error(e: RemoteError) -> parallax_core::Error {
    parallax_core::Error::Remote {
        code: e.code(),
        message: e.to_string(),
    }
}

impl Remotes for RegisteredRemotes {
    fn is_remote(&self, name: &str) -> bool {
        self.registry().is_ok_and(|r| r.get(name).is_ok())
    }

    fn models(&self) -> Vec<String> {
        if let Ok(listed) = self.listed.lock() {
            if let Some((_, ids)) = listed.as_ref().filter(|(at, _)| at.elapsed() < LISTING_AGE) {
                return ids.clone();
            }
        }
        let specs = self.registry().map(|r| r.list().to_vec()).unwrap_or_default();
        // Each remote asked on its own thread; one that does not answer in time is left out
        // (its thread ends on its own).
        let (tx, rx) = mpsc::channel();
        for spec in specs.iter().cloned() {
            let tx = tx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("list-{}", spec.name))
                .spawn(move || {
                    let ids = RemoteClient::new(&spec).and_then(|c| c.models()).unwrap_or_default();
                    let _ = tx.send(
                        ids.into_iter()
                            .map(|m| format!("{m}@{}", spec.name))
                            .collect::<Vec<_>>(),
                    );
                });
        }
        drop(tx);
        let deadline = Instant::now() + LISTING_WAIT;
        let mut ids = vec![];
        for _ in &specs {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(more) => ids.extend(more),
                Err(_) => break,
            }
        }
        if let Ok(mut listed) = self.listed.lock() {
            *listed = Some((Instant::now(), ids.clone()));
        }
        ids
    }

    fn generate(&self, name: &str, model: &str, req: GenerateRequest) -> HostResult<GenerationStream> {
        let body = chat_body(model, &req)?;
        let registry = self.registry().map_err(host_error)?;
        let spec = registry.get(name).map_err(host_error)?;
        let client = RemoteClient::new(spec).map_err(host_error)?;
        let start = Instant::now();
        let chunks = client.chat(&body).map_err(host_error)?;
        let (tx, stream) = GenerationStream::channel();
        std::thread::Builder::new()
            .name(format!("remote-{name}"))
            .spawn(move || relay(chunks, start, &tx))
            .map_err(|e| HostError::Engine(parallax_core::Error::Engine(e.to_string())))?;
        Ok(stream)
    }
}

/// Passes the deltas on as `Token` events until the end, a failure, or the consumer leaving
/// (then the connection is dropped, which cancels the request on the server).
fn relay(mut chunks: ChatStream, start: Instant, tx: &EventSender) {
    let ms = || start.elapsed().as_secs_f64() * 1000.0;
    let started = Event::Started {
        prompt_tokens: 0,
        cached_tokens: 0,
        thinking: false,
        harmony: false,
    };
    if tx.send(Ok(started)).is_err() {
        return;
    }
    let (mut text, mut times, mut thinking) = (String::new(), Vec::new(), false);
    for delta in chunks.by_ref() {
        let delta = match delta {
            Ok(d) => d,
            Err(e) => {
                let _ = tx.send(Err(core_error(e)));
                return;
            }
        };
        // A server's separate reasoning stream becomes the <think> block local models write.
        let mut piece = String::new();
        if !delta.reasoning.is_empty() {
            if !thinking {
                piece.push_str("<think>");
                thinking = true;
            }
            piece.push_str(&delta.reasoning);
        }
        if !delta.content.is_empty() {
            if thinking {
                piece.push_str("</think>");
                thinking = false;
            }
            piece.push_str(&delta.content);
        }
        if piece.is_empty() {
            continue;
        }
        let elapsed_ms = ms();
        times.push(elapsed_ms);
        text.push_str(&piece);
        let token = Event::Token {
            id: 0,
            text: piece,
            elapsed_ms,
            logprobs: None,
        };
        if tx.send(Ok(token)).is_err() {
            return;
        }
    }
    let total_ms = ms();
    let finished = chunks.finished().cloned().unwrap_or_default();
    // The server's token counts when it sent them; else each chunk with text counts as one.
    let (prompt_tokens, completion_tokens) = finished.usage.unwrap_or((0, times.len()));
    let ttft_ms = times.first().copied().unwrap_or(total_ms);
    let timings = Timings {
        ttft_ms,
        prompt_tps: figures::prompt_tps(prompt_tokens, ttft_ms),
        decode_tps: figures::decode_tps(completion_tokens, ttft_ms, total_ms),
        total_ms,
        token_times_ms: times,
    };
    let finish_reason = match finished.finish_reason.as_deref() {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    let result = GenerationResult {
        text,
        token_ids: vec![],
        finish_reason,
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            cached_tokens: 0,
        },
        timings,
        kv_len: 0,
        logprobs: vec![],
        tool_calls: finished
            .tool_calls
            .iter()
            .map(|c| parallax_core::tools::ToolCall {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            })
            .collect(),
        held_text: String::new(),
        stop_sequence: None,
    };
    let _ = tx.send(Ok(Event::Finished(result)));
}
