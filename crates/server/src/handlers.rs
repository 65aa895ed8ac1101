//! The endpoints: each handler is parse → enqueue → generate → respond (JSON or SSE).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parallax_core::{Event, FinishReason, GenerationResult};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::request::{self, Common};
use crate::AppState;

/// Chat (`chat.completion`) or plain (`text_completion`) completions: same flow, other shapes.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Text,
}

pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    let loaded: Vec<Value> = state
        .models
        .loaded()
        .await
        .into_iter()
        .map(|(id, queued)| json!({"id": id, "queued": queued}))
        .collect();
    Json(json!({"status": "ok", "loaded": loaded}))
}

pub async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let data: Vec<Value> = state
        .models
        .list()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "parallax"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

pub async fn chat_completions(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    respond(state, body, Kind::Chat)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn completions(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    respond(state, body, Kind::Text)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "no such endpoint")
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "the request body is too large",
        ),
        status => ApiError::new(status, "invalid_request_error", rejection.body_text()),
    })
}

async fn respond(state: Arc<AppState>, body: Result<Bytes, BytesRejection>, kind: Kind) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let common = match kind {
        Kind::Chat => request::chat(&body)?,
        Kind::Text => request::completion(&body)?,
    };
    let slot = state.models.get(&common.model).await?;
    let permit = slot.enqueue()?;
    let Common {
        stream,
        include_usage,
        request,
        ..
    } = common;
    let mut gen = slot.handle.generate(request)?;
    let meta = Meta {
        id: state.next_id(kind),
        model: slot.id.clone(),
        engine: slot.handle.backend(),
        kind,
    };
    // The first event tells whether the request was accepted (e.g. the prompt fits the context),
    // so errors still get a proper status before any streaming starts.
    let first = match gen.next().await {
        Some(Ok(ev)) => ev,
        Some(Err(e)) => return Err(e.into()),
        None => return Err(parallax_core::Error::WorkerGone.into()),
    };
    if !stream {
        let mut ev = first;
        loop {
            if let Event::Finished(r) = ev {
                return Ok(Json(meta.full(&r)).into_response());
            }
            ev = match gen.next().await {
                Some(e) => e?,
                None => return Err(parallax_core::Error::WorkerGone.into()),
            };
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let _permit = permit;
        let mut pending = Some(Ok(first));
        if meta.kind == Kind::Chat
            && tx
                .send(meta.chunk(json!({"role": "assistant", "content": ""}), None))
                .await
                .is_err()
        {
            return;
        }
        loop {
            let ev = match pending.take() {
                Some(ev) => Some(ev),
                None => gen.next().await,
            };
            let line = match ev {
                Some(Ok(Event::Token { text, .. })) if !text.is_empty() => meta.chunk(meta.delta(&text), None),
                Some(Ok(Event::Finished(r))) => {
                    let mut last = meta.chunk(meta.delta(""), Some(&r));
                    if include_usage {
                        last.push_str(&sse(
                            &json!({"id": meta.id, "object": meta.object(true), "created": created(),
                            "model": meta.model, "choices": [], "usage": usage(&r)}),
                        ));
                    }
                    last.push_str("data: [DONE]\n\n");
                    let _ = tx.send(last).await;
                    return;
                }
                Some(Err(e)) => {
                    let e = ApiError::from(e);
                    let _ = tx
                        .send(sse(
                            &json!({"error": {"message": e.message, "type": e.kind, "code": e.code}}),
                        ))
                        .await;
                    return;
                }
                None => return,
                _ => continue,
            };
            // A closed channel means the client went away: returning drops `gen`, which
            // cancels the generation before its next token.
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|s| (Ok::<_, Infallible>(Bytes::from(s)), rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

fn sse(v: &Value) -> String {
    format!("data: {v}\n\n")
}

fn created() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn finish(r: &FinishReason) -> &'static str {
    match r {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

fn usage(r: &GenerationResult) -> Value {
    let (p, c) = (r.usage.prompt_tokens, r.usage.completion_tokens);
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

/// Parallax's own figures, in an extra field clients ignore (as llama-server's `timings`).
fn timings(r: &GenerationResult, engine: &str) -> Value {
    let t = &r.timings;
    json!({"ttft_ms": t.ttft_ms, "prompt_tps": t.prompt_tps, "decode_tps": t.decode_tps, "total_ms": t.total_ms, "engine": engine})
}

struct Meta {
    id: String,
    model: String,
    engine: &'static str,
    kind: Kind,
}

impl Meta {
    fn object(&self, chunk: bool) -> &'static str {
        match (self.kind, chunk) {
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Text, _) => "text_completion",
        }
    }

    fn delta(&self, text: &str) -> Value {
        match (self.kind, text.is_empty()) {
            (Kind::Chat, true) => json!({}),
            (Kind::Chat, false) => json!({"content": text}),
            (Kind::Text, _) => json!(text),
        }
    }

    /// One streamed chunk; `done` carries the finish reason and timings.
    fn chunk(&self, delta: Value, done: Option<&GenerationResult>) -> String {
        let mut choice = json!({"index": 0, "finish_reason": done.map(|r| finish(&r.finish_reason)), "logprobs": null});
        choice[if self.kind == Kind::Chat { "delta" } else { "text" }] = delta;
        let mut v = json!({"id": self.id, "object": self.object(true), "created": created(), "model": self.model,
            "choices": [choice]});
        if let Some(r) = done {
            v["timings"] = timings(r, self.engine);
        }
        sse(&v)
    }

    fn full(&self, r: &GenerationResult) -> Value {
        let mut choice = json!({"index": 0, "finish_reason": finish(&r.finish_reason), "logprobs": null});
        match self.kind {
            Kind::Chat => choice["message"] = json!({"role": "assistant", "content": r.text}),
            Kind::Text => choice["text"] = json!(r.text),
        }
        json!({"id": self.id, "object": self.object(false), "created": created(), "model": self.model,
            "choices": [choice], "usage": usage(r), "timings": timings(r, self.engine)})
    }
}

impl AppState {
    fn next_id(&self, kind: Kind) -> String {
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match kind {
            Kind::Chat => format!("chatcmpl-{n}"),
            Kind::Text => format!("cmpl-{n}"),
        }
    }
}
