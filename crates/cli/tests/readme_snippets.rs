//! The README's endpoint snippets (curl, Python, JavaScript) run exactly as written against
//! `parallax serve` on its default port. Each is the fenced block after a
//! `<!-- snippet: LANG -->` line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Server;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (language, code) of every marked snippet.
fn snippets() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut out = vec![];
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(lang) = line.strip_prefix("<!-- snippet: ").and_then(|l| l.strip_suffix(" -->")) else {
            continue;
        };
        let fence = lines.next().expect("a fenced block after the marker");
        assert!(
            fence.starts_with("```"),
            "marker {lang} not followed by a fence: {fence}"
        );
        let code: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        out.push((lang.to_owned(), code.join("\n") + "\n"));
    }
    out
}

fn check(lang: &str, out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{lang} snippet failed: {stdout}\n{stderr}");
    eprintln!("{lang}: {stdout}");
    stdout
}

#[test]
fn the_readme_endpoint_snippets_work_as_written() {
    let snippets = snippets();
    let langs: Vec<&str> = snippets.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(langs, ["sh", "python", "js"]);

    // As the README says: `parallax serve`, default port.
    let server = Server::start(&[]);
    assert_eq!(
        server.banner, "listening on http://127.0.0.1:11480",
        "is port 11480 already in use?"
    );

    for (lang, code) in &snippets {
        match lang.as_str() {
            "sh" => {
                let out = check(lang, Command::new("bash").arg("-c").arg(code).output().expect("bash"));
                let v: serde_json::Value = serde_json::from_str(&out).expect("curl prints JSON");
                assert_eq!(v["object"], "chat.completion", "{v}");
                assert!(!v["choices"][0]["message"]["content"].as_str().unwrap_or("").is_empty());
            }
            "python" => {
                let python = root().join(".venv/bin/python");
                let out = check(lang, Command::new(python).arg("-c").arg(code).output().expect("python"));
                assert!(out.contains("2 vectors of 384"), "{out}");
            }
            "js" => {
                // Beside tests/openai/node_modules, where `make deps` put the openai package.
                let file = root().join("tests/openai/readme_snippet.mjs");
                std::fs::write(&file, code).expect("write");
                let out = Command::new("node").arg(&file).output().expect("node");
                let _ = std::fs::remove_file(&file);
                assert!(!check(lang, out).trim().is_empty());
            }
            other => panic!("no runner for snippet language {other}"),
        }
    }
}
