//! Anthropic's Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`) for
//! Claude-style clients: parse → the same core request → the same generation → Anthropic's
//! shapes (content blocks, `tool_use` / `tool_result`, its stream events and error body).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use parallax_core::tools::{Tool, ToolCall, ToolChoice};
use parallax_core::{ChatMessage, Event, FinishReason, GenerateRequest, GenerationResult, Prompt};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::handlers::{body_bytes, next_event, sse_response, start, Started};
use crate::request::{boolean, obj, sampling, string, text_parts, tools_with, uint};
use crate::request_log::RequestNote;
use crate::ServerState;

/// An error in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`.
pub struct AnthropicError(ApiError);

impl From<ApiError> for AnthropicError {
    fn from(e: ApiError) -> Self {
        AnthropicError(e)
    }
}

impl From<parallax_core::Error> for AnthropicError {
    fn from(e: parallax_core::Error) -> Self {
        AnthropicError(e.into())
    }
}

impl From<parallax_host::HostError> for AnthropicError {
    fn from(e: parallax_host::HostError) -> Self {
        AnthropicError(e.into())
    }
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let e = self.0;
        let kind = match e.status.as_u16() {
            400 => "invalid_request_error",
            401 => "authentication_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            _ => "api_error",
        };
        (
            e.status,
            Json(json!({"type": "error", "error": {"type": kind, "message": e.message}})),
        )
            .into_response()
    }
}

struct Parsed {
    model: String,
    stream: bool,
    request: GenerateRequest,
}

fn bad(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(param, message)
}

/// One Anthropic message as chat turns: `tool_result` blocks become `tool` turns, `tool_use`
/// blocks the assistant's calls.
fn turns(msg: &Value, i: usize, out: &mut Vec<ChatMessage>) -> Result<(), ApiError> {
    let param = format!("messages[{i}]");
    let role = match msg["role"].as_str() {
        Some(r @ ("user" | "assistant")) => r,
        _ => return Err(bad(&format!("{param}.role"), "`role` must be `user` or `assistant`")),
    };
    let blocks = match &msg["content"] {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(b) => b.clone(),
        _ => {
            return Err(bad(
                &format!("{param}.content"),
                "must be a string or an array of blocks",
            ))
        }
    };
    let mut text = String::new();
    let mut calls = vec![];
    for (j, b) in blocks.iter().enumerate() {
        let at = format!("{param}.content[{j}]");
        match b["type"].as_str() {
            Some("text") => text.push_str(b["text"].as_str().unwrap_or_default()),
            Some("tool_use") if role == "assistant" => calls.push(ToolCall {
                id: b["id"].as_str().unwrap_or_default().to_owned(),
                name: b["name"]
                    .as_str()
                    .ok_or_else(|| bad(&at, "a `tool_use` block needs its `name`"))?
                    .to_owned(),
                arguments: b.get("input").cloned().unwrap_or(json!({})).to_string(),
            }),
            Some("tool_result") if role == "user" => {
                let id = b["tool_use_id"]
                    .as_str()
                    .ok_or_else(|| bad(&at, "a `tool_result` block needs its `tool_use_id`"))?;
                let content = match &b["content"] {
                    Value::Null => String::new(),
                    c => text_parts(c, &at)?,
                };
                let mut m = ChatMessage::new("tool", content);
                m.tool_call_id = Some(id.to_owned());
                out.push(m);
            }
            Some(other) => return Err(bad(&at, format!("unsupported content block `{other}` here"))),
            None => return Err(bad(&at, "a content block needs its `type`")),
        }
    }
    if !text.is_empty() || !calls.is_empty() {
        let mut m = ChatMessage::new(role, text);
        m.tool_calls = calls;
        out.push(m);
    }
    Ok(())
}

/// Tools: `{"name", "description", "input_schema"}` (a schema is required).
fn tools(m: &serde_json::Map<String, Value>) -> Result<Vec<Tool>, ApiError> {
    tools_with(m, |t| {
        t["input_schema"]
            .is_object()
            .then_some((&t["name"], &t["description"], &t["input_schema"]))
    })
}

fn tool_choice(m: &serde_json::Map<String, Value>) -> Result<ToolChoice, ApiError> {
    let Some(c) = m.get("tool_choice").filter(|v| !v.is_null()) else {
        return Ok(ToolChoice::Auto);
    };
    match c["type"].as_str() {
        Some("auto") => Ok(ToolChoice::Auto),
        Some("any") => Ok(ToolChoice::Required),
        Some("none") => Ok(ToolChoice::None),
        Some("tool") => c["name"]
            .as_str()
            .map(|n| ToolChoice::Function(n.to_owned()))
            .ok_or_else(|| bad("tool_choice", "`tool_choice` of type `tool` needs its `name`")),
        _ => Err(bad(
            "tool_choice",
            "`tool_choice.type` must be `auto`, `any`, `tool` or `none`",
        )),
    }
}

/// `count_tokens` needs no `max_tokens`; a message does.
fn parse(body: &[u8], need_max_tokens: bool) -> Result<Parsed, ApiError> {
    let m = obj(body)?;
    let model = string(&m, "model")?;
    let max_tokens = match uint(&m, "max_tokens")? {
        Some(0) => return Err(bad("max_tokens", "`max_tokens` must be at least 1")),
        Some(n) => n as usize,
        None if need_max_tokens => return Err(bad("max_tokens", "`max_tokens` is required")),
        None => 1,
    };
    let mut messages = vec![];
    if let Some(system) = m.get("system").filter(|s| !s.is_null()) {
        messages.push(ChatMessage::new("system", text_parts(system, "system")?));
    }
    match m.get("messages") {
        Some(Value::Array(list)) if !list.is_empty() => {
            for (i, msg) in list.iter().enumerate() {
                turns(msg, i, &mut messages)?;
            }
        }
        _ => return Err(bad("messages", "`messages` must be a non-empty array")),
    }
    let stop = match m.get("stop_sequences") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("stop_sequences", "`stop_sequences` must be an array of strings"))?,
        Some(_) => return Err(bad("stop_sequences", "`stop_sequences` must be an array of strings")),
    };
    let sampling = sampling(&m)?;
    Ok(Parsed {
        model,
        stream: boolean(&m, "stream")?,
        request: GenerateRequest {
            prompt: Prompt::Chat(messages),
            max_tokens,
            sampling,
            stop,
            logprobs: None,
            cache_prompt: true,
            format: None,
            tools: tools(&m)?,
            tool_choice: tool_choice(&m)?,
            logit_bias: vec![],
        },
    })
}

fn stop_reason(r: &GenerationResult) -> &'static str {
    match r.finish_reason {
        _ if !r.tool_calls.is_empty() => "tool_use",
        _ if r.stop_sequence.is_some() => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::Stop | FinishReason::Cancelled => "end_turn",
    }
}

fn tool_use(c: &ToolCall) -> Value {
    let input: Value = serde_json::from_str(&c.arguments).unwrap_or(json!({}));
    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input})
}

fn message(id: &str, model: &str, r: &GenerationResult) -> Value {
    let mut content = vec![];
    if !r.text.is_empty() || r.tool_calls.is_empty() {
        content.push(json!({"type": "text", "text": r.text}));
    }
    content.extend(r.tool_calls.iter().map(tool_use));
    json!({"id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason(r), "stop_sequence": r.stop_sequence,
        "usage": {"input_tokens": r.usage.prompt_tokens, "output_tokens": r.usage.completion_tokens}})
}

fn event(kind: &str, data: Value) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

pub async fn messages(
    State(state): State<Arc<ServerState>>,
    Extension(note): Extension<RequestNote>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(state, note, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn count_tokens(State(state): State<Arc<ServerState>>, body: Result<Bytes, BytesRejection>) -> Response {
    let count = async {
        let p = parse(&body_bytes(body)?, false)?;
        let loaded = state.models.get(&parallax_host::ModelRef::parse(&p.model)).await?;
        let n = loaded.chat()?.prompt_tokens(&p.request)?;
        Ok::<_, AnthropicError>(Json(json!({"input_tokens": n})).into_response())
    };
    count.await.unwrap_or_else(IntoResponse::into_response)
}

async fn respond(
    state: Arc<ServerState>,
    note: RequestNote,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AnthropicError> {
    let p = parse(&body_bytes(body)?, true)?;
    let mut started = start(&state, &note, &p.model, p.request).await?;
    let id = format!("msg_{}", started.number);
    if !p.stream {
        let r = started.run_to_end(&state, &note).await?;
        return Ok(Json(message(&id, &started.model, &r)).into_response());
    }
    let Started {
        model,
        chat,
        mut gen,
        first,
        ..
    } = started;
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let _chat = chat;
        let mut pending = Some(first);
        let mut text_open = false;
        loop {
            let Some(ev) = next_event(&mut pending, &mut gen).await else {
                return;
            };
            let out = match ev {
                Ok(Event::Started { prompt_tokens, .. }) => event(
                    "message_start",
                    json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
                        "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": prompt_tokens, "output_tokens": 0}}}),
                ),
                Ok(Event::Token { text, .. }) if text.is_empty() => continue,
                Ok(Event::Token { text, .. }) => {
                    let mut out = String::new();
                    if !text_open {
                        text_open = true;
                        out.push_str(&event(
                            "content_block_start",
                            json!({"type": "content_block_start",
                            "index": 0, "content_block": {"type": "text", "text": ""}}),
                        ));
                    }
                    out.push_str(&event(
                        "content_block_delta",
                        json!({"type": "content_block_delta",
                        "index": 0, "delta": {"type": "text_delta", "text": text}}),
                    ));
                    out
                }
                Ok(Event::Finished(r)) => {
                    state.metrics.observe_generation(&r);
                    note.finished(&r);
                    let _ = tx.send(finish(&r, text_open)).await;
                    return;
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    let _ = tx
                        .send(event(
                            "error",
                            json!({"type": "error",
                            "error": {"type": "api_error", "message": e.message}}),
                        ))
                        .await;
                    return;
                }
            };
            if tx.send(out).await.is_err() {
                return;
            }
        }
    });
    Ok(sse_response(rx))
}

/// The stream's end: held-back text, the text block closed, each call as a `tool_use` block,
/// then the stop reason and usage.
fn finish(r: &GenerationResult, text_open: bool) -> String {
    let mut out = String::new();
    let mut index = 0;
    if !r.held_text.is_empty() || (!text_open && r.tool_calls.is_empty()) {
        if !text_open {
            out.push_str(&event(
                "content_block_start",
                json!({"type": "content_block_start",
                "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
        }
        if !r.held_text.is_empty() {
            out.push_str(&event(
                "content_block_delta",
                json!({"type": "content_block_delta",
                "index": 0, "delta": {"type": "text_delta", "text": r.held_text}}),
            ));
        }
        out.push_str(&event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    } else if text_open {
        out.push_str(&event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    for c in &r.tool_calls {
        out.push_str(&event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}}),
        ));
        out.push_str(&event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": c.arguments}}),
        ));
        out.push_str(&event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    out.push_str(&event(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason(r), "stop_sequence": r.stop_sequence},
        "usage": {"output_tokens": r.usage.completion_tokens}}),
    ));
    out.push_str(&event("message_stop", json!({"type": "message_stop"})));
    out
}
