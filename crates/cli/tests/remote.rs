//! Remote engines against a real second server: `parallax serve` on loopback with the real
//! SmolLM2. Registration (key by environment variable, nothing secret in the file), the probe,
//! a chat turn timed on our side, and each failure as one typed line: the key refused, the
//! server unreachable, a model it lacks, the server killed mid-stream (the partial text kept).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

const KEY: &str = "remote-test-key-0123456789";
const MODEL: &str = "smollm2-135m-instruct-q4_1@gguf";

/// `parallax ARGS` with its own configuration folder and the key in `RIG_KEY`.
fn px(config: &std::path::Path, key: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(args)
        .env("PARALLAX_CONFIG_DIR", config)
        .env("RIG_KEY", key)
        .output()
        .expect("run parallax")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn register(config: &std::path::Path, port: u16) {
    let url = format!("http://127.0.0.1:{port}");
    let o = px(
        config,
        KEY,
        &["remote", "add", "rig", &url, "--key-env", "RIG_KEY", "--timeout", "60"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_remote_serves_a_chat_turn_and_each_failure_is_one_typed_line() {
    let server = Server::start(&["--port", "0", "--api-key", KEY, "--model", MODEL]);
    let config = tempfile::tempdir().unwrap();
    register(config.path(), server.port());
    let file = std::fs::read_to_string(config.path().join("parallax.toml")).unwrap();
    assert!(!file.contains(KEY), "the key must not be written: {file}");

    let o = px(config.path(), KEY, &["remote", "list", "--probe", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows[0]["key"], "env:RIG_KEY");
    let models: Vec<&str> = rows[0]["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(models.contains(&"smollm2-135m-instruct-q4_1@gguf@rig"), "{models:?}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains(KEY));

    let remote_model = format!("{MODEL}@rig");
    let turn = [
        "generate",
        "--model",
        &remote_model,
        "--prompt",
        "What is the capital of France?",
    ];
    let o = px(
        config.path(),
        KEY,
        &[&turn[..], &["--max-tokens", "8", "--temperature", "0", "--json"]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The server's usage, and as many text chunks as tokens (one per token).
    assert_eq!(v["usage"][1], v["chunks"], "{v}");
    assert!(v["finish_reason"] == "stop" || v["finish_reason"] == "length", "{v}");
    assert!(v["text"].as_str().unwrap().contains("Paris"), "{v}");
    assert!(
        v["ttft_ms"].as_f64().unwrap() > 0.0 && v["decode_tps"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    assert_eq!(v["memory"], "remote: not measured");

    let one_line = |o: &std::process::Output, want: &str| {
        let e = stderr(o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(want), "expected {want}: {e}");
        assert!(!e.contains(KEY) && !e.contains("wrong-key"), "a key in an error: {e}");
    };
    one_line(
        &px(config.path(), "wrong-key-999999999", &turn),
        "refused the API key (HTTP 401)",
    );
    let missing = ["generate", "--model", "no-such-model@gguf@rig", "--prompt", "hi"];
    one_line(&px(config.path(), KEY, &missing), "has no model `no-such-model@gguf`");

    // Killed mid-stream: what arrived is printed, the error says the stream was cut.
    let mut child = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args([
            "generate",
            "--model",
            &remote_model,
            "--prompt",
            "Count from 1 to 500, one number per line.",
        ])
        .args(["--max-tokens", "3000", "--temperature", "0"])
        .env("PARALLAX_CONFIG_DIR", config.path())
        .env("RIG_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    let n = out.read(&mut first).unwrap();
    assert!(n > 0, "no text before the kill");
    drop(server);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the client hung after the server died"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("remote_stream_cut") && err.contains("received are above"),
        "{err}"
    );
    assert!(n + rest.trim().len() > 0);
}

#[test]
fn an_unreachable_remote_and_bad_registrations_fail_cleanly() {
    let config = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    register(config.path(), port);
    let o = px(config.path(), KEY, &["generate", "--model", "m@rig", "--prompt", "hi"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("is unreachable"), "{e}");
    let o = px(config.path(), KEY, &["remote", "add", "gguf", "http://x"]);
    assert!(stderr(&o).contains("engine's name"), "{}", stderr(&o));
    let o = px(config.path(), KEY, &["remote", "add", "rig", "http://x"]);
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));
    let o = px(config.path(), KEY, &["remote", "remove", "rig"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A key from stdin goes to the OS keyring, or, where there is none, the error says what to
    // do instead; either way it is never written to the file.
    let mut add = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(["remote", "add", "vault", "http://127.0.0.1:9", "--key-stdin"])
        .env("PARALLAX_CONFIG_DIR", config.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut add.stdin.take().unwrap(), KEY.as_bytes()).unwrap();
    let o = add.wait_with_output().unwrap();
    match o.status.success() {
        true => assert!(px(config.path(), KEY, &["remote", "remove", "vault"]).status.success()),
        false => assert!(stderr(&o).contains("--key-env"), "{}", stderr(&o)),
    }
    let file = std::fs::read_to_string(config.path().join("parallax.toml")).unwrap_or_default();
    assert!(!file.contains(KEY), "{file}");
    let o = px(config.path(), KEY, &["remote", "remove", "rig"]);
    assert!(stderr(&o).contains("not registered"), "{}", stderr(&o));
}
