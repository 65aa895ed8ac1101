//! What the store keeps, as the UI receives it (TypeScript types generated with ts-rs).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Sampling and prompt settings of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct ChatSettings {
    pub system_prompt: String,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub max_tokens: usize,
    /// Fixed seed for reproducible replies; none draws a fresh one per reply.
    #[ts(type = "number | null")]
    pub seed: Option<u64>,
    /// Functions the model may call, as the user wrote them: a JSON array of
    /// `{"name", "description", "parameters"}` (or OpenAI's `{"type": "function", "function": …}`);
    /// empty for none. The model's calls are shown, and the user types each result.
    pub tools: String,
    /// Whether the model must call one of the tools: `auto` (it decides), `required`, `none`.
    pub tool_choice: String,
    /// Replies are constrained to one valid JSON value.
    pub json_output: bool,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            system_prompt: String::new(),
            temperature: 0.7,
            top_p: 0.95,
            top_k: 40,
            max_tokens: 512,
            seed: None,
            tools: String::new(),
            tool_choice: "auto".into(),
            json_output: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, typed by the user, answering one of the assistant's calls.
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    fn parse(s: &str) -> Role {
        match s {
            "system" => Role::System,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => Role::User,
        }
    }
}

/// A function call an assistant reply made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ToolCallRecord {
    pub id: String,
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
}

/// Where a message stands. `Streaming` survives in the file only if the app died mid-reply;
/// the next open turns it into `Interrupted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Complete,
    Streaming,
    Stopped,
    Interrupted,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Streaming => "streaming",
            MessageStatus::Stopped => "stopped",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> MessageStatus {
        match s {
            "streaming" => MessageStatus::Streaming,
            "stopped" => MessageStatus::Stopped,
            "interrupted" => MessageStatus::Interrupted,
            "failed" => MessageStatus::Failed,
            _ => MessageStatus::Complete,
        }
    }
}

/// How a reply was made: the per-message stats line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct MessageStats {
    pub prompt_tokens: usize,
    /// Of the prompt tokens, those reused from the KV cache (prompt caching), not prefilled.
    #[serde(default)]
    pub cached_tokens: usize,
    pub completion_tokens: usize,
    pub ttft_ms: f64,
    pub decode_tps: f64,
    pub prompt_tps: f64,
    pub total_ms: f64,
    /// stop, length, cancelled (as the generation loop reports it).
    pub finish_reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Message {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub conversation_id: i64,
    pub role: Role,
    pub content: String,
    pub status: MessageStatus,
    /// The engine and model that wrote this reply (assistant messages).
    pub engine: Option<String>,
    pub model: Option<String>,
    pub stats: Option<MessageStats>,
    #[ts(type = "number")]
    pub created_ms: i64,
    /// The calls an assistant reply made.
    pub tool_calls: Vec<ToolCallRecord>,
    /// The call a tool message answers.
    pub tool_call_id: Option<String>,
}

/// A message to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub role: Role,
    pub content: String,
    pub status: MessageStatus,
    pub engine: Option<String>,
    pub model: Option<String>,
    pub stats: Option<MessageStats>,
    pub tool_call_id: Option<String>,
}

impl NewMessage {
    pub fn user(content: &str) -> Self {
        NewMessage {
            role: Role::User,
            content: content.to_owned(),
            status: MessageStatus::Complete,
            engine: None,
            model: None,
            stats: None,
            tool_call_id: None,
        }
    }

    /// The result of call `call_id`, as the user typed it.
    pub fn tool_result(call_id: &str, content: &str) -> Self {
        NewMessage {
            role: Role::Tool,
            tool_call_id: Some(call_id.to_owned()),
            ..NewMessage::user(content)
        }
    }

    /// An assistant reply about to stream.
    pub fn reply(engine: &str, model: &str) -> Self {
        NewMessage {
            role: Role::Assistant,
            content: String::new(),
            status: MessageStatus::Streaming,
            engine: Some(engine.to_owned()),
            model: Some(model.to_owned()),
            stats: None,
            tool_call_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ConversationSummary {
    #[ts(type = "number")]
    pub id: i64,
    pub title: String,
    #[ts(type = "number")]
    pub updated_ms: i64,
    #[ts(type = "number")]
    pub messages: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Conversation {
    #[ts(type = "number")]
    pub id: i64,
    pub title: String,
    pub settings: ChatSettings,
    #[ts(type = "number")]
    pub created_ms: i64,
    #[ts(type = "number")]
    pub updated_ms: i64,
    pub messages: Vec<Message>,
}

pub(crate) const MESSAGE_SELECT: &str =
    "SELECT id, conversation_id, role, content, status, engine, model, stats, created_ms, tool_calls, tool_call_id FROM messages";

pub(crate) fn message_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    let stats: Option<String> = r.get(7)?;
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        role: Role::parse(&r.get::<_, String>(2)?),
        content: r.get(3)?,
        status: MessageStatus::parse(&r.get::<_, String>(4)?),
        engine: r.get(5)?,
        model: r.get(6)?,
        stats: stats.and_then(|s| serde_json::from_str(&s).ok()),
        created_ms: r.get(8)?,
        tool_calls: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
        tool_call_id: r.get(10)?,
    })
}
