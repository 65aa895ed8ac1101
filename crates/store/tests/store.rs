//! The app database: conversations and messages round-trip, search, cascade delete, settings,
//! and a reply left streaming by a killed app comes back as interrupted with its text.

use parallax_store::{ChatSettings, MessageStats, MessageStatus, NewBenchRun, NewMessage, Role, Store};

#[test]
fn a_conversation_keeps_its_messages_engine_model_and_stats_in_order() {
    let store = Store::in_memory().expect("store");
    let settings = ChatSettings {
        system_prompt: "Be brief.".into(),
        seed: Some(7),
        ..ChatSettings::default()
    };
    let c = store.create_conversation("Paris", &settings).expect("create");
    store
        .add_message(c.id, &NewMessage::user("Capital of France?"))
        .expect("user");
    let reply = store
        .add_message(c.id, &NewMessage::reply("gguf", "smollm2"))
        .expect("reply");
    assert_eq!(reply.status, MessageStatus::Streaming);
    let stats = MessageStats {
        prompt_tokens: 12,
        cached_tokens: 4,
        completion_tokens: 3,
        ttft_ms: 40.0,
        decode_tps: 20.0,
        prompt_tps: 300.0,
        total_ms: 140.0,
        finish_reason: "stop".into(),
    };
    store
        .update_message(reply.id, "Paris.", MessageStatus::Complete, Some(&stats))
        .expect("update");
    store
        .add_message(c.id, &NewMessage::user("And Italy?"))
        .expect("user 2");
    store
        .add_message(c.id, &NewMessage::reply("mlx", "smollm2"))
        .expect("reply 2");

    let got = store.conversation(c.id).expect("load");
    assert_eq!(got.settings, settings);
    let roles: Vec<Role> = got.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::Assistant]);
    assert_eq!(got.messages[1].content, "Paris.");
    assert_eq!(got.messages[1].stats.as_ref(), Some(&stats));
    assert_eq!(got.messages[1].engine.as_deref(), Some("gguf"));
    assert_eq!(
        got.messages[3].engine.as_deref(),
        Some("mlx"),
        "each reply records its engine"
    );
}

#[test]
fn conversations_are_listed_newest_first_searched_renamed_and_deleted_with_their_messages() {
    let store = Store::in_memory().expect("store");
    let a = store
        .create_conversation("Rust questions", &ChatSettings::default())
        .expect("a");
    let b = store
        .create_conversation("Cooking", &ChatSettings::default())
        .expect("b");
    store
        .add_message(b.id, &NewMessage::user("How long to boil an egg?"))
        .expect("msg");
    let ids: Vec<i64> = store.conversations(None).expect("list").iter().map(|c| c.id).collect();
    assert_eq!(ids, [b.id, a.id]);
    let found = store.conversations(Some("egg")).expect("search");
    assert_eq!(found.len(), 1, "message text is searched");
    assert_eq!(found[0].id, b.id);
    assert_eq!(
        store.conversations(Some("RUST")).expect("search").len(),
        1,
        "case-insensitive"
    );
    assert!(
        store.conversations(Some("100%")).expect("search").is_empty(),
        "% is literal"
    );
    store.rename_conversation(a.id, "Borrowing").expect("rename");
    assert_eq!(store.conversation(a.id).expect("a").title, "Borrowing");
    store.delete_conversation(b.id).expect("delete");
    assert!(store.conversation(b.id).is_err());
    assert_eq!(store.delete_conversation(b.id).expect_err("gone").code(), "not_found");
}

#[test]
fn deleting_from_a_message_on_truncates_the_conversation() {
    let store = Store::in_memory().expect("store");
    let c = store.create_conversation("t", &ChatSettings::default()).expect("c");
    let first = store.add_message(c.id, &NewMessage::user("one")).expect("1");
    let second = store.add_message(c.id, &NewMessage::user("two")).expect("2");
    store.add_message(c.id, &NewMessage::user("three")).expect("3");
    store.delete_message(second.id, true).expect("truncate");
    let left: Vec<i64> = store
        .conversation(c.id)
        .expect("c")
        .messages
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, [first.id]);
}

#[test]
fn a_reply_streaming_when_the_app_died_reopens_as_interrupted_with_its_partial_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data").join("parallax.sqlite");
    let (conv, reply) = {
        let store = Store::open(&path).expect("open");
        let c = store.create_conversation("t", &ChatSettings::default()).expect("c");
        store
            .add_message(c.id, &NewMessage::user("Tell me a story"))
            .expect("user");
        let r = store.add_message(c.id, &NewMessage::reply("gguf", "m")).expect("reply");
        store
            .update_message(r.id, "Once upon a", MessageStatus::Streaming, None)
            .expect("partial");
        store
            .set_setting("default_engine", &serde_json::json!("mlx"))
            .expect("setting");
        // Dropped without finishing the reply, as a killed app would leave it.
        (c.id, r.id)
    };
    let store = Store::open(&path).expect("reopen");
    let m = store.message(reply).expect("reply");
    assert_eq!(m.status, MessageStatus::Interrupted);
    assert_eq!(m.content, "Once upon a");
    assert_eq!(store.conversation(conv).expect("c").messages.len(), 2);
    assert_eq!(
        store.setting("default_engine").expect("get"),
        Some(serde_json::json!("mlx"))
    );
    assert_eq!(store.setting("missing").expect("get"), None);
}

#[test]
fn benchmark_runs_are_kept_newest_first_and_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("parallax.sqlite");
    let engines = vec!["gguf".to_owned(), "mlx".to_owned()];
    let new = |suite: &'static str, status: &'static str| NewBenchRun {
        out_dir: "/runs/1",
        suite,
        model: "smol",
        engines: &engines,
        fingerprint: "{\"cpu\":\"x\"}",
        summary: "gguf 40 tok/s, mlx 20 tok/s",
        status,
    };
    let (first, second) = {
        let store = Store::open(&path).expect("open");
        let a = store.add_bench_run(&new("quick", "complete")).expect("add");
        let b = store.add_bench_run(&new("side-by-side", "cancelled")).expect("add");
        (a, b)
    };
    let store = Store::open(&path).expect("reopen");
    let runs = store.bench_runs().expect("list");
    assert_eq!(runs, vec![second.clone(), first.clone()]);
    assert_eq!(runs[1].engines, engines);
    assert_eq!(runs[0].status, "cancelled");
    store.delete_bench_run(first.id).expect("delete");
    assert_eq!(store.bench_runs().expect("list").len(), 1);
    assert_eq!(store.bench_run(first.id).unwrap_err().code(), "not_found");
}

#[test]
fn a_database_from_before_tool_calling_opens_with_its_chats_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("parallax.sqlite");
    {
        // The version-2 schema, as the previous release left it, with one chat in it.
        let c = rusqlite::Connection::open(&path).expect("old db");
        c.execute_batch(
            "CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL,
                 settings TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
             CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id INTEGER NOT NULL
                 REFERENCES conversations(id) ON DELETE CASCADE, role TEXT NOT NULL, content TEXT NOT NULL,
                 status TEXT NOT NULL, engine TEXT, model TEXT, stats TEXT, created_ms INTEGER NOT NULL);
             CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
             CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE bench_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, out_dir TEXT NOT NULL,
                 suite TEXT NOT NULL, model TEXT NOT NULL, engines TEXT NOT NULL, fingerprint TEXT NOT NULL,
                 summary TEXT NOT NULL, created_ms INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'complete');
             INSERT INTO conversations VALUES (1, 'old', '{\"system_prompt\":\"\",\"temperature\":0.3,\"top_p\":0.9,\"top_k\":20,\"max_tokens\":64,\"seed\":null}', 1, 1);
             INSERT INTO messages VALUES (1, 1, 'user', 'hi', 'complete', NULL, NULL, NULL, 1);
             INSERT INTO messages VALUES (2, 1, 'assistant', 'hello', 'complete', 'gguf', 'm', NULL, 2);
             PRAGMA user_version = 2;",
        )
        .expect("old schema");
    }
    let store = Store::open(&path).expect("migrated");
    let c = store.conversation(1).expect("old chat");
    assert_eq!(c.settings.temperature, 0.3);
    assert_eq!(
        (
            c.settings.tools.as_str(),
            c.settings.tool_choice.as_str(),
            c.settings.json_output
        ),
        ("", "auto", false)
    );
    let contents: Vec<&str> = c.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["hi", "hello"]);
    assert!(c
        .messages
        .iter()
        .all(|m| m.tool_calls.is_empty() && m.tool_call_id.is_none()));
    // The new columns work on the old file: a call, and its typed result.
    let call = parallax_store::ToolCallRecord {
        id: "call00001".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    };
    store.set_tool_calls(2, std::slice::from_ref(&call)).expect("calls");
    store
        .add_message(1, &NewMessage::tool_result("call00001", r#"{"celsius":21}"#))
        .expect("result");
    let c = store.conversation(1).expect("chat");
    assert_eq!(c.messages[1].tool_calls, [call]);
    assert_eq!(
        (c.messages[2].role, c.messages[2].tool_call_id.as_deref()),
        (Role::Tool, Some("call00001"))
    );
}
