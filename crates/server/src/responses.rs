//! OpenAI's Responses API, stateless (`POST /v1/responses`): `input` (a string or items:
//! messages, `function_call`, `function_call_output`), `instructions`, function tools,
//! `text.format`, streamed as its typed events or not. Nothing is stored: `previous_response_id`
//! and `store: true` are refused by name.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use parallax_core::tools::{Tool, ToolCall, ToolChoice};
use parallax_core::{ChatMessage, Event, FinishReason, GenerateRequest, GenerationResult, OutputFormat, Prompt};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::handlers::{body_bytes, next_event, sse_response, start, Started};
use crate::request::{boolean, obj, sampling, string, text_parts, tool_choice_with, tools_with, uint};
use crate::request_log::RequestNote;
use crate::wire::created;
use crate::ServerState;

const DEFAULT_MAX_TOKENS: usize = 512;

fn bad(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(param, message)
}

fn items(input: &Value, out: &mut Vec<ChatMessage>) -> Result<(), ApiError> {
    let list = match input {
        Value::String(s) => {
            out.push(ChatMessage::new("user", s.clone()));
            return Ok(());
        }
        Value::Array(a) if !a.is_empty() => a,
        _ => return Err(bad("input", "`input` must be a string or a non-empty array of items")),
    };
    for (i, item) in list.iter().enumerate() {
        let at = format!("input[{i}]");
        match item["type"].as_str().unwrap_or("message") {
            "message" => {
                let role = match item["role"].as_str() {
                    Some("developer") => "system",
                    Some(r @ ("user" | "assistant" | "system")) => r,
                    _ => return Err(bad(&format!("{at}.role"), "unsupported role")),
                };
                out.push(ChatMessage::new(
                    role,
                    text_parts(&item["content"], &format!("{at}.content"))?,
                ));
            }
            "function_call" => {
                let call = ToolCall {
                    id: item["call_id"].as_str().unwrap_or_default().to_owned(),
                    name: item["name"]
                        .as_str()
                        .ok_or_else(|| bad(&at, "a `function_call` item needs its `name`"))?
                        .to_owned(),
                    arguments: item["arguments"].as_str().unwrap_or("{}").to_owned(),
                };
                // Consecutive calls belong to one assistant turn.
                match out.last_mut() {
                    Some(last) if last.role == "assistant" && last.content.is_empty() => last.tool_calls.push(call),
                    _ => {
                        let mut m = ChatMessage::new("assistant", "");
                        m.tool_calls = vec![call];
                        out.push(m);
                    }
                }
            }
            "function_call_output" => {
                let id = item["call_id"]
                    .as_str()
                    .ok_or_else(|| bad(&at, "a `function_call_output` item needs its `call_id`"))?;
                let output = match &item["output"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let mut m = ChatMessage::new("tool", output);
                m.tool_call_id = Some(id.to_owned());
                out.push(m);
            }
            other => return Err(bad(&at, format!("unsupported item type `{other}`"))),
        }
    }
    Ok(())
}

/// Function tools, flat: `{"type": "function", "name", "description", "parameters"}`.
fn tools(m: &serde_json::Map<String, Value>) -> Result<Vec<Tool>, ApiError> {
    tools_with(m, |t| {
        (t["type"] == "function").then_some((&t["name"], &t["description"], &t["parameters"]))
    })
}

fn tool_choice(m: &serde_json::Map<String, Value>) -> Result<ToolChoice, ApiError> {
    tool_choice_with(m, |v| v["name"].as_str())
}

/// `text.format`: `text`, `json_object` or `json_schema` (with `schema` beside `type`).
fn format(m: &serde_json::Map<String, Value>) -> Result<Option<OutputFormat>, ApiError> {
    let f = &m.get("text").cloned().unwrap_or(Value::Null)["format"];
    match f["type"].as_str() {
        None if f.is_null() => Ok(None),
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(OutputFormat::JsonObject)),
        Some("json_schema") => match &f["schema"] {
            s @ Value::Object(_) => Ok(Some(OutputFormat::JsonSchema { schema: s.clone() })),
            _ => Err(bad("text.format", "`text.format.schema` must be a JSON schema object")),
        },
        _ => Err(bad(
            "text.format",
            "`text.format.type` must be `text`, `json_object` or `json_schema`",
        )),
    }
}

struct Parsed {
    model: String,
    stream: bool,
    request: GenerateRequest,
}

fn parse(body: &[u8]) -> Result<Parsed, ApiError> {
    let m = obj(body)?;
    let model = string(&m, "model")?;
    if m.get("previous_response_id").is_some_and(|v| !v.is_null()) {
        return Err(bad(
            "previous_response_id",
            "responses are not stored here: send the whole conversation as `input`",
        ));
    }
    if m.get("store").and_then(Value::as_bool) == Some(true) {
        return Err(bad(
            "store",
            "responses are not stored here (`store` must be false or absent)",
        ));
    }
    let mut messages = vec![];
    if let Some(i) = m.get("instructions").and_then(Value::as_str) {
        messages.push(ChatMessage::new("system", i));
    }
    items(m.get("input").unwrap_or(&Value::Null), &mut messages)?;
    let max_tokens = match uint(&m, "max_output_tokens")? {
        Some(0) => return Err(bad("max_output_tokens", "`max_output_tokens` must be at least 1")),
        Some(n) => n as usize,
        None => DEFAULT_MAX_TOKENS,
    };
    let sampling = sampling(&m)?;
    Ok(Parsed {
        model,
        stream: boolean(&m, "stream")?,
        request: GenerateRequest {
            prompt: Prompt::Chat(messages),
            max_tokens,
            sampling,
            stop: vec![],
            logprobs: None,
            cache_prompt: true,
            format: format(&m)?,
            tools: tools(&m)?,
            tool_choice: tool_choice(&m)?,
            logit_bias: vec![],
        },
    })
}

fn output_message(id: &str, text: &str) -> Value {
    json!({"type": "message", "id": format!("msg_{id}"), "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn function_call(c: &ToolCall) -> Value {
    json!({"type": "function_call", "id": format!("fc_{}", c.id), "call_id": c.id, "name": c.name,
        "arguments": c.arguments, "status": "completed"})
}

/// The response object; `r` is `None` while it is still running.
fn response(id: &str, model: &str, r: Option<&GenerationResult>) -> Value {
    let (status, output, usage, incomplete) = match r {
        None => ("in_progress", vec![], Value::Null, Value::Null),
        Some(r) => {
            let mut output = vec![];
            if !r.text.is_empty() || r.tool_calls.is_empty() {
                output.push(output_message(id, &r.text));
            }
            output.extend(r.tool_calls.iter().map(function_call));
            let (p, c) = (r.usage.prompt_tokens, r.usage.completion_tokens);
            let usage = json!({"input_tokens": p, "output_tokens": c, "total_tokens": p + c,
                "input_tokens_details": {"cached_tokens": r.usage.cached_tokens},
                "output_tokens_details": {"reasoning_tokens": 0}});
            match r.finish_reason {
                FinishReason::Length if r.tool_calls.is_empty() => {
                    ("incomplete", output, usage, json!({"reason": "max_output_tokens"}))
                }
                _ => ("completed", output, usage, Value::Null),
            }
        }
    };
    json!({"id": format!("resp_{id}"), "object": "response", "created_at": created(), "status": status,
        "model": model, "output": output, "usage": usage, "incomplete_details": incomplete, "error": null,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "store": false})
}

pub async fn responses(
    State(state): State<Arc<ServerState>>,
    Extension(note): Extension<RequestNote>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(state, note, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn respond(
    state: Arc<ServerState>,
    note: RequestNote,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let p = parse(&body_bytes(body)?)?;
    let mut started = start(&state, &note, &p.model, p.request).await?;
    let id = started.number.to_string();
    if !p.stream {
        let r = started.run_to_end(&state, &note).await?;
        return Ok(Json(response(&id, &started.model, Some(&r))).into_response());
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
        let mut events = Events::default();
        let mut pending = Some(first);
        let start = events.send("response.created", json!({"response": response(&id, &model, None)}));
        if tx.send(start).await.is_err() {
            return;
        }
        let mut text = String::new();
        loop {
            let Some(ev) = next_event(&mut pending, &mut gen).await else {
                return;
            };
            let out = match ev {
                Ok(Event::Started { .. }) => continue,
                Ok(Event::Token { text: t, .. }) if t.is_empty() => continue,
                Ok(Event::Token { text: t, .. }) => {
                    let mut out = String::new();
                    if text.is_empty() {
                        out.push_str(&events.open_message(&id));
                    }
                    text.push_str(&t);
                    out.push_str(&events.send(
                        "response.output_text.delta",
                        json!({"item_id": format!("msg_{id}"), "output_index": 0, "content_index": 0, "delta": t}),
                    ));
                    out
                }
                Ok(Event::Finished(r)) => {
                    state.metrics.observe_generation(&r);
                    note.finished(&r);
                    let _ = tx.send(events.finish(&id, &model, &r, !text.is_empty())).await;
                    return;
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    let _ = tx
                        .send(events.send("error", json!({"code": e.code, "message": e.message, "param": e.param})))
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

/// The stream's typed events, numbered.
#[derive(Default)]
struct Events {
    sequence: u64,
}

impl Events {
    fn send(&mut self, kind: &str, mut data: Value) -> String {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        format!("event: {kind}\ndata: {data}\n\n")
    }

    fn open_message(&mut self, id: &str) -> String {
        let item = json!({"type": "message", "id": format!("msg_{id}"), "status": "in_progress",
            "role": "assistant", "content": []});
        let mut out = self.send("response.output_item.added", json!({"output_index": 0, "item": item}));
        out.push_str(&self.send(
            "response.content_part.added",
            json!({"item_id": format!("msg_{id}"), "output_index": 0, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []}}),
        ));
        out
    }

    /// Held-back text, the message closed, each call as a `function_call` item, then the
    /// whole response.
    fn finish(&mut self, id: &str, model: &str, r: &GenerationResult, opened: bool) -> String {
        let mut out = String::new();
        let has_message = !r.text.is_empty() || r.tool_calls.is_empty();
        if has_message {
            if !opened {
                out.push_str(&self.open_message(id));
            }
            if !r.held_text.is_empty() {
                out.push_str(&self.send(
                    "response.output_text.delta",
                    json!({"item_id": format!("msg_{id}"), "output_index": 0, "content_index": 0,
                        "delta": r.held_text}),
                ));
            }
            let msg = format!("msg_{id}");
            out.push_str(&self.send(
                "response.output_text.done",
                json!({"item_id": msg, "output_index": 0, "content_index": 0, "text": r.text}),
            ));
            out.push_str(&self.send(
                "response.content_part.done",
                json!({"item_id": msg, "output_index": 0, "content_index": 0,
                    "part": {"type": "output_text", "text": r.text, "annotations": []}}),
            ));
            out.push_str(&self.send(
                "response.output_item.done",
                json!({"output_index": 0, "item": output_message(id, &r.text)}),
            ));
        }
        for (k, c) in r.tool_calls.iter().enumerate() {
            let index = k + usize::from(has_message);
            let mut item = function_call(c);
            item["status"] = json!("in_progress");
            item["arguments"] = json!("");
            out.push_str(&self.send(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            ));
            let item_id = format!("fc_{}", c.id);
            out.push_str(&self.send(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": c.arguments}),
            ));
            out.push_str(&self.send(
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": index, "arguments": c.arguments}),
            ));
            out.push_str(&self.send(
                "response.output_item.done",
                json!({"output_index": index, "item": function_call(c)}),
            ));
        }
        let done = response(id, model, Some(r));
        let kind = match done["status"].as_str() {
            Some("incomplete") => "response.incomplete",
            _ => "response.completed",
        };
        out.push_str(&self.send(kind, json!({"response": done})));
        out
    }
}
