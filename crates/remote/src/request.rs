//! A generation request as an OpenAI chat-completions body for a remote server. What a remote
//! cannot honour is refused by name, never dropped: token-level features (log-probabilities,
//! logit bias, raw token prompts) mean our vocabulary, not the server's; a Lark grammar is ours
//! alone. Tools and JSON output (`json_object`, `json_schema`) go to the server, whose template
//! and grammar engine handle them.

use parallax_core::structured::OutputFormat;
use parallax_core::tools::ToolChoice;
use parallax_core::{Error, GenerateRequest, Prompt};
use serde_json::{json, Value};

/// A message in OpenAI's shape: an assistant's calls as `tool_calls`, a result with its call's id.
fn message(m: &parallax_core::ChatMessage) -> Value {
    let mut v = json!({"role": m.role, "content": m.content});
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
            "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
        if m.content.is_empty() {
            v["content"] = Value::Null;
        }
    }
    if let Some(id) = &m.tool_call_id {
        v["tool_call_id"] = json!(id);
    }
    v
}

/// The body for `model`, without `stream` (the client adds it).
pub fn chat_body(model: &str, req: &GenerateRequest) -> parallax_core::Result<Value> {
    let Prompt::Chat(messages) = &req.prompt else {
        return Err(Error::invalid(
            "prompt",
            "a remote model takes chat messages (raw text and token prompts are not forwarded)",
        ));
    };
    let refuse = |param: &'static str, what: &str| {
        Err(Error::invalid(
            param,
            format!("{what} is not supported for remote models"),
        ))
    };
    if req.logprobs.is_some() {
        return refuse("logprobs", "log-probabilities");
    }
    if !req.logit_bias.is_empty() {
        return refuse("logit_bias", "logit bias");
    }
    let response_format = match &req.format {
        None => None,
        Some(OutputFormat::JsonObject) => Some(json!({"type": "json_object"})),
        Some(OutputFormat::JsonSchema { schema }) => Some(json!({"type": "json_schema",
            "json_schema": {"name": "response", "schema": schema, "strict": true}})),
        Some(OutputFormat::Lark { .. }) => return refuse("response_format", "a Lark grammar"),
    };
    let s = &req.sampling;
    let mut body = json!({
        "model": model,
        "messages": messages.iter().map(message).collect::<Vec<_>>(),
        "max_tokens": req.max_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "seed": s.seed,
    });
    // llama.cpp's, vLLM's and Parallax's extensions, sent only when they change something.
    if s.top_k > 0 {
        body["top_k"] = json!(s.top_k);
    }
    if s.min_p > 0.0 {
        body["min_p"] = json!(s.min_p);
    }
    if s.repetition_penalty != 1.0 {
        body["repeat_penalty"] = json!(s.repetition_penalty);
    }
    if s.presence_penalty != 0.0 {
        body["presence_penalty"] = json!(s.presence_penalty);
    }
    if s.frequency_penalty != 0.0 {
        body["frequency_penalty"] = json!(s.frequency_penalty);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    // Tools as OpenAI sends them; the server renders them with its template and parses the calls.
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        body["tool_choice"] = match &req.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
        };
    }
    // Constrained by the server's own grammar engine (llama-server, vLLM and Parallax have one).
    if let Some(f) = response_format {
        body["response_format"] = f;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parallax_core::ChatMessage;

    fn request() -> GenerateRequest {
        let mut r = GenerateRequest::new(
            Prompt::Chat(vec![ChatMessage::new("user", "hi")]),
            8,
            Default::default(),
        );
        r.sampling.seed = 7;
        r
    }

    #[test]
    fn sampling_and_stops_are_sent_and_token_level_features_refused() {
        let mut r = request();
        r.stop = vec!["END".into()];
        r.sampling.repetition_penalty = 1.1;
        let b = chat_body("m", &r).unwrap();
        assert_eq!(b["model"], "m");
        assert_eq!(b["messages"][0]["content"], "hi");
        assert_eq!((b["max_tokens"].as_u64(), b["seed"].as_u64()), (Some(8), Some(7)));
        assert_eq!(b["stop"][0], "END");
        assert!((b["repeat_penalty"].as_f64().unwrap() - 1.1).abs() < 1e-6);
        let mut r = request();
        r.logprobs = Some(2);
        assert_eq!(chat_body("m", &r).unwrap_err().code(), "invalid_parameter");
        let mut r = request();
        r.logit_bias = vec![(1, -100.0)];
        assert!(chat_body("m", &r).unwrap_err().to_string().contains("logit_bias"));
        let mut r = request();
        r.prompt = Prompt::Tokens(vec![1, 2]);
        assert!(chat_body("m", &r).is_err());
        // Tools, the choice and a call's round trip go as OpenAI sends them.
        let mut r = request();
        r.tools = vec![parallax_core::tools::Tool {
            name: "get_weather".into(),
            description: None,
            parameters: json!({"type": "object"}),
        }];
        r.tool_choice = ToolChoice::Function("get_weather".into());
        let mut asked = ChatMessage::new("assistant", "");
        asked.tool_calls = vec![parallax_core::tools::ToolCall {
            id: "c1".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        }];
        let mut answer = ChatMessage::new("tool", "21 C");
        answer.tool_call_id = Some("c1".into());
        r.prompt = Prompt::Chat(vec![ChatMessage::new("user", "hi"), asked, answer]);
        let b = chat_body("m", &r).unwrap();
        assert_eq!(b["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(b["tool_choice"]["function"]["name"], "get_weather");
        assert!(b["messages"][1]["content"].is_null());
        assert_eq!(b["messages"][1]["tool_calls"][0]["function"]["arguments"], "{}");
        assert_eq!(b["messages"][2]["tool_call_id"], "c1");
        // JSON output goes to the server; a Lark grammar is ours alone.
        let mut r = request();
        r.format = Some(OutputFormat::JsonSchema {
            schema: json!({"type": "object"}),
        });
        let b = chat_body("m", &r).unwrap();
        assert_eq!(b["response_format"]["json_schema"]["schema"]["type"], "object");
        r.format = Some(OutputFormat::Lark {
            grammar: "start: \"a\"".into(),
        });
        assert!(chat_body("m", &r).unwrap_err().to_string().contains("response_format"));
    }
}
