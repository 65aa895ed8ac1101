//! The desktop app's data, in one SQLite file (WAL) in the app data dir: conversations and
//! their messages (with the engine, model and stats of each reply), settings, and the history
//! of benchmark runs. Every write is committed at once, so a killed app loses nothing it had
//! written; a reply still streaming when the app died is marked interrupted on the next open.
//!
//! Thread-safety: `Store` is `Send + Sync`; one connection behind a mutex (SQLite serialises
//! writers anyway, and the app's writes are small).

mod bench_runs;
mod error;
mod schema;
mod types;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

pub use bench_runs::{BenchRun, NewBenchRun};
pub use error::{Error, Result};
pub use types::*;

pub struct Store {
    conn: Mutex<Connection>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating and migrating) the database at `path`, and marks replies that were
    /// still streaming when the app last stopped as interrupted.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io(dir.display().to_string(), e))?;
        }
        let conn = Connection::open(path)?;
        schema::prepare(&conn)?;
        conn.execute(
            "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'",
            [],
        )?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    /// An in-memory store (tests, or when the app data dir cannot be written).
    pub fn in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        schema::prepare(&conn)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        f(&conn)
    }

    pub fn create_conversation(&self, title: &str, settings: &ChatSettings) -> Result<Conversation> {
        let at = now_ms();
        let settings_json = serde_json::to_string(settings)?;
        let id = self.with(|c| {
            c.execute(
                "INSERT INTO conversations (title, settings, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?3)",
                params![title, settings_json, at],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        self.conversation(id)
    }

    /// Conversations, most recently updated first; `search` matches titles and message text.
    pub fn conversations(&self, search: Option<&str>) -> Result<Vec<ConversationSummary>> {
        let pattern = search.map(|s| format!("%{}%", s.replace('%', "\\%").replace('_', "\\_")));
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT c.id, c.title, c.updated_ms,
                        (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
                 FROM conversations c
                 WHERE ?1 IS NULL OR c.title LIKE ?1 ESCAPE '\\'
                    OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                               AND m.content LIKE ?1 ESCAPE '\\')
                 ORDER BY c.updated_ms DESC, c.id DESC",
            )?;
            let rows = stmt.query_map(params![pattern], |r| {
                Ok(ConversationSummary {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    updated_ms: r.get(2)?,
                    messages: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<std::result::Result<_, _>>()?)
        })
    }

    /// One conversation with its messages in order.
    pub fn conversation(&self, id: i64) -> Result<Conversation> {
        self.with(|c| {
            let head = c
                .query_row(
                    "SELECT id, title, settings, created_ms, updated_ms FROM conversations WHERE id = ?1",
                    params![id],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                        ))
                    },
                )
                .optional()?
                .ok_or(Error::NotFound("conversation", id))?;
            let mut stmt = c.prepare(&format!(
                "{} WHERE conversation_id = ?1 ORDER BY id",
                types::MESSAGE_SELECT
            ))?;
            let messages = stmt
                .query_map(params![id], types::message_of_row)?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Conversation {
                id: head.0,
                title: head.1,
                settings: serde_json::from_str(&head.2).unwrap_or_default(),
                created_ms: head.3,
                updated_ms: head.4,
                messages,
            })
        })
    }

    pub fn rename_conversation(&self, id: i64, title: &str) -> Result<()> {
        self.touch_conversation(id, "title = ?2", params![id, title])
    }

    pub fn update_chat_settings(&self, id: i64, settings: &ChatSettings) -> Result<()> {
        let json = serde_json::to_string(settings)?;
        self.touch_conversation(id, "settings = ?2", params![id, json])
    }

    fn touch_conversation(&self, id: i64, set: &str, args: impl rusqlite::Params) -> Result<()> {
        let n = self.with(|c| {
            Ok(c.execute(
                &format!(
                    "UPDATE conversations SET {set}, updated_ms = {} WHERE id = ?1",
                    now_ms()
                ),
                args,
            )?)
        })?;
        if n == 0 {
            return Err(Error::NotFound("conversation", id));
        }
        Ok(())
    }

    pub fn delete_conversation(&self, id: i64) -> Result<()> {
        let n = self.with(|c| Ok(c.execute("DELETE FROM conversations WHERE id = ?1", params![id])?))?;
        if n == 0 {
            return Err(Error::NotFound("conversation", id));
        }
        Ok(())
    }

    /// Appends a message; returns it with its id.
    pub fn add_message(&self, conversation: i64, new: &NewMessage) -> Result<Message> {
        let at = now_ms();
        let stats = new.stats.as_ref().map(serde_json::to_string).transpose()?;
        let id = self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let n = tx.execute(
                "UPDATE conversations SET updated_ms = ?2 WHERE id = ?1",
                params![conversation, at],
            )?;
            if n == 0 {
                return Err(Error::NotFound("conversation", conversation));
            }
            tx.execute(
                "INSERT INTO messages (conversation_id, role, content, status, engine, model, stats, created_ms, tool_call_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    conversation,
                    new.role.as_str(),
                    new.content,
                    new.status.as_str(),
                    new.engine,
                    new.model,
                    stats,
                    at,
                    new.tool_call_id
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })?;
        self.message(id)
    }

    pub fn message(&self, id: i64) -> Result<Message> {
        self.with(|c| {
            c.query_row(
                &format!("{} WHERE id = ?1", types::MESSAGE_SELECT),
                params![id],
                types::message_of_row,
            )
            .optional()?
            .ok_or(Error::NotFound("message", id))
        })
    }

    /// Records the calls a reply made.
    pub fn set_tool_calls(&self, id: i64, calls: &[ToolCallRecord]) -> Result<()> {
        let json = serde_json::to_string(calls)?;
        let n =
            self.with(|c| Ok(c.execute("UPDATE messages SET tool_calls = ?2 WHERE id = ?1", params![id, json])?))?;
        if n == 0 {
            return Err(Error::NotFound("message", id));
        }
        Ok(())
    }

    /// Rewrites a reply's text and status (as it streams, and when it ends), and its stats.
    pub fn update_message(
        &self,
        id: i64,
        content: &str,
        status: MessageStatus,
        stats: Option<&MessageStats>,
    ) -> Result<()> {
        let stats = stats.map(serde_json::to_string).transpose()?;
        let n = self.with(|c| {
            Ok(c.execute(
                "UPDATE messages SET content = ?2, status = ?3, stats = COALESCE(?4, stats) WHERE id = ?1",
                params![id, content, status.as_str(), stats],
            )?)
        })?;
        if n == 0 {
            return Err(Error::NotFound("message", id));
        }
        Ok(())
    }

    /// Deletes a message and, with `and_after`, every later one of its conversation (for
    /// regenerate and edit-and-resend).
    pub fn delete_message(&self, id: i64, and_after: bool) -> Result<()> {
        let m = self.message(id)?;
        self.with(|c| {
            if and_after {
                c.execute(
                    "DELETE FROM messages WHERE conversation_id = ?1 AND id >= ?2",
                    params![m.conversation_id, id],
                )?;
            } else {
                c.execute("DELETE FROM messages WHERE id = ?1", params![id])?;
            }
            Ok(())
        })
    }

    /// A setting's JSON value, if it was ever set.
    pub fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self.with(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", params![key], |r| r.get(0))
                    .optional()?,
            )
        })?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn set_setting(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, text],
            )?;
            Ok(())
        })
    }
}
