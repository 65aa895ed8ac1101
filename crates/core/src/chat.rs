//! Chat templates: the GGUF's own `tokenizer.chat_template`, rendered with minijinja the way
//! transformers' `apply_chat_template` renders it with jinja2.

use minijinja::{Environment, Error as JinjaError, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gguf_meta::GgufHeader;
use crate::tools::{Tool, ToolCall, ToolFormat};

/// One turn of a conversation: an assistant turn may carry the tool calls it made, and a
/// `tool` turn the id of the call it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    /// The message as templates read it (Hugging Face's shape): calls as
    /// `{"type": "function", "function": {"name", "arguments": {…}}}` with the arguments an
    /// object, as transformers passes them.
    fn for_template(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"role": self.role, "content": self.content});
        if !self.tool_calls.is_empty() {
            v["tool_calls"] = self
                .tool_calls
                .iter()
                .map(|c| {
                    let args = serde_json::from_str(&c.arguments).unwrap_or(serde_json::json!(c.arguments));
                    serde_json::json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": args}})
                })
                .collect();
        }
        if let Some(id) = &self.tool_call_id {
            v["tool_call_id"] = serde_json::json!(id);
        }
        v
    }
}

/// Built-in templates for architectures whose GGUF files often ship without one.
const GEMMA3_TEMPLATE: &str = include_str!("../templates/gemma3.jinja");

/// A compiled chat template plus the special tokens it may refer to.
///
/// Thread-safety: immutable; `Send + Sync`.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Seconds since the epoch that `strftime_now` reports; `i64::MIN` means the real clock.
    clock: std::sync::Arc<std::sync::atomic::AtomicI64>,
    source: String,
    bos_token: String,
    eos_token: String,
    /// True when the template came from Parallax's built-ins rather than the file.
    pub is_builtin: bool,
    /// How it writes tool calls, read from its source once.
    tool_format: ToolFormat,
}

impl ChatTemplate {
    pub fn from_gguf(header: &GgufHeader, bos_token: Option<&str>, eos_token: Option<&str>) -> Result<Self> {
        let (source, is_builtin) = match header.get_str("tokenizer.chat_template") {
            Some(t) => (t.to_owned(), false),
            None => match header.architecture() {
                Some("gemma3") => (GEMMA3_TEMPLATE.to_owned(), true),
                other => {
                    return Err(Error::ChatTemplate(format!(
                        "this {} model has no tokenizer.chat_template; use --raw",
                        other.unwrap_or("unknown")
                    )))
                }
            },
        };
        Self::new(
            source,
            bos_token.unwrap_or_default(),
            eos_token.unwrap_or_default(),
            is_builtin,
        )
    }

    pub fn new(source: String, bos_token: &str, eos_token: &str, is_builtin: bool) -> Result<Self> {
        let mut env = Environment::new();
        // transformers renders with trim_blocks and lstrip_blocks on.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        let clock = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        let now = clock.clone();
        // transformers gives templates `strftime_now` (Llama 3.x prints today's date with it).
        env.add_function("strftime_now", move |format: String| -> String {
            let fixed = now.load(std::sync::atomic::Ordering::Relaxed);
            let secs = if fixed == i64::MIN {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64)
            } else {
                fixed
            };
            crate::strftime::format(secs, &format)
        });
        env.add_template_owned("chat", source.clone())
            .map_err(|e| Error::ChatTemplate(e.to_string()))?;
        Ok(ChatTemplate {
            env,
            clock,
            tool_format: ToolFormat::of_template(&source),
            source,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
            is_builtin,
        })
    }

    /// Makes `strftime_now` report `unix_secs` (UTC) instead of the clock: for reproducible
    /// renders in tests and fixtures.
    pub fn fix_clock(&self, unix_secs: i64) {
        self.clock.store(unix_secs, std::sync::atomic::Ordering::Relaxed);
    }

    /// The Jinja source (what `parallax convert` writes to `tokenizer_config.json`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the conversation; `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// How this template writes tool calls.
    pub fn tool_format(&self) -> ToolFormat {
        self.tool_format
    }

    /// Renders the conversation with the tools it may call: in the template's own `tools`
    /// variable, or, for a template that knows no tools, described in a system message.
    pub fn render_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[Tool],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::ChatTemplate(e.to_string()))?;
        let mut turns: Vec<serde_json::Value> = messages.iter().map(ChatMessage::for_template).collect();
        let knows_tools = self.tool_format != ToolFormat::Generic;
        let generic = !tools.is_empty() && !knows_tools;
        if generic {
            let note = crate::tools::generic_system_prompt(tools);
            match turns.first_mut().filter(|t| t["role"] == "system") {
                Some(system) => {
                    let text = format!("{}\n\n{note}", system["content"].as_str().unwrap_or_default());
                    system["content"] = serde_json::json!(text);
                }
                None => turns.insert(0, serde_json::json!({"role": "system", "content": note})),
            }
        }
        // A template that knows no tools cannot show a call or a result as such: as text.
        if !knows_tools {
            for t in &mut turns {
                if let Some(calls) = t.get("tool_calls").cloned() {
                    let text: String = calls
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| format!("<tool_call>{}</tool_call>", c["function"]))
                        .collect();
                    t["content"] = serde_json::json!(format!("{}{text}", t["content"].as_str().unwrap_or_default()));
                }
                if t["role"] == "tool" {
                    t["role"] = serde_json::json!("user");
                    let text = format!(
                        "<tool_response>{}</tool_response>",
                        t["content"].as_str().unwrap_or_default()
                    );
                    t["content"] = serde_json::json!(text);
                }
            }
        }
        let mut ctx = serde_json::json!({
            "messages": turns,
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
        });
        // `tools` only when there are tools: templates test `tools is defined` as well as
        // `tools is not none`.
        if !tools.is_empty() && !generic {
            ctx["tools"] = tools.iter().map(crate::tools::openai_tool).collect();
        }
        tmpl.render(minijinja::Value::from_serialize(&ctx))
            .map_err(|e| Error::ChatTemplate(e.to_string()))
    }
}
