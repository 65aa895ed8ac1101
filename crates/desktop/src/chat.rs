//! One chat turn: the reply is stored before the first token and rewritten as it streams
//! (at most every 200 ms), so a killed app keeps the partial text; the next open marks it
//! interrupted. Each reply records the engine and model that wrote it. Stop, regenerate and
//! edit-and-resend are built on the same turn.

use parallax_host::ModelRef;
use std::time::{Duration, Instant};

use parallax_core::structured::OutputFormat;
use parallax_core::tools::{Tool, ToolCall, ToolChoice};
use parallax_core::{ChatMessage, Event, GenerateRequest, GenerationResult, Prompt, SamplingParams};
use parallax_store::{
    ChatSettings, Conversation, Message, MessageStats, MessageStatus, NewMessage, Role, ToolCallRecord,
};
use serde::Serialize;
use ts_rs::TS;

use crate::error::{AppError, Result};
use crate::App;

/// How often a streaming reply's text is written to the database.
const SAVE_EVERY: Duration = Duration::from_millis(200);

/// What the UI receives while a reply is written (over a Tauri channel).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatEvent {
    /// The user's message (when this turn added one) and the reply about to stream, as stored.
    Started {
        user: Option<Message>,
        reply: Message,
    },
    /// The model is being loaded (the first reply of a model, or after a switch).
    Loading {
        engine: String,
        model: String,
    },
    Token {
        text: String,
    },
    /// The reply as stored at the end: complete, or stopped by the user.
    Finished {
        reply: Message,
    },
    Failed {
        reply: Message,
        error: AppError,
    },
}

/// Which engine and model write the reply.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, TS)]
pub struct Choice {
    pub engine: String,
    pub model: String,
}

impl Choice {
    /// The model as the host is asked for it.
    pub fn model_ref(&self) -> ModelRef {
        ModelRef::new(&self.model, Some(&self.engine))
    }
}

/// Failures that end a reply part-way, through no fault of the request.
const CUT_OFF: &[&str] = &["remote_stream_cut", "remote_timeout", "worker_gone", "engine_gone"];

/// The conversation as the model sees it: the system prompt, then every message before the
/// reply (failed and empty replies left out).
fn transcript(conv: &Conversation, reply_id: i64) -> Vec<ChatMessage> {
    let mut out = vec![];
    if !conv.settings.system_prompt.trim().is_empty() {
        out.push(ChatMessage::new("system", conv.settings.system_prompt.clone()));
    }
    for m in conv.messages.iter().filter(|m| m.id != reply_id) {
        let said = !m.content.is_empty() || !m.tool_calls.is_empty();
        let usable = m.role != Role::Assistant || (m.status != MessageStatus::Failed && said);
        if usable {
            let mut msg = ChatMessage::new(m.role.as_str(), m.content.clone());
            msg.tool_calls = m
                .tool_calls
                .iter()
                .map(|c| ToolCall {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                })
                .collect();
            msg.tool_call_id = m.tool_call_id.clone();
            out.push(msg);
        }
    }
    out
}

/// A chat's tools as the model gets them, or a typed error naming what is wrong.
pub(crate) fn chat_tools(s: &ChatSettings) -> Result<Vec<Tool>> {
    Tool::list_from_json(&s.tools).map_err(|why| AppError::new("invalid_tools", format!("Tools: {why}.")))
}

/// A chat's tool choice.
pub(crate) fn chat_tool_choice(s: &ChatSettings) -> Result<ToolChoice> {
    match s.tool_choice.as_str() {
        "" | "auto" => Ok(ToolChoice::Auto),
        "required" => Ok(ToolChoice::Required),
        "none" => Ok(ToolChoice::None),
        other => Err(AppError::new(
            "invalid_setting",
            format!("Tool choice must be auto, required or none, not `{other}`."),
        )),
    }
}

pub(crate) fn stats_of(r: &GenerationResult) -> MessageStats {
    MessageStats {
        prompt_tokens: r.usage.prompt_tokens,
        cached_tokens: r.usage.cached_tokens,
        completion_tokens: r.usage.completion_tokens,
        ttft_ms: r.timings.ttft_ms,
        decode_tps: r.timings.decode_tps,
        prompt_tps: r.timings.prompt_tps,
        total_ms: r.timings.total_ms,
        finish_reason: serde_json::to_value(r.finish_reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// A generation with a chat's sampling settings, tools and output format (shared by chat
/// replies and side by side).
pub(crate) fn request(s: &ChatSettings, messages: Vec<ChatMessage>, seed: u64) -> Result<GenerateRequest> {
    Ok(GenerateRequest {
        prompt: Prompt::Chat(messages),
        max_tokens: s.max_tokens.max(1),
        sampling: SamplingParams {
            temperature: s.temperature,
            top_p: s.top_p,
            top_k: s.top_k,
            seed,
            ..SamplingParams::default()
        },
        stop: vec![],
        logprobs: None,
        cache_prompt: true,
        format: s.json_output.then_some(OutputFormat::JsonObject),
        tools: chat_tools(s)?,
        tool_choice: chat_tool_choice(s)?,
        logit_bias: vec![],
    })
}

/// The end of a stream: finished, stopped by the user, or failed.
enum End {
    Done(Box<GenerationResult>),
    Stopped,
    Failed(AppError),
}

impl App {
    /// Adds the user's message and writes a reply to it.
    pub async fn send_message(
        &self,
        conversation: i64,
        content: &str,
        choice: &Choice,
        sink: &(dyn Fn(ChatEvent) + Send + Sync),
    ) -> Result<Message> {
        if content.trim().is_empty() {
            return Err(AppError::new("empty_message", "Type a message first."));
        }
        self.ensure_idle(conversation)?;
        let user = self.store.add_message(conversation, &NewMessage::user(content))?;
        self.reply(conversation, Some(user), choice, sink).await
    }

    /// Answers call `call_id` of the last reply with the result the user typed, and writes the
    /// model's next reply.
    pub async fn send_tool_result(
        &self,
        conversation: i64,
        call_id: &str,
        content: &str,
        choice: &Choice,
        sink: &(dyn Fn(ChatEvent) + Send + Sync),
    ) -> Result<Message> {
        self.ensure_idle(conversation)?;
        let conv = self.store.conversation(conversation)?;
        let caller = conv
            .messages
            .iter()
            .rposition(|m| m.role == Role::Assistant && m.tool_calls.iter().any(|c| c.id == call_id));
        let Some(at) = caller else {
            return Err(AppError::new(
                "unknown_tool_call",
                format!("No reply in this chat made the call `{call_id}`."),
            ));
        };
        if conv.messages[at + 1..]
            .iter()
            .any(|m| m.role != Role::Tool || m.tool_call_id.as_deref() == Some(call_id))
        {
            return Err(AppError::new(
                "tool_call_answered",
                "That call was answered already, or the chat went on past it.",
            ));
        }
        let result = self
            .store
            .add_message(conversation, &NewMessage::tool_result(call_id, content))?;
        self.reply(conversation, Some(result), choice, sink).await
    }

    /// Replaces the last reply with a new one (possibly from another engine or model).
    pub async fn regenerate(
        &self,
        conversation: i64,
        choice: &Choice,
        sink: &(dyn Fn(ChatEvent) + Send + Sync),
    ) -> Result<Message> {
        self.ensure_idle(conversation)?;
        let conv = self.store.conversation(conversation)?;
        let last_user = conv
            .messages
            .iter()
            .rposition(|m| matches!(m.role, Role::User | Role::Tool))
            .ok_or_else(|| AppError::new("nothing_to_regenerate", "There is no message to answer yet."))?;
        if let Some(next) = conv.messages.get(last_user + 1) {
            self.store.delete_message(next.id, true)?;
        }
        self.reply(conversation, None, choice, sink).await
    }

    /// Rewrites a user message, drops everything after it, and answers it again.
    pub async fn edit_and_resend(
        &self,
        message: i64,
        content: &str,
        choice: &Choice,
        sink: &(dyn Fn(ChatEvent) + Send + Sync),
    ) -> Result<Message> {
        let old = self.store.message(message)?;
        if old.role != Role::User {
            return Err(AppError::new(
                "not_a_user_message",
                "Only your own messages can be edited.",
            ));
        }
        if content.trim().is_empty() {
            return Err(AppError::new("empty_message", "Type a message first."));
        }
        self.ensure_idle(old.conversation_id)?;
        self.store.delete_message(message, true)?;
        let user = self
            .store
            .add_message(old.conversation_id, &NewMessage::user(content))?;
        self.reply(old.conversation_id, Some(user), choice, sink).await
    }

    /// Stops the reply being written in `conversation`; false if none was.
    pub fn stop(&self, conversation: i64) -> bool {
        match self.running.lock().ok().and_then(|r| r.get(&conversation).cloned()) {
            Some(stop) => {
                stop.notify_one();
                true
            }
            None => false,
        }
    }

    fn ensure_idle(&self, conversation: i64) -> Result<()> {
        let busy = self
            .running
            .lock()
            .map(|r| r.contains_key(&conversation))
            .unwrap_or(false);
        if busy {
            return Err(AppError::new(
                "reply_in_progress",
                "A reply is still being written in this chat: stop it (Esc) or wait for it to finish.",
            ));
        }
        Ok(())
    }

    async fn reply(
        &self,
        conversation: i64,
        user: Option<Message>,
        choice: &Choice,
        sink: &(dyn Fn(ChatEvent) + Send + Sync),
    ) -> Result<Message> {
        let reply = self
            .store
            .add_message(conversation, &NewMessage::reply(&choice.engine, &choice.model))?;
        sink(ChatEvent::Started {
            user,
            reply: reply.clone(),
        });
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        if let Ok(mut r) = self.running.lock() {
            r.insert(conversation, stop.clone());
        }
        let mut text = String::new();
        let end = self
            .stream(conversation, reply.id, choice, &stop, &mut text, sink)
            .await;
        if let Ok(mut r) = self.running.lock() {
            r.remove(&conversation);
        }
        let (status, stats, error) = match end {
            End::Done(r) => {
                // The reply without its calls (held back while streaming), and the calls.
                text = r.text.clone();
                let calls: Vec<ToolCallRecord> = r
                    .tool_calls
                    .iter()
                    .map(|c| ToolCallRecord {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        arguments: c.arguments.clone(),
                    })
                    .collect();
                if !calls.is_empty() {
                    self.store.set_tool_calls(reply.id, &calls)?;
                }
                (MessageStatus::Complete, Some(stats_of(&r)), None)
            }
            End::Stopped => (MessageStatus::Stopped, None, None),
            // Cut off mid-reply (a remote's stream cut, the engine gone): what arrived is kept,
            // marked interrupted, as after a crash of the app.
            End::Failed(e) if !text.is_empty() && CUT_OFF.contains(&e.code.as_str()) => {
                (MessageStatus::Interrupted, None, Some(e))
            }
            End::Failed(e) => (MessageStatus::Failed, None, Some(e)),
        };
        let body = match &error {
            Some(e) if text.is_empty() => e.message.clone(),
            _ => text,
        };
        self.store.update_message(reply.id, &body, status, stats.as_ref())?;
        let reply = self.store.message(reply.id)?;
        match error {
            Some(error) => sink(ChatEvent::Failed {
                reply: reply.clone(),
                error,
            }),
            None => sink(ChatEvent::Finished { reply: reply.clone() }),
        }
        Ok(reply)
    }

    /// Loads the model if needed and streams the reply into `text`, saving it as it grows.
    async fn stream(
        &self,
        conversation: i64,
        reply_id: i64,
        choice: &Choice,
        stop: &tokio::sync::Notify,
        text: &mut String,
        sink: &(dyn Fn(ChatEvent) + Send + Sync),
    ) -> End {
        let prepared = async {
            let conv = self.store.conversation(conversation)?;
            let seed = conv.settings.seed.unwrap_or_else(parallax_core::sampling::fresh_seed);
            let req = request(&conv.settings, transcript(&conv, reply_id), seed)?;
            let model = choice.model_ref();
            if self.server.models.remote_of(&model).is_none() && !self.is_loaded(&model).await {
                sink(ChatEvent::Loading {
                    engine: choice.engine.clone(),
                    model: choice.model.clone(),
                });
            }
            Ok::<_, AppError>(self.server.models.generate(&model, req).await?)
        };
        let (_chat, mut stream) = tokio::select! {
            p = prepared => match p {
                Ok(x) => x,
                Err(e) => return End::Failed(e),
            },
            _ = stop.notified() => return End::Stopped,
        };
        let mut saved = Instant::now();
        loop {
            let ev = tokio::select! {
                ev = stream.next() => ev,
                // Dropping the stream cancels the generation before its next token.
                _ = stop.notified() => return End::Stopped,
            };
            match ev {
                Some(Ok(Event::Token { text: t, .. })) => {
                    if t.is_empty() {
                        continue;
                    }
                    text.push_str(&t);
                    sink(ChatEvent::Token { text: t });
                    if saved.elapsed() >= SAVE_EVERY {
                        // A failed save is retried at the next token; the end result is written anyway.
                        let _ = self
                            .store
                            .update_message(reply_id, text, MessageStatus::Streaming, None);
                        saved = Instant::now();
                    }
                }
                Some(Ok(Event::Finished(r))) => return End::Done(Box::new(r)),
                Some(Ok(Event::Started { .. })) => {}
                Some(Err(e)) => return End::Failed(e.into()),
                None => {
                    return End::Failed(AppError::new(
                        "engine_gone",
                        "The engine stopped unexpectedly; try again.",
                    ))
                }
            }
        }
    }

    pub(crate) async fn is_loaded(&self, model: &ModelRef) -> bool {
        let id = model.to_string();
        self.server.models.loaded().await.iter().any(|m| m.id == id)
    }
}
