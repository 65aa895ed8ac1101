//! Chat templates: the GGUF's own `tokenizer.chat_template`, rendered with minijinja the way
//! transformers' `apply_chat_template` renders it with jinja2.

use minijinja::{context, Environment, Error as JinjaError, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gguf_meta::GgufHeader;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
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
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::ChatTemplate(e.to_string()))?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
        .map_err(|e| Error::ChatTemplate(e.to_string()))
    }
}
