//! Tools through real chat templates (llama.cpp's `models/templates/`): each family's template
//! renders the tools and a call / result round trip, says its call format, and a call written
//! the way that format writes it parses back.

use parallax_core::tools::{parse_calls, Tool, ToolCall, ToolFormat};
use parallax_core::{ChatMessage, ChatTemplate};
use serde_json::json;

fn template(name: &str) -> ChatTemplate {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/llama.cpp/templates")
        .join(name);
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make models`)", path.display()));
    ChatTemplate::new(source, "<s>", "</s>", false).expect("compiles")
}

#[test]
fn each_familys_template_renders_tools_and_a_round_trip() {
    let tool = Tool {
        name: "get_weather".into(),
        description: Some("Current weather of a city".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    };
    let call = ToolCall {
        id: "call00000".into(),
        name: "get_weather".into(),
        arguments: r#"{"city": "Paris"}"#.into(),
    };
    let mut assistant = ChatMessage::new("assistant", "");
    assistant.tool_calls = vec![call];
    let mut result = ChatMessage::new("tool", r#"{"celsius": 21}"#);
    result.tool_call_id = Some("call00000".into());
    let turns = vec![ChatMessage::new("user", "Weather in Paris?"), assistant, result];
    for (file, format, reply) in [
        (
            "Qwen-Qwen2.5-7B-Instruct.jinja",
            ToolFormat::Hermes,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>",
        ),
        (
            "meta-llama-Llama-3.1-8B-Instruct.jinja",
            ToolFormat::Llama3,
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}",
        ),
        (
            "mistralai-Mistral-Nemo-Instruct-2407.jinja",
            ToolFormat::Mistral,
            "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}, \"id\": \"abcdefghi\"}]",
        ),
        (
            "openai-gpt-oss-120b.jinja",
            ToolFormat::Harmony,
            "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Rome\"}<|call|>",
        ),
        (
            "microsoft-Phi-3.5-mini-instruct.jinja",
            ToolFormat::Generic,
            "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}</tool_call>",
        ),
    ] {
        let t = template(file);
        assert_eq!(t.tool_format(), format, "{file}");
        let text = t
            .render_with_tools(&turns, std::slice::from_ref(&tool), true)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            text.contains("get_weather") && text.contains("Current weather"),
            "{file}: tools missing\n{text}"
        );
        assert!(
            text.contains("Paris") && text.contains("21"),
            "{file}: the call or its result is missing\n{text}"
        );
        let (_, calls) = parse_calls(format, reply);
        assert_eq!(calls.len(), 1, "{file}");
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&calls[0].arguments).ok(),
            Some(json!({"city": "Rome"}))
        );
    }
}
