//! `parallax serve` over a real socket: prints where it listens, answers a chat completion
//! with the MLX engine (loaded just in time), refuses a foreign Host, and exits cleanly on
//! SIGTERM. HTTP is spoken by hand so the test needs no client library.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::Server;

fn http(port: u16, host: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn serve_answers_over_a_real_socket_and_stops_on_sigterm() {
    let mut server = Server::start(&["--port", "0"]);
    let port = server.port();
    let body = r#"{"model":"smollm2-135m-instruct-q4_1@mlx","messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":12,"temperature":0}"#;
    let resp = http(port, &format!("127.0.0.1:{port}"), body);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains("\"engine\":\"mlx\"") && resp.contains("\"role\":\"assistant\""),
        "{resp}"
    );
    let resp = http(port, "attacker.example", body);
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}
