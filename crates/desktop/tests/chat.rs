//! The app's chat on the real SmolLM2, without a window: replies stream and are stored with
//! their engine, model and stats; the engine can be switched mid-conversation; stop,
//! regenerate and edit-and-resend; bad input gets typed errors; the embedded endpoint serves
//! the same models.

mod common;

use std::sync::{Arc, Mutex};

use parallax_desktop::{App, AppSettings, ChatEvent, Choice};
use parallax_store::{MessageStatus, Role};

const MODEL: &str = "smollm2-135m-instruct-q4_1";

fn choice(engine: &str) -> Choice {
    Choice {
        engine: engine.into(),
        model: MODEL.into(),
    }
}

/// An app on a fresh data dir, with greedy short replies by default.
fn app() -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::open(dir.path()).expect("open");
    common::greedy(&app, 16);
    (dir, Arc::new(app))
}

type Events = Arc<Mutex<Vec<ChatEvent>>>;

fn recorder() -> (Events, impl Fn(ChatEvent) + Send + Sync) {
    let events: Events = Arc::default();
    let e = events.clone();
    (events, move |ev| e.lock().expect("events").push(ev))
}

fn streamed_text(events: &Events) -> String {
    events
        .lock()
        .expect("events")
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Token { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_streams_is_stored_with_its_stats_and_the_next_one_can_come_from_mlx() {
    let (_dir, app) = app();
    let conv = app.new_conversation(Some("Capitals")).expect("conversation");
    let (events, sink) = recorder();
    let reply = app
        .send_message(conv.id, "What is the capital of France?", &choice("gguf"), &sink)
        .await
        .expect("reply");
    assert_eq!(reply.status, MessageStatus::Complete);
    assert!(!reply.content.is_empty());
    assert_eq!(
        streamed_text(&events),
        reply.content,
        "the stored text is what streamed"
    );
    let kinds: Vec<&str> = events
        .lock()
        .expect("events")
        .iter()
        .map(|e| match e {
            ChatEvent::Started { .. } => "started",
            ChatEvent::Loading { .. } => "loading",
            ChatEvent::Token { .. } => "token",
            ChatEvent::Finished { .. } => "finished",
            ChatEvent::Failed { .. } => "failed",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.get(1), Some(&"loading"), "the first reply loads the model");
    assert_eq!(kinds.last(), Some(&"finished"));
    let stats = reply.stats.as_ref().expect("stats");
    assert!(
        stats.completion_tokens > 0 && stats.ttft_ms > 0.0 && stats.decode_tps > 0.0,
        "{stats:?}"
    );
    assert_eq!(reply.engine.as_deref(), Some("gguf"));

    // Switch engines mid-conversation: the next reply comes from MLX and says so.
    let (_, sink) = recorder();
    let second = app
        .send_message(conv.id, "And of Italy?", &choice("mlx"), &sink)
        .await
        .expect("mlx reply");
    assert_eq!(second.status, MessageStatus::Complete);
    assert_eq!(second.engine.as_deref(), Some("mlx"));
    let stored = app.conversation(conv.id).expect("stored");
    let engines: Vec<Option<&str>> = stored.messages.iter().map(|m| m.engine.as_deref()).collect();
    assert_eq!(engines, [None, Some("gguf"), None, Some("mlx")]);
    assert!(
        second.stats.expect("stats").prompt_tokens > stats.prompt_tokens,
        "the history was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_keeps_the_partial_reply_marked_stopped() {
    let (_dir, app) = app();
    let conv = app.new_conversation(None).expect("conversation");
    let mut settings = conv.settings.clone();
    settings.max_tokens = 400;
    app.update_chat_settings(conv.id, &settings).expect("settings");
    let (events, sink) = recorder();
    let stopper = {
        let (app, events) = (app.clone(), events.clone());
        tokio::spawn(async move {
            // Stop once a few tokens have arrived.
            loop {
                let tokens = events
                    .lock()
                    .expect("events")
                    .iter()
                    .filter(|e| matches!(e, ChatEvent::Token { .. }))
                    .count();
                if tokens >= 3 {
                    return app.stop(conv.id);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let reply = app
        .send_message(
            conv.id,
            "Write a long story about a lighthouse.",
            &choice("gguf"),
            &sink,
        )
        .await
        .expect("reply");
    assert!(stopper.await.expect("stopper"), "a reply was running");
    assert_eq!(reply.status, MessageStatus::Stopped);
    assert!(!reply.content.is_empty());
    assert_eq!(app.conversation(conv.id).expect("c").messages[1].content, reply.content);
    assert!(!app.stop(conv.id), "nothing runs after the stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_replaces_the_last_reply_and_edit_drops_what_followed() {
    let (_dir, app) = app();
    let conv = app.new_conversation(None).expect("conversation");
    let (_, sink) = recorder();
    let first = app
        .send_message(conv.id, "Name a colour.", &choice("gguf"), &sink)
        .await
        .expect("1");
    let again = app
        .regenerate(conv.id, &choice("gguf"), &sink)
        .await
        .expect("regenerate");
    assert_ne!(first.id, again.id);
    let (s1, s2) = (first.stats.expect("stats"), again.stats.clone().expect("stats"));
    assert_eq!(s1.cached_tokens, 0, "a fresh model has nothing cached");
    assert_eq!(
        s2.cached_tokens,
        s2.prompt_tokens - 1,
        "regenerate reuses all but the last prompt token"
    );
    let msgs = app.conversation(conv.id).expect("c").messages;
    assert_eq!(msgs.len(), 2, "the old reply was replaced");
    assert_eq!(msgs[1].id, again.id);

    let user_id = msgs[0].id;
    let next = app
        .send_message(conv.id, "Another one.", &choice("gguf"), &sink)
        .await
        .expect("2");
    let s3 = next.stats.expect("stats");
    assert!(
        s3.cached_tokens >= s2.prompt_tokens,
        "the next turn reuses the first turn's prompt: {s3:?}"
    );
    assert_eq!(app.conversation(conv.id).expect("c").messages.len(), 4);
    app.edit_and_resend(user_id, "Name a fruit.", &choice("gguf"), &sink)
        .await
        .expect("edit");
    let msgs = app.conversation(conv.id).expect("c").messages;
    assert_eq!(msgs.len(), 2, "everything after the edited message is gone");
    assert_eq!((msgs[0].role, msgs[0].content.as_str()), (Role::User, "Name a fruit."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors_and_a_failed_reply_says_why() {
    let (_dir, app) = app();
    let conv = app.new_conversation(None).expect("conversation");
    let (events, sink) = recorder();
    let e = app
        .send_message(conv.id, "   ", &choice("gguf"), &sink)
        .await
        .expect_err("empty");
    assert_eq!(e.code, "empty_message");
    let e = app
        .send_message(9999, "hi", &choice("gguf"), &sink)
        .await
        .expect_err("no conversation");
    assert_eq!(e.code, "not_found");
    let bad = Choice {
        engine: "gguf".into(),
        model: "no-such-model".into(),
    };
    let failed = app
        .send_message(conv.id, "hi", &bad, &sink)
        .await
        .expect("a stored failure");
    assert_eq!(failed.status, MessageStatus::Failed);
    assert!(failed.content.contains("no-such-model"), "{}", failed.content);
    assert!(events.lock().expect("events").iter().any(|e| matches!(
        e,
        ChatEvent::Failed { error, .. } if error.code == "model_not_found"
    )));
    let mut s = app.settings();
    s.monitor_interval_ms = 5;
    assert_eq!(app.set_settings(s).expect_err("bad interval").code, "invalid_setting");
    assert_eq!(
        app.regenerate(app.new_conversation(None).expect("c").id, &choice("gguf"), &sink)
            .await
            .expect_err("empty chat")
            .code,
        "nothing_to_regenerate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_persist_and_the_endpoint_serves_the_chat_models_on_loopback() {
    let (dir, app) = app();
    let status = app.start_endpoint().await;
    assert!(status.running, "{status:?}");
    let url = status.url.clone().expect("url");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let body = tokio::task::spawn_blocking(move || {
        let mut resp = std::process::Command::new("curl")
            .args(["-sf", &format!("{url}/models")])
            .output()
            .expect("curl");
        resp.stdout.push(b'\n');
        String::from_utf8_lossy(&resp.stdout).into_owned()
    })
    .await
    .expect("join");
    assert!(body.contains(&format!("{MODEL}@gguf")), "{body}");
    app.stop_endpoint().await.expect("stop");
    assert!(!app.endpoint_status().running);

    let mut s: AppSettings = app.settings();
    s.default_engine = "mlx".into();
    app.set_settings(s).expect("save");
    drop(app);
    let reopened = App::open(dir.path()).expect("reopen");
    assert_eq!(reopened.settings().default_engine, "mlx");
    assert_eq!(reopened.info().engines.len(), 2);
}

const WEATHER_TOOL: &str = r#"[{"type": "function", "function": {"name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_calls_the_tools_it_defines_takes_the_typed_result_and_answers() {
    let (_dir, app) = app();
    let conv = app.new_conversation(Some("Tools")).expect("conversation");
    let mut s = conv.settings.clone();
    s.tools = "[{\"name\": 1}]".into();
    assert_eq!(
        app.update_chat_settings(conv.id, &s).expect_err("bad tools").code,
        "invalid_tools"
    );
    s.tools = String::new();
    s.tool_choice = "required".into();
    assert_eq!(
        app.update_chat_settings(conv.id, &s).expect_err("no tools").code,
        "invalid_setting"
    );
    s.tools = WEATHER_TOOL.into();
    s.max_tokens = 48;
    app.update_chat_settings(conv.id, &s).expect("tools saved");
    let (_, sink) = recorder();
    let call = app
        .send_message(conv.id, "What is the weather in Paris?", &choice("gguf"), &sink)
        .await
        .expect("reply");
    assert_eq!(call.status, MessageStatus::Complete, "{call:?}");
    let [c] = call.tool_calls.as_slice() else {
        panic!("one forced call expected: {call:?}");
    };
    assert_eq!(c.name, "get_weather");
    let args: serde_json::Value = serde_json::from_str(&c.arguments).expect("arguments are JSON");
    assert!(args["city"].is_string(), "{args}");
    let e = app
        .send_tool_result(conv.id, "call99999", "{}", &choice("gguf"), &sink)
        .await
        .expect_err("unknown call");
    assert_eq!(e.code, "unknown_tool_call");
    // The user types the result; the model answers with tools now off.
    s.tool_choice = "none".into();
    app.update_chat_settings(conv.id, &s).expect("tool choice none");
    let answer = app
        .send_tool_result(conv.id, &c.id, r#"{"celsius": 21}"#, &choice("gguf"), &sink)
        .await
        .expect("answer");
    assert_eq!(answer.status, MessageStatus::Complete);
    assert!(!answer.content.is_empty() && answer.tool_calls.is_empty(), "{answer:?}");
    let msgs = app.conversation(conv.id).expect("stored").messages;
    let roles: Vec<Role> = msgs.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::Assistant]);
    assert_eq!(msgs[2].tool_call_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(
        msgs[1].tool_calls, call.tool_calls,
        "the calls are stored with the reply"
    );
    let e = app
        .send_tool_result(conv.id, &c.id, "{}", &choice("gguf"), &sink)
        .await
        .expect_err("answered");
    assert_eq!(e.code, "tool_call_answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_constrains_the_reply_to_json() {
    let (_dir, app) = app();
    let conv = app.new_conversation(None).expect("conversation");
    let mut s = conv.settings.clone();
    s.json_output = true;
    s.max_tokens = 96;
    app.update_chat_settings(conv.id, &s).expect("settings");
    let (_, sink) = recorder();
    let reply = app
        .send_message(
            conv.id,
            "Reply with {\"capital\": ...} for France.",
            &choice("gguf"),
            &sink,
        )
        .await
        .expect("reply");
    let stats = reply.stats.clone().expect("stats");
    let text = reply.content.trim();
    assert_eq!(stats.finish_reason, "stop", "{text}");
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(v.is_object(), "{text}");
}
