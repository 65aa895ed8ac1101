//! Tool calling: the tools a request offers, how the model's chat template writes a call
//! (`ToolFormat`, read from the template's own text), the parser that turns a reply back into
//! OpenAI-style calls, and the grammar that forces a call when the request requires one.
//!
//! Formats (the families of the models issue that use each):
//! - `Hermes`: `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (Qwen2/2.5/3, Qwen3-MoE,
//!   Hermes-style fine-tunes);
//! - `Llama3`: a bare `{"name": …, "parameters": {…}}`, optionally after `<|python_tag|>`
//!   (Llama 3.1–3.3, Llama 4);
//! - `Mistral`: `[TOOL_CALLS][{"name": …, "arguments": {…}}]`, or the newer
//!   `[TOOL_CALLS]name[ARGS]{…}` (Mistral, Mixtral);
//! - `Harmony`: `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>`
//!   (GPT-OSS);
//! - `Generic`: templates that know no tools (SmolLM2, Gemma, Phi-3): the tools are described
//!   in a system message and calls are written as `Hermes`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON schema of the arguments object.
    pub parameters: Value,
}

impl Tool {
    /// A function tool from its name, description and parameters schema as a request gives
    /// them (`null` parameters: no arguments); the error says what is wrong with it.
    pub fn from_parts(name: &Value, description: &Value, parameters: &Value) -> std::result::Result<Tool, String> {
        let name = name
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or("its name must be a string")?;
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err("its name may hold only letters, digits, `_` and `-`".into());
        }
        let parameters = match parameters {
            Value::Null => json!({"type": "object", "properties": {}}),
            p @ Value::Object(o) if o.get("type").is_none_or(|t| t == "object") => p.clone(),
            _ => return Err("its parameters must be a JSON schema of an object".into()),
        };
        Ok(Tool {
            name: name.to_owned(),
            description: description.as_str().map(str::to_owned),
            parameters,
        })
    }

    /// A tool list as a person writes it: a JSON array whose items are OpenAI's
    /// `{"type": "function", "function": {…}}` or the bare `{"name", "description",
    /// "parameters"}`. Empty text is no tools.
    pub fn list_from_json(text: &str) -> std::result::Result<Vec<Tool>, String> {
        if text.trim().is_empty() {
            return Ok(vec![]);
        }
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let list = v.as_array().ok_or("the tools must be a JSON array")?;
        list.iter()
            .enumerate()
            .map(|(i, t)| {
                let f = if t["type"] == "function" { &t["function"] } else { t };
                Tool::from_parts(&f["name"], &f["description"], &f["parameters"])
                    .map_err(|why| format!("tool {}: {why}", i + 1))
            })
            .collect()
    }
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    #[default]
    Auto,
    None,
    Required,
    Function(String),
}

/// A call the model made: arguments as JSON text, as OpenAI sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    Hermes,
    Llama3,
    Mistral,
    Harmony,
    Generic,
}

impl ToolFormat {
    /// The format a chat template writes calls in, read from its source.
    pub fn of_template(source: &str) -> ToolFormat {
        if source.contains("<tool_call>") {
            ToolFormat::Hermes
        } else if source.contains("[TOOL_CALLS]") {
            ToolFormat::Mistral
        } else if source.contains("to=functions") || source.contains("<|channel|>") {
            ToolFormat::Harmony
        } else if source.contains("<|python_tag|>") || (source.contains("ipython") && source.contains("parameters")) {
            ToolFormat::Llama3
        } else if source.contains("tools") {
            ToolFormat::Hermes
        } else {
            ToolFormat::Generic
        }
    }

    /// Where a call may begin in streamed text: text before it can be shown, text from it on is
    /// held until the reply is parsed. `None`: no call has begun (a `Llama3` reply is a call
    /// only if it starts as one).
    pub fn call_start(self, text: &str) -> Option<usize> {
        let markers: &[&str] = match self {
            ToolFormat::Hermes | ToolFormat::Generic => &["<tool_call>"],
            ToolFormat::Mistral => &["[TOOL_CALLS]"],
            ToolFormat::Harmony => &["<|channel|>commentary to=", " to=functions.", "<|start|>"],
            ToolFormat::Llama3 => {
                let t = text.trim_start();
                return (t.starts_with('{') || t.starts_with("<|python_tag|>")).then_some(0);
            }
        };
        let found = markers.iter().filter_map(|m| text.find(m)).min();
        // A marker may still be arriving: hold a tail that is a prefix of one.
        found.or_else(|| {
            markers
                .iter()
                .filter_map(|m| {
                    (1..m.len())
                        .rev()
                        .find(|&n| text.ends_with(&m[..n]))
                        .map(|n| text.len() - n)
                })
                .min()
        })
    }
}

/// The first of `n` fresh call numbers (they count up through the process).
fn next_call_numbers(n: usize) -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(n, std::sync::atomic::Ordering::Relaxed)
}

/// The system message that describes the tools to a template that knows none.
pub fn generic_system_prompt(tools: &[Tool]) -> String {
    let list: Vec<Value> = tools.iter().map(openai_tool).collect();
    format!(
        "You can call these functions:\n{}\nTo call one, answer only with <tool_call>{{\"name\": \
         \"<function name>\", \"arguments\": {{<arguments>}}}}</tool_call>.",
        serde_json::to_string(&list).unwrap_or_default()
    )
}

/// A tool as chat templates (and OpenAI) expect it: `{"type": "function", "function": {…}}`.
pub fn openai_tool(t: &Tool) -> Value {
    let mut f = json!({"name": t.name, "parameters": t.parameters});
    if let Some(d) = &t.description {
        f["description"] = json!(d);
    }
    json!({"type": "function", "function": f})
}

/// A reply split into its text and the calls it made, each with a fresh id. Text that looks
/// like a call but does not parse stays text.
pub fn parse_calls(format: ToolFormat, reply: &str) -> (String, Vec<ToolCall>) {
    let (text, mut calls) = parse(format, reply);
    let first = next_call_numbers(calls.len());
    for (i, c) in calls.iter_mut().enumerate() {
        // Nine alphanumerics: Mistral's templates refuse any other id.
        c.id = format!("call{:05}", (first + i) % 100_000);
    }
    (text, calls)
}

fn parse(format: ToolFormat, reply: &str) -> (String, Vec<ToolCall>) {
    let mut calls = Vec::new();
    let mut push = |name: &str, args: &Value| {
        calls.push(ToolCall {
            id: String::new(),
            name: name.to_owned(),
            arguments: match args {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        });
    };
    let text = match format {
        ToolFormat::Hermes | ToolFormat::Generic => {
            let mut rest = reply;
            let mut text = String::new();
            while let Some(at) = rest.find("<tool_call>") {
                text.push_str(&rest[..at]);
                let after = &rest[at + "<tool_call>".len()..];
                let (body, tail) = match after.find("</tool_call>") {
                    Some(end) => (&after[..end], &after[end + "</tool_call>".len()..]),
                    None => (after, ""),
                };
                match serde_json::from_str::<Value>(body.trim()) {
                    Ok(v) if v["name"].is_string() => push(v["name"].as_str().unwrap_or_default(), &v["arguments"]),
                    _ => text.push_str(&rest[at..rest.len() - tail.len()]),
                }
                rest = tail;
            }
            text.push_str(rest);
            text
        }
        ToolFormat::Llama3 => {
            let body = reply.trim().trim_start_matches("<|python_tag|>").trim();
            let body = body.strip_suffix("<|eom_id|>").unwrap_or(body);
            match first_json_values(body) {
                Some(values) if values.iter().all(|v| v["name"].is_string()) => {
                    for v in &values {
                        let args = if v.get("parameters").is_some() {
                            &v["parameters"]
                        } else {
                            &v["arguments"]
                        };
                        push(v["name"].as_str().unwrap_or_default(), args);
                    }
                    String::new()
                }
                _ => reply.to_owned(),
            }
        }
        ToolFormat::Mistral => match reply.find("[TOOL_CALLS]") {
            None => reply.to_owned(),
            Some(at) => {
                let body = reply[at + "[TOOL_CALLS]".len()..].trim();
                if let Ok(Value::Array(list)) = serde_json::from_str::<Value>(body) {
                    for v in &list {
                        push(v["name"].as_str().unwrap_or_default(), &v["arguments"]);
                    }
                } else if let Some((name, args)) = body.split_once("[ARGS]") {
                    match serde_json::from_str::<Value>(args.trim()) {
                        Ok(v) => push(name.trim(), &v),
                        Err(_) => return (reply.to_owned(), vec![]),
                    }
                } else {
                    return (reply.to_owned(), vec![]);
                }
                reply[..at].to_owned()
            }
        },
        ToolFormat::Harmony => {
            let mut text = reply.to_owned();
            if let Some(at) = reply.find(" to=functions.").or_else(|| reply.find("to=functions.")) {
                let after = &reply[at..];
                let after = &after[after.find("functions.").map_or(0, |i| i + "functions.".len())..];
                let name: String = after.chars().take_while(|c| !c.is_whitespace() && *c != '<').collect();
                let body = after.find("<|message|>").map(|i| &after[i + "<|message|>".len()..]);
                let body = body.map(|b| b.split("<|call|>").next().unwrap_or(b).trim());
                if let Some(Ok(args)) = body.map(serde_json::from_str::<Value>) {
                    push(&name, &args);
                    text = reply[..at].to_owned();
                }
            }
            text
        }
    };
    (text, calls)
}

/// One or more JSON values one after another (`;`-separated, as Llama 3.2 may write several).
fn first_json_values(s: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(s.trim()).into_iter::<Value>() {
        out.push(v.ok()?);
    }
    (!out.is_empty()).then_some(out)
}

/// The JSON schema of one call of `format` to any of `tools`: its name, and arguments valid
/// against that tool's parameters.
fn call_schema(tools: &[&Tool], args_key: &str) -> Value {
    let each: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({"type": "object", "additionalProperties": false, "required": ["name", args_key],
                "properties": {"name": {"const": t.name}, args_key: t.parameters}})
        })
        .collect();
    match each.as_slice() {
        [one] => one.clone(),
        _ => json!({"anyOf": each}),
    }
}

/// The Lark grammar that forces a call (`tool_choice` `required` or a named function) in the
/// template's format. `special` resolves a special token's text to its id (Mistral's and
/// GPT-OSS's markers are special tokens, which grammars name by id).
pub fn forced_call_grammar(
    format: ToolFormat,
    tools: &[Tool],
    choice: &ToolChoice,
    special: impl Fn(&str) -> Option<u32>,
) -> Result<String> {
    let chosen: Vec<&Tool> = match choice {
        ToolChoice::Function(name) => tools.iter().filter(|t| &t.name == name).collect(),
        _ => tools.iter().collect(),
    };
    if chosen.is_empty() {
        return Err(Error::invalid("tool_choice", "no tool to call"));
    }
    let token = |text: &str| -> Result<String> {
        match special(text) {
            Some(id) => Ok(format!("<[{id}]>")),
            None => Ok(serde_json::to_string(text).unwrap_or_default()),
        }
    };
    let json = |schema: &Value| format!("%json {}", schema);
    Ok(match format {
        ToolFormat::Hermes | ToolFormat::Generic => format!(
            "start: {} {} {}",
            token("<tool_call>")?,
            json(&call_schema(&chosen, "arguments")),
            token("</tool_call>")?
        ),
        ToolFormat::Llama3 => format!("start: {}", json(&call_schema(&chosen, "parameters"))),
        ToolFormat::Mistral => format!(
            "start: {} {}",
            token("[TOOL_CALLS]")?,
            json(&json!({"type": "array", "minItems": 1, "maxItems": 1, "items": call_schema(&chosen, "arguments")}))
        ),
        ToolFormat::Harmony => {
            let (constrain, message) = (token("<|constrain|>")?, token("<|message|>")?);
            let mut alternatives = Vec::with_capacity(chosen.len());
            for t in &chosen {
                let header = serde_json::to_string(&format!("<|channel|>commentary to=functions.{} ", t.name))
                    .unwrap_or_default();
                alternatives.push(format!(
                    "{header} {constrain} \"json\" {message} {}",
                    json(&t.parameters)
                ));
            }
            format!("start: ({}) {}", alternatives.join(" | "), token("<|call|>")?)
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tool_list_reads_openai_and_bare_shapes_and_says_what_is_wrong() {
        let list = Tool::list_from_json(
            r#"[{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
                {"name": "b", "description": "B"}]"#,
        )
        .expect("valid");
        assert_eq!(list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(list[1].parameters["type"], "object");
        assert!(Tool::list_from_json("  ").expect("empty").is_empty());
        let err = |text: &str| Tool::list_from_json(text).expect_err(text);
        assert!(err("{").starts_with("not valid JSON"));
        assert_eq!(err("{}"), "the tools must be a JSON array");
        assert_eq!(
            err(r#"[{"name": "ok"}, {"name": "a b"}]"#),
            "tool 2: its name may hold only letters, digits, `_` and `-`"
        );
        assert!(err(r#"[{"name": "x", "parameters": {"type": "string"}}]"#).contains("schema of an object"));
    }

    use super::*;

    fn weather() -> Tool {
        Tool {
            name: "get_weather".into(),
            description: Some("Weather in a city".into()),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }
    }

    #[test]
    fn each_format_parses_back_into_calls() {
        let cases = [
            (
                ToolFormat::Hermes,
                "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
                "Let me check.\n",
            ),
            (
                ToolFormat::Llama3,
                "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
                "",
            ),
            (
                ToolFormat::Mistral,
                "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
                "",
            ),
            (ToolFormat::Mistral, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}", ""),
            (
                ToolFormat::Harmony,
                "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>",
                "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary",
            ),
        ];
        for (format, reply, text) in cases {
            let (got_text, calls) = parse_calls(format, reply);
            assert_eq!(got_text, text, "{format:?}");
            assert_eq!(calls.len(), 1, "{format:?}: {reply}");
            assert_eq!(calls[0].name, "get_weather");
            let args: Value = serde_json::from_str(&calls[0].arguments).expect("arguments are JSON");
            assert_eq!(args, json!({"city": "Paris"}), "{format:?}");
        }
        // Not a call: the text stays text.
        let (text, calls) = parse_calls(ToolFormat::Hermes, "<tool_call>not json</tool_call> ok");
        assert!(calls.is_empty());
        assert_eq!(text, "<tool_call>not json</tool_call> ok");
        let (text, calls) = parse_calls(ToolFormat::Llama3, "{\"answer\": 4}");
        assert!(calls.is_empty() && text == "{\"answer\": 4}");
    }

    #[test]
    fn templates_say_their_format_and_streams_hold_back_a_call() {
        assert_eq!(ToolFormat::of_template("{{ '<tool_call>' }}"), ToolFormat::Hermes);
        assert_eq!(ToolFormat::of_template("[TOOL_CALLS]"), ToolFormat::Mistral);
        assert_eq!(ToolFormat::of_template("<|python_tag|>"), ToolFormat::Llama3);
        assert_eq!(ToolFormat::of_template("<|channel|>"), ToolFormat::Harmony);
        assert_eq!(ToolFormat::of_template("{{ messages }}"), ToolFormat::Generic);
        assert_eq!(ToolFormat::Hermes.call_start("Sure. <tool_call>{"), Some(6));
        assert_eq!(ToolFormat::Hermes.call_start("Sure. <tool_"), Some(6));
        assert_eq!(ToolFormat::Hermes.call_start("Sure."), None);
        assert_eq!(ToolFormat::Llama3.call_start("  {\"name\""), Some(0));
        assert_eq!(ToolFormat::Llama3.call_start("Hello"), None);
    }

    #[test]
    fn a_forced_call_grammar_names_the_tool_and_its_arguments() {
        let g = forced_call_grammar(
            ToolFormat::Hermes,
            &[weather()],
            &ToolChoice::Function("get_weather".into()),
            |_| None,
        )
        .expect("grammar");
        assert!(g.starts_with("start: \"<tool_call>\" %json"), "{g}");
        assert!(g.contains("\"const\":\"get_weather\""), "{g}");
        let g = forced_call_grammar(ToolFormat::Mistral, &[weather()], &ToolChoice::Required, |t| {
            (t == "[TOOL_CALLS]").then_some(5)
        })
        .expect("grammar");
        assert!(g.starts_with("start: <[5]> %json"), "{g}");
        assert!(forced_call_grammar(
            ToolFormat::Hermes,
            &[weather()],
            &ToolChoice::Function("x".into()),
            |_| None
        )
        .is_err());
    }
}
