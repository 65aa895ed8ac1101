//! `parallax serve` over a real socket, driven by the official `openai` clients: the Python
//! package (in .venv) and the npm package (tests/openai/node_modules), both from `make deps`,
//! on the real SmolLM2 with both engines (tests/openai/client_test.{py,mjs}); and by the
//! official `anthropic` Python client on the Messages API (tests/openai/anthropic_test.py).

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

const KEY: &str = "sk-parallax-test";
const MODELS: [&str; 2] = ["smollm2-135m-instruct-q4_1@gguf", "smollm2-135m-instruct-q4_1@mlx"];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn run_client(program: &Path, script: &str, port: u16) {
    assert!(
        program.exists() || program.is_relative(),
        "{} is missing: run `make deps`",
        program.display()
    );
    let base = format!("http://127.0.0.1:{port}/v1");
    let out = Command::new(program)
        .arg(root().join(script))
        .arg(&base)
        .arg(KEY)
        .args(MODELS)
        .current_dir(root().join("tests/openai"))
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed:\n{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn the_official_python_and_npm_clients_work_against_parallax_serve() {
    assert!(
        root().join("tests/openai/node_modules/openai/package.json").is_file(),
        "the openai npm package is missing: run `make deps`"
    );
    let server = Server::start(&["--port", "0", "--api-key", KEY]);
    run_client(
        &root().join(".venv/bin/python"),
        "tests/openai/client_test.py",
        server.port(),
    );
    run_client(Path::new("node"), "tests/openai/client_test.mjs", server.port());
    // Anthropic's Messages API, by its official Python client.
    run_client(
        &root().join(".venv/bin/python"),
        "tests/openai/anthropic_test.py",
        server.port(),
    );
}
