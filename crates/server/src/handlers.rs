//! The completion endpoints: each request is parse → enqueue → generate → respond (JSON or SSE).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use parallax_core::{Event, Logprobs};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::request::{self, Common};
use crate::requests::RequestNote;
use crate::wire::{sse, Kind, Meta};
use crate::AppState;

pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "loaded": state.models.loaded().await}))
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

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(note): Extension<RequestNote>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(state, note, body, Kind::Chat)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn completions(
    State(state): State<Arc<AppState>>,
    Extension(note): Extension<RequestNote>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(state, note, body, Kind::Text)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "no such endpoint")
}

pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "the request body is too large",
        ),
        status => ApiError::new(status, "invalid_request_error", rejection.body_text()),
    })
}

async fn respond(
    state: Arc<AppState>,
    note: RequestNote,
    body: Result<Bytes, BytesRejection>,
    kind: Kind,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let common = match kind {
        Kind::Chat => request::chat(&body)?,
        Kind::Text => request::completion(&body)?,
    };
    note.model(&common.model);
    let slot = state.models.get(&common.model).await?;
    let handle = slot.chat()?;
    let lease = slot.enqueue()?;
    let Common {
        stream,
        include_usage,
        request,
        ..
    } = common;
    let mut gen = handle.generate(request)?;
    let meta = Meta {
        id: state.next_id(kind),
        model: slot.id.clone(),
        engine: handle.backend(),
        kind,
        tokenizer: handle.tokenizer().clone(),
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
                state.metrics.observe_generation(&r);
                note.finished(&r);
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
        let _lease = lease;
        let mut pending = Some(Ok(first));
        if meta.kind == Kind::Chat
            && tx
                .send(meta.chunk(json!({"role": "assistant", "content": ""}), Value::Null, None))
                .await
                .is_err()
        {
            return;
        }
        // Log-probabilities of tokens whose text is still held back (stop strings, partial
        // characters) go out with the next chunk that has text.
        let mut held: Vec<Logprobs> = vec![];
        let mut offset = 0;
        loop {
            let ev = match pending.take() {
                Some(ev) => Some(ev),
                None => gen.next().await,
            };
            let line = match ev {
                Some(Ok(Event::Token { text, logprobs, .. })) => {
                    held.extend(logprobs);
                    if text.is_empty() {
                        continue;
                    }
                    let line = meta.chunk(meta.delta(&text), meta.logprobs(&held, offset), None);
                    offset += text.len();
                    held.clear();
                    line
                }
                Some(Ok(Event::Finished(r))) => {
                    state.metrics.observe_generation(&r);
                    note.finished(&r);
                    let mut last = meta.chunk(meta.delta(""), meta.logprobs(&held, offset), Some(&r));
                    if include_usage {
                        last.push_str(&meta.usage_chunk(&r));
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
                Some(Ok(Event::Started { .. })) => continue,
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

impl AppState {
    fn next_id(&self, kind: Kind) -> String {
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match kind {
            Kind::Chat => format!("chatcmpl-{n}"),
            Kind::Text => format!("cmpl-{n}"),
        }
    }
}
