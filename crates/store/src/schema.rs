//! The tables, and migrations by `PRAGMA user_version`. Ids are AUTOINCREMENT: a deleted
//! message's id is never reused (the UI keys rows by id).

use rusqlite::Connection;

const V1: &str = "
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    engine TEXT,
    model TEXT,
    stats TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE bench_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    out_dir TEXT NOT NULL,
    suite TEXT NOT NULL,
    model TEXT NOT NULL,
    engines TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
";

/// A run's outcome: complete, cancelled or failed (with the others kept in the history).
const V2: &str = "ALTER TABLE bench_runs ADD COLUMN status TEXT NOT NULL DEFAULT 'complete';";

/// Tool calling in chats: an assistant reply's calls (JSON), and the call a tool message answers.
const V3: &str = "ALTER TABLE messages ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN tool_call_id TEXT;";

/// WAL (readers never block the writer; a kill loses no committed write), foreign keys on,
/// and the schema brought to the current version.
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 1 {
        conn.execute_batch(&format!("BEGIN; {V1} PRAGMA user_version = 1; COMMIT;"))?;
    }
    if version < 2 {
        conn.execute_batch(&format!("BEGIN; {V2} PRAGMA user_version = 2; COMMIT;"))?;
    }
    if version < 3 {
        conn.execute_batch(&format!("BEGIN; {V3} PRAGMA user_version = 3; COMMIT;"))?;
    }
    Ok(())
}
