//! A generation request as an OpenAI chat-completions body for a remote server. What a remote
//! cannot honour is refused by name, never dropped: token-level features (log-probabilities,
//! logit bias, raw token prompts) mean our vocabulary, not the server's; tools and Lark grammars
//! are not forwarded yet. JSON output (`json_object`, `json_schema`) is the server's to enforce.

use parallax_core::structured::OutputFormat;
use parallax_core::{Error, GenerateRequest, Prompt};
use serde_json::{json, Value};

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
    if !req.tools.is_empty()
        || messages
            .iter()
            .any(|m| !m.tool_calls.is_empty() || m.tool_call_id.is_some())
    {
        return refuse("tools", "tool calling");
    }
    let s = &req.sampling;
    let mut body = json!({
        "model": model,
        "messages": messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
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
