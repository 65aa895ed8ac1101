//! The completion endpoints: each request is parse → enqueue → generate → respond (JSON or SSE).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use parallax_core::reasoning::{Opening, ThinkSplitter};
use parallax_core::{Event, GenerationResult, GenerationStream, Logprobs};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::request::{self, Common};
use crate::request_log::RequestNote;
use crate::wire::{sse, Kind, Meta};
use crate::ServerState;
use parallax_host::ModelRef;

pub async fn health(State(state): State<Arc<ServerState>>) -> Json<Value> {
    Json(json!({"status": "ok", "loaded": state.models.loaded().await}))
}

pub async fn models(State(state): State<Arc<ServerState>>) -> Json<Value> {
    let entry = |id: String, owner: String| json!({"id": id, "object": "model", "created": 0, "owned_by": owner});
    let mut data: Vec<Value> = (state.models.list().into_iter())
        .map(|id| entry(id, "parallax".into()))
        .collect();
    // A remote's models, owned by the remote that serves them.
    for id in state.models.remote_models().await {
        let owner = format!("remote:{}", id.rsplit_once('@').map_or("", |(_, r)| r));
        data.push(entry(id, owner));
    }
    Json(json!({"object": "list", "data": data}))
}

pub async fn chat_completions(
    State(state): State<Arc<ServerState>>,
    Extension(note): Extension<RequestNote>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(state, note, body, Kind::Chat)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn completions(
    State(state): State<Arc<ServerState>>,
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
    state: Arc<ServerState>,
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
    let chat = state.models.chat(&ModelRef::parse(&common.model)).await?;
    let Common {
        stream,
        include_usage,
        n,
        one_call,
        request,
        ..
    } = common;
    let meta = Meta {
        id: state.next_id(kind),
        model: chat.id().to_owned(),
        engine: chat.backend(),
        kind,
        tokenizer: chat.tokenizer().cloned(),
    };
    // Choice `i` samples with the request's seed plus `i` (the same text at temperature 0).
    let choice = move |i: usize| {
        let mut r = request.clone();
        r.sampling.seed = r.sampling.seed.wrapping_add(i as u64);
        r
    };
    // Every choice starts now, so they run side by side in the model's slots. The first
    // event tells whether the request was accepted (e.g. the prompt fits the context), so
    // errors still get a proper status before any streaming starts.
    let mut gens = Vec::with_capacity(n);
    for i in 0..n {
        let mut gen = chat.generate(choice(i))?;
        let first = first_event(&mut gen).await?;
        gens.push((gen, first));
    }
    if !stream {
        let mut results = Vec::with_capacity(n);
        for (mut gen, first) in gens {
            results.push(finished(first, &mut gen).await?);
        }
        for (r, _) in &results {
            state.metrics.observe_generation(r);
        }
        note.finished(&results[0].0);
        // A reasoning model's think block goes out as `reasoning_content`.
        let (results, reasoning): (Vec<GenerationResult>, Vec<String>) = results
            .into_iter()
            .map(|(mut r, opening)| {
                if one_call {
                    r.tool_calls.truncate(1);
                }
                let (reasoning, answer) = match kind {
                    Kind::Chat => ThinkSplitter::split(&r.text, opening),
                    Kind::Text => (String::new(), r.text.clone()),
                };
                r.text = answer;
                (r, reasoning)
            })
            .unzip();
        return Ok(Json(meta.full(&results, &reasoning)).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let _chat = chat;
        let mut results = Vec::with_capacity(n);
        // Streamed one after another; later choices' tokens wait in their streams meanwhile.
        for (i, (gen, first)) in gens.into_iter().enumerate() {
            match stream_choice(&meta, i, gen, first, &tx, one_call).await {
                Some(r) => {
                    state.metrics.observe_generation(&r);
                    results.push(r);
                }
                None => return,
            }
        }
        if let Some(r) = results.first() {
            note.finished(r);
        }
        let mut last = String::new();
        if include_usage {
            last.push_str(&meta.usage_chunk(&results));
        }
        last.push_str("data: [DONE]\n\n");
        let _ = tx.send(last).await;
    });
    Ok(sse_response(rx))
}

/// A server-sent-events response whose body is what `rx` receives (each item whole events).
pub(crate) fn sse_response(rx: tokio::sync::mpsc::Receiver<String>) -> Response {
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|s| (Ok::<_, Infallible>(Bytes::from(s)), rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// One request to the single-choice APIs (Anthropic's, Responses): the model acquired, a place
/// in its queue, the generation started and its first event read.
pub(crate) struct Started {
    /// The model's id as loaded.
    pub model: String,
    /// A number unique to this server's requests, for response ids.
    pub number: u64,
    /// The model and the request's place in its queue, held while it runs.
    pub chat: parallax_host::Chat,
    pub gen: GenerationStream,
    pub first: Event,
}

pub(crate) async fn start(
    state: &ServerState,
    note: &RequestNote,
    model: &str,
    request: parallax_core::GenerateRequest,
) -> Result<Started, ApiError> {
    note.model(model);
    let (chat, mut gen) = state.models.generate(&ModelRef::parse(model), request).await?;
    let first = first_event(&mut gen).await?;
    Ok(Started {
        model: chat.id().to_owned(),
        number: state.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        chat,
        gen,
        first,
    })
}

impl Started {
    /// Runs the generation to its end (a non-streamed answer), counted in the metrics and the
    /// request log.
    pub(crate) async fn run_to_end(
        &mut self,
        state: &ServerState,
        note: &RequestNote,
    ) -> Result<GenerationResult, ApiError> {
        let first = self.first.clone();
        let (r, _) = finished(first, &mut self.gen).await?;
        state.metrics.observe_generation(&r);
        note.finished(&r);
        Ok(r)
    }
}

/// The next event: `pending` first (an event already read), then the stream's.
pub(crate) async fn next_event(
    pending: &mut Option<Event>,
    gen: &mut GenerationStream,
) -> Option<parallax_core::Result<Event>> {
    match pending.take() {
        Some(ev) => Some(Ok(ev)),
        None => gen.next().await,
    }
}

/// The first event of a generation: whether the worker accepted the request (e.g. the prompt
/// fits the context), so errors get their status before any streaming starts.
pub(crate) async fn first_event(gen: &mut GenerationStream) -> Result<Event, ApiError> {
    match gen.next().await {
        Some(Ok(ev)) => Ok(ev),
        Some(Err(e)) => Err(e.into()),
        None => Err(parallax_core::Error::WorkerGone.into()),
    }
}

/// Runs a generation whose first event is `ev` to its end; says how its reasoning opens.
pub(crate) async fn finished(
    mut ev: Event,
    gen: &mut GenerationStream,
) -> Result<(GenerationResult, Opening), ApiError> {
    let mut opening = Opening::default();
    loop {
        match ev {
            Event::Finished(r) => return Ok((r, opening)),
            Event::Started { thinking, harmony, .. } => opening = Opening { thinking, harmony },
            Event::Token { .. } => {}
        }
        ev = match gen.next().await {
            Some(e) => e?,
            None => return Err(parallax_core::Error::WorkerGone.into()),
        };
    }
}

/// A delta that carries nothing: `{}` (chat) or `""` (plain completions).
fn no_text(delta: &Value) -> bool {
    delta.as_object().is_some_and(|d| d.is_empty()) || delta.as_str() == Some("")
}

async fn send_error(tx: &tokio::sync::mpsc::Sender<String>, e: ApiError) {
    let _ = tx
        .send(sse(
            &json!({"error": {"message": e.message, "type": e.kind, "code": e.code}}),
        ))
        .await;
}

/// Streams choice `index` (its first event already read) as chunks; returns its result, or
/// `None` when the client went away or the generation failed (the error was sent).
async fn stream_choice(
    meta: &Meta,
    index: usize,
    mut gen: GenerationStream,
    first: Event,
    tx: &tokio::sync::mpsc::Sender<String>,
    one_call: bool,
) -> Option<GenerationResult> {
    if meta.kind == Kind::Chat
        && tx
            .send(meta.chunk(index, json!({"role": "assistant", "content": ""}), Value::Null, None))
            .await
            .is_err()
    {
        return None;
    }
    let mut think = match &first {
        Event::Started { thinking, harmony, .. } => ThinkSplitter::new(Opening {
            thinking: *thinking,
            harmony: *harmony,
        }),
        _ => ThinkSplitter::new(Opening::default()),
    };
    let mut pending = Some(first);
    // Log-probabilities of tokens whose text is still held back (stop strings, partial
    // characters) go out with the next chunk that has text.
    let mut held: Vec<Logprobs> = vec![];
    let mut offset = 0;
    loop {
        let line = match next_event(&mut pending, &mut gen).await {
            Some(Ok(Event::Token { text, logprobs, .. })) => {
                held.extend(logprobs);
                if text.is_empty() {
                    continue;
                }
                let delta = match meta.kind {
                    Kind::Chat => meta.split_delta(think.push(&text)),
                    Kind::Text => meta.delta(&text),
                };
                if no_text(&delta) {
                    continue;
                }
                let line = meta.chunk(index, delta, meta.logprobs(&held, offset), None);
                offset += text.len();
                held.clear();
                line
            }
            Some(Ok(Event::Finished(mut r))) => {
                if one_call {
                    r.tool_calls.truncate(1);
                }
                // Text held back as a possible tool call, then the calls, then the end.
                let mut last = String::new();
                let tail = match meta.kind {
                    Kind::Chat => meta.split_delta(think.finish(&r.held_text)),
                    Kind::Text => meta.delta(&r.held_text),
                };
                if !no_text(&tail) {
                    last.push_str(&meta.chunk(index, tail, Value::Null, None));
                }
                if !r.tool_calls.is_empty() {
                    let calls = json!({"tool_calls": crate::wire::tool_calls(&r, true)});
                    last.push_str(&meta.chunk(index, calls, Value::Null, None));
                }
                last.push_str(&meta.chunk(index, meta.delta(""), meta.logprobs(&held, offset), Some(&r)));
                return tx.send(last).await.ok().map(|()| r);
            }
            Some(Err(e)) => {
                send_error(tx, ApiError::from(e)).await;
                return None;
            }
            None => return None,
            Some(Ok(Event::Started { .. })) => continue,
        };
        // A closed channel means the client went away: returning drops `gen`, which
        // cancels the generation before its next token.
        if tx.send(line).await.is_err() {
            return None;
        }
    }
}

impl ServerState {
    fn next_id(&self, kind: Kind) -> String {
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match kind {
            Kind::Chat => format!("chatcmpl-{n}"),
            Kind::Text => format!("cmpl-{n}"),
        }
    }
}
