//! Remote engines in the app, against a second `parallax serve` process on loopback with the
//! real SmolLM2 and an API key: registered from the settings (the key by environment variable,
//! never in a file), shown as an engine with its models, then used everywhere a local model is —
//! a chat turn (regenerated, stopped), side by side against the local GGUF engine, the benchmark panel, and the
//! embedded endpoint proxying it by name — and each failure typed: the key refused, the server
//! killed mid-reply (the partial reply kept, marked interrupted), unreachable at start-up.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use parallax_desktop::{App, BenchEvent, BenchRequest, ChatEvent, Choice, CompareRequest, RemoteInput};
use parallax_remote::{ApiKey, RemoteClient, RemoteSpec};
use parallax_store::MessageStatus;

const KEY: &str = "desktop-remote-key-0123456789";
const MODEL: &str = "smollm2-135m-instruct-q4_1";
/// The remote's name for the model: the second server's id for it.
const REMOTE_MODEL: &str = "smollm2-135m-instruct-q4_1@gguf";

/// A second `parallax serve` on loopback, killed when dropped.
struct Server {
    child: std::process::Child,
    port: u16,
}

impl Server {
    fn start() -> Self {
        let mut child = std::process::Command::new(common::parallax_exe())
            .args(["serve", "--port", "0", "--api-key", KEY, "--model", REMOTE_MODEL])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn parallax serve");
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut banner)
            .expect("banner");
        let port = banner
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"));
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app on a fresh data dir whose remotes live in `config/parallax.toml`.
fn app(config: &Path) -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::open_with_remotes(dir.path(), &config.join("parallax.toml")).expect("open");
    common::greedy(&app, 12);
    (dir, Arc::new(app))
}

fn rig(port: u16) -> RemoteInput {
    RemoteInput {
        name: "rig".into(),
        url: format!("http://127.0.0.1:{port}"),
        key: None,
        key_env: Some("RIG_KEY".into()),
        timeout_secs: Some(60),
    }
}

fn remote_choice() -> Choice {
    Choice {
        engine: "rig".into(),
        model: REMOTE_MODEL.into(),
    }
}

type Events = Arc<Mutex<Vec<ChatEvent>>>;

fn recorder() -> (Events, impl Fn(ChatEvent) + Send + Sync) {
    let events: Events = Arc::default();
    let e = events.clone();
    (events, move |ev| e.lock().expect("events").push(ev))
}

fn failure(events: &Events) -> Option<parallax_desktop::AppError> {
    events.lock().expect("events").iter().find_map(|e| match e {
        ChatEvent::Failed { error, .. } => Some(error.clone()),
        _ => None,
    })
}

/// A long reply from the remote, started in the background; returns once its first token came.
async fn long_remote_reply(
    app: &Arc<App>,
    conv: i64,
) -> (
    Events,
    tokio::task::JoinHandle<parallax_desktop::Result<parallax_store::Message>>,
) {
    let (events, sink) = recorder();
    let chatting = {
        let app = app.clone();
        tokio::spawn(async move {
            app.send_message(
                conv,
                "Count from 1 to 500, one number per line.",
                &remote_choice(),
                &sink,
            )
            .await
        })
    };
    first_token(&events).await;
    (events, chatting)
}

async fn first_token(events: &Events) {
    let started = std::time::Instant::now();
    while !events
        .lock()
        .expect("events")
        .iter()
        .any(|e| matches!(e, ChatEvent::Token { .. }))
    {
        assert!(started.elapsed() < Duration::from_secs(120), "no token from the remote");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_model_chats_compares_benchmarks_is_proxied_and_fails_typed() {
    std::env::set_var("RIG_KEY", KEY);
    let server = Server::start();
    let config = tempfile::tempdir().expect("config");
    let (_dir, app) = app(config.path());

    // Registered from the settings: probed at once, the key only named.
    let infos = app.add_remote(rig(server.port)).expect("add");
    assert_eq!(infos.len(), 1);
    let info = &infos[0];
    assert!(info.error.is_none(), "{info:?}");
    assert!(info.latency_ms.is_some_and(|ms| ms > 0.0), "{info:?}");
    assert!(info.models.iter().any(|m| m == REMOTE_MODEL), "{info:?}");
    assert_eq!(info.key, "environment variable RIG_KEY");
    let file = std::fs::read_to_string(config.path().join("parallax.toml")).expect("file");
    assert!(!file.contains(KEY), "a key in the file: {file}");
    let engine = app
        .info()
        .engines
        .into_iter()
        .find(|e| e.name == "rig")
        .expect("rig engine");
    assert!(engine.remote && engine.available, "{engine:?}");
    let rows = app.model_options(None).expect("picker");
    let row = rows
        .iter()
        .find(|m| m.remote.as_deref() == Some("rig"))
        .expect("a remote row");
    assert_eq!(row.id, REMOTE_MODEL);
    assert!(row.fit.summary.contains("not measured"), "{}", row.fit.summary);
    assert_eq!(
        app.add_remote(rig(server.port)).expect_err("twice").code,
        "remote_config"
    );

    // A chat turn, stored with its engine and timed on our side.
    let conv = app.new_conversation(Some("Remote")).expect("conversation");
    let (events, sink) = recorder();
    let reply = app
        .send_message(conv.id, "What is the capital of France?", &remote_choice(), &sink)
        .await
        .expect("reply");
    assert_eq!(reply.status, MessageStatus::Complete, "{reply:?}");
    assert!(reply.content.contains("Paris"), "{}", reply.content);
    assert_eq!(reply.engine.as_deref(), Some("rig"));
    let stats = reply.stats.clone().expect("stats");
    assert!(
        stats.completion_tokens > 0 && stats.decode_tps > 0.0 && stats.ttft_ms > 0.0,
        "{stats:?}"
    );
    let streamed: String = events
        .lock()
        .expect("events")
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Token { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, reply.content);

    // Side by side: the local GGUF engine against the same model on the remote.
    let settings = parallax_store::ChatSettings {
        temperature: 0.0,
        max_tokens: 12,
        seed: Some(7),
        ..Default::default()
    };
    let local = Choice {
        engine: "gguf".into(),
        model: MODEL.into(),
    };
    let req = CompareRequest {
        prompt: "What is the capital of France?".into(),
        columns: vec![local, remote_choice()],
        concurrent: false,
        same_weights: false,
        settings,
    };
    let result = app.compare(&req, &|_| {}).await.expect("compare");
    for col in &result.columns {
        let s = col.stats.as_ref().unwrap_or_else(|| panic!("{col:?}"));
        assert!(s.completion_tokens > 0 && !col.text.is_empty(), "{col:?}");
    }
    assert_eq!(
        result.columns[1].peak_engine_memory_bytes, 0,
        "nothing measured locally"
    );
    assert!(result.summary.contains("faster decode"), "{}", result.summary);

    // The embedded endpoint proxies the remote model by its registered name, and nothing else.
    let status = app.start_endpoint().await;
    let url = status.url.clone().expect("endpoint url");
    let proxied = tokio::task::spawn_blocking(move || {
        let spec = RemoteSpec {
            name: "app".into(),
            url,
            key: None,
            timeout_secs: Some(60),
        };
        let client = RemoteClient::with_key(&spec, None::<ApiKey>);
        // Listed beside the local models, so other apps find it.
        let listed = client.models().expect("the endpoint's models");
        assert!(listed.contains(&format!("{REMOTE_MODEL}@rig")), "{listed:?}");
        let body = serde_json::json!({"model": format!("{REMOTE_MODEL}@rig"), "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]});
        let text: String = client
            .chat(&body)
            .expect("proxied")
            .map(|d| d.expect("delta").content)
            .collect();
        // JSON output is enforced by the remote's own grammar engine.
        let mut json_body = body.clone();
        json_body["response_format"] = serde_json::json!({"type": "json_object"});
        json_body["max_tokens"] = serde_json::json!(16);
        let json_text: String = client
            .chat(&json_body)
            .expect("json")
            .map(|d| d.expect("delta").content)
            .collect();
        assert!(json_text.trim_start().starts_with('{'), "{json_text}");
        // Tools go to the remote, and its call comes back as a call.
        let mut tool_body = body.clone();
        tool_body["tools"] = serde_json::json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                "required": ["city"], "additionalProperties": false}}}]);
        tool_body["tool_choice"] = serde_json::json!("required");
        tool_body["max_tokens"] = serde_json::json!(64);
        let mut called = client.chat(&tool_body).expect("tools");
        for delta in called.by_ref() {
            delta.expect("delta");
        }
        let calls = called.finished().expect("finished").tool_calls.clone();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].name, "get_weather");
        assert!(calls[0].arguments.contains("city"), "{calls:?}");
        let mut elsewhere = body.clone();
        elsewhere["model"] = serde_json::json!("m@http://127.0.0.1:9");
        let refused = client.chat(&elsewhere).err().expect("an unregistered remote");
        (text, refused.code())
    })
    .await
    .expect("join");
    assert!(!proxied.0.is_empty(), "the proxied reply is empty");
    assert_eq!(proxied.1, "remote_model_not_found");
    app.stop_endpoint().await.expect("stop");

    // The benchmark panel: the quick suite against the remote, beside nothing local.
    let (tx, rx) = mpsc::channel();
    let emit = {
        let tx = Mutex::new(tx);
        Arc::new(move |ev: BenchEvent| {
            let _ = tx.lock().expect("tx").send(ev);
        })
    };
    let remote_engine = format!("{REMOTE_MODEL}@rig");
    let bench = BenchRequest {
        suite: "quick".into(),
        engines: vec![remote_engine.clone()],
        model: MODEL.into(),
        reps: 1,
        concurrent: false,
        same_weights: false,
        reload_every: None,
    };
    app.start_bench(&bench, emit).expect("start bench");
    let run = loop {
        match rx.recv_timeout(Duration::from_secs(600)).expect("bench event") {
            BenchEvent::Finished { run } => break run,
            BenchEvent::Failed { error } => panic!("{error:?}"),
            _ => {}
        }
    };
    assert_eq!(run.status, "complete", "{run:?}");
    let report = app.bench_report(run.id).expect("report");
    let row = &report.engines[0];
    assert_eq!(row.engine, remote_engine);
    assert!(row.runs > 0, "{row:?}");
    assert!(row.decode_tps.is_some_and(|t| t > 0.0), "{row:?}");

    // Regenerate on the remote. (Not asserted equal to the first reply: this prompt's top two
    // first tokens are 0.007 nats apart on SmolLM2, and the server now reuses its cached prefix,
    // which rounds differently, as llama.cpp's does.)
    let again = app
        .regenerate(conv.id, &remote_choice(), &|_| {})
        .await
        .expect("regenerate");
    assert_eq!(again.status, MessageStatus::Complete, "{again:?}");
    assert!(!again.content.is_empty() && again.id != reply.id);

    // Stopped mid-reply: what arrived is kept, marked stopped, and the remote is asked no more.
    let mut long = app.conversation(conv.id).expect("conv").settings;
    long.max_tokens = 2000;
    app.update_chat_settings(conv.id, &long).expect("settings");
    let (events, chatting) = long_remote_reply(&app, conv.id).await;
    assert!(app.stop(conv.id), "a reply was running");
    let stopped = tokio::time::timeout(Duration::from_secs(60), chatting)
        .await
        .expect("stop hung")
        .expect("join")
        .expect("stored");
    assert_eq!(stopped.status, MessageStatus::Stopped, "{stopped:?}");
    assert!(!stopped.content.is_empty());

    // The key refused: a typed error, the key nowhere in it.
    std::env::set_var("RIG_KEY", "wrong-key-999999999");
    let (events, sink) = recorder();
    let refused = app
        .send_message(conv.id, "Hello", &remote_choice(), &sink)
        .await
        .expect("stored");
    let error = failure(&events).expect("a failure");
    assert_eq!(error.code, "remote_auth_refused", "{error:?}");
    assert!(
        !error.message.contains(KEY) && !error.message.contains("wrong-key"),
        "{error:?}"
    );
    assert_eq!(refused.status, MessageStatus::Failed);
    std::env::set_var("RIG_KEY", KEY);

    // Killed mid-reply: what arrived is kept and marked interrupted.
    let (events, chatting) = long_remote_reply(&app, conv.id).await;
    drop(server);
    let cut = tokio::time::timeout(Duration::from_secs(60), chatting)
        .await
        .expect("the chat hung after the server died")
        .expect("join")
        .expect("stored");
    assert_eq!(cut.status, MessageStatus::Interrupted, "{cut:?}");
    assert!(!cut.content.is_empty());
    assert_eq!(failure(&events).expect("failure").code, "remote_stream_cut");
    let stored = app.conversation(conv.id).expect("conv");
    assert_eq!(stored.messages.last().expect("reply").content, cut.content);

    // Gone now: probes say so, a new turn fails typed and quickly.
    let probed = app.remotes(true).expect("probe");
    assert_eq!(
        probed[0].error.as_ref().expect("unreachable").code,
        "remote_unreachable"
    );
    let (events, sink) = recorder();
    app.send_message(conv.id, "Hello?", &remote_choice(), &sink)
        .await
        .expect("stored");
    assert_eq!(failure(&events).expect("failure").code, "remote_unreachable");
    assert_eq!(app.remove_remote("rig").expect("remove").len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_unreachable_at_start_up_is_an_unavailable_engine_not_a_failed_launch() {
    let config = tempfile::tempdir().expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let file = config.path().join("parallax.toml");
    std::fs::write(
        &file,
        format!("[[remote]]\nname = \"far\"\nurl = \"http://127.0.0.1:{port}\"\n"),
    )
    .expect("write");
    let (_dir, app) = app(config.path());
    let engine = app
        .info()
        .engines
        .into_iter()
        .find(|e| e.name == "far")
        .expect("listed");
    assert!(engine.remote && !engine.available, "{engine:?}");
    assert!(engine.detail.contains("unreachable"), "{}", engine.detail);
    let rows = app.model_options(None).expect("the local models still list");
    assert!(rows.iter().any(|m| m.id == MODEL) && rows.iter().all(|m| m.remote.is_none()));
    let conv = app.new_conversation(None).expect("conversation");
    let (events, sink) = recorder();
    let far = Choice {
        engine: "far".into(),
        model: "anything".into(),
    };
    let reply = app.send_message(conv.id, "Hello", &far, &sink).await.expect("stored");
    assert_eq!(reply.status, MessageStatus::Failed);
    assert_eq!(failure(&events).expect("failure").code, "remote_unreachable");
}
