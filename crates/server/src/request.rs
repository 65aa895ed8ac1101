//! OpenAI request bodies → a core `GenerateRequest`, with errors that name the offending field.

use parallax_core::tools::{Tool, ToolCall, ToolChoice};
use parallax_core::{ChatMessage, GenerateRequest, OutputFormat, Prompt, SamplingParams, MAX_TOP_LOGPROBS};
use serde_json::Value;

use crate::error::ApiError;

const DEFAULT_MAX_TOKENS: usize = 512;
/// Most choices one request may ask for (`n`).
pub const MAX_CHOICES: usize = 8;

/// What every OpenAI request carries besides the prompt.
pub struct Common {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// Choices to generate (`n`), each with its own seed (the request's, plus its index).
    pub n: usize,
    /// `parallel_tool_calls: false`: at most one call per reply.
    pub one_call: bool,
    pub request: GenerateRequest,
}

/// OpenAI parameters that change the output and that we cannot honour: refused by name rather
/// than dropped (parameters we do not know at all are ignored, as OpenAI ignores them).
const REFUSED: &[(&str, &str)] = &[
    ("audio", "audio output is not supported"),
    ("prediction", "predicted outputs are not supported"),
    ("web_search_options", "web search is not supported"),
    ("reasoning_effort", "reasoning effort cannot be set for these models"),
    ("functions", "the legacy `functions` are not supported: use `tools`"),
    (
        "function_call",
        "the legacy `function_call` is not supported: use `tool_choice`",
    ),
];

fn refuse_unsupported(m: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    for (param, why) in REFUSED {
        if m.get(*param).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::bad_request(param, *why));
        }
    }
    match m.get("modalities") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(a)) if a.iter().all(|v| v == "text") => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "modalities",
            "only `[\"text\"]` output is supported",
        )),
    }
}

/// `logit_bias`: `{"token id": bias}`, each bias in [−100, 100].
fn logit_bias(m: &serde_json::Map<String, Value>) -> Result<Vec<(u32, f32)>, ApiError> {
    let map = match m.get("logit_bias") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(wrong("logit_bias", "an object of token id to bias")),
    };
    map.iter()
        .map(|(id, bias)| {
            let id: u32 = id
                .parse()
                .map_err(|_| wrong("logit_bias", "an object whose keys are token ids"))?;
            match bias.as_f64() {
                Some(b) if (-100.0..=100.0).contains(&b) => Ok((id, b as f32)),
                _ => Err(wrong("logit_bias", "an object of biases between -100 and 100")),
            }
        })
        .collect()
}

pub fn obj(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("", "the request body must be a JSON object")),
        Err(e) => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("malformed JSON: {e}"),
        )),
    }
}

fn wrong(param: &str, want: &str) -> ApiError {
    ApiError::bad_request(param, format!("`{param}` must be {want}"))
}

/// A required string field.
pub fn string(m: &serde_json::Map<String, Value>, k: &str) -> Result<String, ApiError> {
    m.get(k)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| wrong(k, "a string"))
}

/// Chat: `logprobs: bool` and `top_logprobs: 0..=20`, which needs `logprobs`.
fn chat_logprobs(m: &serde_json::Map<String, Value>) -> Result<Option<usize>, ApiError> {
    let top = uint(m, "top_logprobs")?;
    if top.is_some_and(|n| n as usize > MAX_TOP_LOGPROBS) {
        return Err(wrong("top_logprobs", "between 0 and 20"));
    }
    match (boolean(m, "logprobs")?, top) {
        (true, top) => Ok(Some(top.unwrap_or(0) as usize)),
        (false, Some(_)) => Err(ApiError::bad_request(
            "top_logprobs",
            "`top_logprobs` needs `logprobs: true`",
        )),
        (false, None) => Ok(None),
    }
}

/// Legacy completions: `logprobs` is the number of alternatives, 0..=5.
fn completion_logprobs(m: &serde_json::Map<String, Value>) -> Result<Option<usize>, ApiError> {
    match uint(m, "logprobs")? {
        Some(n) if n > 5 => Err(wrong("logprobs", "between 0 and 5")),
        n => Ok(n.map(|n| n as usize)),
    }
}

pub(crate) fn float(m: &serde_json::Map<String, Value>, k: &str) -> Result<Option<f32>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(|x| Some(x as f32)).ok_or_else(|| wrong(k, "a number")),
    }
}

/// An integer that may be negative (`top_k`: 0 or less turns it off, as llama-server reads it).
pub(crate) fn int(m: &serde_json::Map<String, Value>, k: &str) -> Result<Option<i64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| wrong(k, "an integer")),
    }
}

pub(crate) fn uint(m: &serde_json::Map<String, Value>, k: &str) -> Result<Option<u64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| wrong(k, "a non-negative integer")),
    }
}

pub(crate) fn boolean(m: &serde_json::Map<String, Value>, k: &str) -> Result<bool, ApiError> {
    Ok(optional_bool(m, k)?.unwrap_or(false))
}

fn optional_bool(m: &serde_json::Map<String, Value>, k: &str) -> Result<Option<bool>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| wrong(k, "a boolean")),
    }
}

fn stop(m: &serde_json::Map<String, Value>) -> Result<Vec<String>, ApiError> {
    match m.get("stop") {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if a.len() <= 4 => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong("stop", "a string or an array of up to 4 strings"))
            })
            .collect(),
        Some(_) => Err(wrong("stop", "a string or an array of up to 4 strings")),
    }
}

/// A message's `content`: a string, or an array of text parts (`text`; the Responses API's
/// `input_text` / `output_text` too).
fn content(v: &Value, i: usize) -> Result<String, ApiError> {
    text_parts(v, &format!("messages[{i}].content"))
}

/// The text of a string or of an array of text parts, any other part an error naming `param`.
pub(crate) fn text_parts(v: &Value, param: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match (p["type"].as_str(), p["text"].as_str()) {
                (Some("text" | "input_text" | "output_text"), Some(t)) => Ok(t),
                _ => Err(ApiError::bad_request(
                    param,
                    format!("`{param}`: only text parts are supported"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|t| t.concat()),
        _ => Err(ApiError::bad_request(
            param,
            format!("`{param}` must be a string or an array of text parts"),
        )),
    }
}

fn messages(m: &serde_json::Map<String, Value>) -> Result<Vec<ChatMessage>, ApiError> {
    let list = match m.get("messages") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err(ApiError::bad_request("messages", "`messages` must not be empty")),
        Some(_) => return Err(wrong("messages", "an array of messages")),
        None => return Err(ApiError::bad_request("messages", "`messages` is required")),
    };
    list.iter().enumerate().map(|(i, msg)| message(msg, i)).collect()
}

fn message(msg: &Value, i: usize) -> Result<ChatMessage, ApiError> {
    let role = msg["role"]
        .as_str()
        .ok_or_else(|| wrong(&format!("messages[{i}].role"), "a string"))?;
    if !["system", "user", "assistant", "developer", "tool"].contains(&role) {
        return Err(ApiError::bad_request(
            &format!("messages[{i}].role"),
            format!("unsupported role `{role}`"),
        ));
    }
    let role = if role == "developer" { "system" } else { role };
    let calls = match &msg["tool_calls"] {
        Value::Null => vec![],
        Value::Array(calls) if role == "assistant" => calls
            .iter()
            .enumerate()
            .map(|(j, c)| tool_call(c, &format!("messages[{i}].tool_calls[{j}]")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(wrong(
                &format!("messages[{i}].tool_calls"),
                "an array on an assistant message",
            ))
        }
    };
    // An assistant turn that only calls tools has `content: null`.
    let text = match (&msg["content"], role) {
        (Value::Null, "assistant") => String::new(),
        (c, _) => content(c, i)?,
    };
    let mut message = ChatMessage::new(role, text);
    message.tool_calls = calls;
    if role == "tool" {
        let id = msg["tool_call_id"].as_str().ok_or_else(|| {
            ApiError::bad_request(
                &format!("messages[{i}].tool_call_id"),
                "a `tool` message needs the `tool_call_id` of the call it answers",
            )
        })?;
        message.tool_call_id = Some(id.to_owned());
    }
    Ok(message)
}

/// `{"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}`.
fn tool_call(c: &Value, param: &str) -> Result<ToolCall, ApiError> {
    let f = &c["function"];
    let name = f["name"]
        .as_str()
        .ok_or_else(|| wrong(&format!("{param}.function.name"), "a string"))?;
    let arguments = match &f["arguments"] {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    };
    Ok(ToolCall {
        id: c["id"].as_str().unwrap_or_default().to_owned(),
        name: name.to_owned(),
        arguments,
    })
}

/// `tools`: function tools, each with a name and a JSON-schema object of parameters.
fn tools(m: &serde_json::Map<String, Value>) -> Result<Vec<Tool>, ApiError> {
    tools_with(m, |t| {
        (t["type"] == "function")
            .then_some(&t["function"])
            .map(|f| (&f["name"], &f["description"], &f["parameters"]))
    })
}

/// `tools`, each read by `parts` into its name, description and parameters schema (`None`: not
/// a function tool). The three APIs nest them differently; the checks are one.
pub(crate) fn tools_with(
    m: &serde_json::Map<String, Value>,
    parts: impl Fn(&Value) -> Option<(&Value, &Value, &Value)>,
) -> Result<Vec<Tool>, ApiError> {
    let list = match m.get("tools") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(wrong("tools", "an array of function tools")),
    };
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let bad = |why: &str| ApiError::bad_request("tools", format!("`tools[{i}]`: {why}"));
            let (name, description, parameters) = parts(t).ok_or_else(|| bad("only function tools are supported"))?;
            Tool::from_parts(name, description, parameters).map_err(|why| bad(&why))
        })
        .collect()
}

/// `tool_choice`: `auto`, `none`, `required`, or `{"type": "function", "function": {"name"}}`.
fn tool_choice(m: &serde_json::Map<String, Value>) -> Result<ToolChoice, ApiError> {
    tool_choice_with(m, |v| v["function"]["name"].as_str())
}

/// `tool_choice` where a named function's name is at `name_of` (the Responses API puts it at
/// the top of the object).
pub(crate) fn tool_choice_with(
    m: &serde_json::Map<String, Value>,
    name_of: fn(&Value) -> Option<&str>,
) -> Result<ToolChoice, ApiError> {
    let bad = || wrong("tool_choice", "`auto`, `none`, `required` or a named function");
    match m.get("tool_choice") {
        None | Some(Value::Null) => Ok(ToolChoice::Auto),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(bad()),
        },
        Some(v) => name_of(v).map(|n| ToolChoice::Function(n.to_owned())).ok_or_else(bad),
    }
}

fn common(m: &serde_json::Map<String, Value>, prompt: Prompt, logprobs: Option<usize>) -> Result<Common, ApiError> {
    let model = string(m, "model")?;
    refuse_unsupported(m)?;
    let n = match uint(m, "n")? {
        None => 1,
        Some(n) if (1..=MAX_CHOICES as u64).contains(&n) => n as usize,
        Some(_) => return Err(wrong("n", &format!("between 1 and {MAX_CHOICES}"))),
    };
    let max_tokens = match (uint(m, "max_completion_tokens")?, uint(m, "max_tokens")?) {
        (Some(n), _) | (None, Some(n)) => n as usize,
        (None, None) => DEFAULT_MAX_TOKENS,
    };
    if max_tokens == 0 {
        return Err(ApiError::bad_request("max_tokens", "`max_tokens` must be at least 1"));
    }
    let sampling = sampling(m)?;
    let stream = boolean(m, "stream")?;
    let include_usage = match m.get("stream_options") {
        Some(Value::Object(o)) => o.get("include_usage").and_then(Value::as_bool).unwrap_or(false),
        None | Some(Value::Null) => false,
        Some(_) => return Err(wrong("stream_options", "an object")),
    };
    Ok(Common {
        model,
        stream,
        include_usage,
        n,
        one_call: optional_bool(m, "parallel_tool_calls")? == Some(false),
        request: GenerateRequest {
            prompt,
            max_tokens,
            sampling,
            stop: stop(m)?,
            logprobs,
            cache_prompt: optional_bool(m, "cache_prompt")?.unwrap_or(true),
            format: response_format(m)?,
            tools: tools(m)?,
            tool_choice: tool_choice(m)?,
            logit_bias: logit_bias(m)?,
        },
    })
}

/// The sampling parameters every API shares (each reads those its clients send; llama-server's
/// extras are accepted everywhere), validated. Without a `seed`, a fresh one.
pub(crate) fn sampling(m: &serde_json::Map<String, Value>) -> Result<SamplingParams, ApiError> {
    let sampling = SamplingParams {
        temperature: float(m, "temperature")?.unwrap_or(1.0),
        top_p: float(m, "top_p")?.unwrap_or(1.0),
        top_k: int(m, "top_k")?.map_or(0, |k| k.max(0) as usize),
        min_p: float(m, "min_p")?.unwrap_or(0.0),
        // llama-server's name for it, too.
        repetition_penalty: match float(m, "repetition_penalty")? {
            Some(p) => p,
            None => float(m, "repeat_penalty")?.unwrap_or(1.0),
        },
        presence_penalty: float(m, "presence_penalty")?.unwrap_or(0.0),
        frequency_penalty: float(m, "frequency_penalty")?.unwrap_or(0.0),
        seed: uint(m, "seed")?.unwrap_or_else(parallax_core::sampling::fresh_seed),
        ..SamplingParams::default()
    };
    sampling.validate().map_err(ApiError::from)?;
    Ok(sampling)
}

/// `response_format`: `text`, `json_object`, or `json_schema` with its `json_schema.schema`
/// (compiled by the engine worker: an unsupported keyword is a 400 from there).
fn response_format(m: &serde_json::Map<String, Value>) -> Result<Option<OutputFormat>, ApiError> {
    let f = match m.get("response_format") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(f)) => f,
        Some(_) => return Err(wrong("response_format", "an object")),
    };
    match f.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(OutputFormat::JsonObject)),
        Some("json_schema") => match f.get("json_schema").and_then(|j| j.get("schema")) {
            Some(schema) if schema.is_object() || schema.is_boolean() => Ok(Some(OutputFormat::JsonSchema {
                schema: schema.clone(),
            })),
            _ => Err(ApiError::bad_request(
                "response_format",
                "`response_format.json_schema.schema` must be a JSON schema object",
            )),
        },
        _ => Err(wrong(
            "response_format",
            "`{\"type\": \"text\"}`, `{\"type\": \"json_object\"}` or `{\"type\": \"json_schema\", \"json_schema\": {…}}`",
        )),
    }
}

pub fn chat(body: &[u8]) -> Result<Common, ApiError> {
    let m = obj(body)?;
    let prompt = Prompt::Chat(messages(&m)?);
    common(&m, prompt, chat_logprobs(&m)?)
}

pub fn completion(body: &[u8]) -> Result<Common, ApiError> {
    let m = obj(body)?;
    let prompt = match m.get("prompt") {
        Some(Value::String(s)) => Prompt::Raw(s.clone()),
        Some(_) => return Err(wrong("prompt", "a string")),
        None => return Err(ApiError::bad_request("prompt", "`prompt` is required")),
    };
    let common = common(&m, prompt, completion_logprobs(&m)?)?;
    if !common.request.tools.is_empty() {
        return Err(ApiError::bad_request("tools", "tools need /v1/chat/completions"));
    }
    Ok(common)
}
