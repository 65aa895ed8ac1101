//! Each family's real chat template (from llama.cpp's `models/templates/`) renders exactly what
//! transformers' `apply_chat_template` renders (`tests/fixtures/templates.json`, made by
//! `scripts/reference/make_template_fixtures.py` with the clock fixed).

use std::path::Path;

use parallax_core::{ChatMessage, ChatTemplate};
use serde_json::Value;

/// 2026-12-03 07:00:05 UTC, the fixtures' clock.
const FIXED_CLOCK: i64 = 1_796_281_205;

#[test]
fn every_family_template_renders_like_transformers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fx: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("tests/fixtures/templates.json")).expect("fixture"))
            .expect("json");
    let mut failed = Vec::new();
    for case in fx["cases"].as_array().expect("cases") {
        let name = case["template"].as_str().expect("name");
        let source = std::fs::read_to_string(root.join("models/llama.cpp/templates").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e} (run `make models`)"));
        let tmpl = ChatTemplate::new(
            source,
            case["bos_token"].as_str().expect("bos"),
            case["eos_token"].as_str().expect("eos"),
            false,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        tmpl.fix_clock(FIXED_CLOCK);
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).expect("messages");
        let got = tmpl.render(&messages, true).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = case["rendered"].as_str().expect("rendered");
        println!(
            "{:8} {name}: {}",
            case["family"].as_str().unwrap_or("?"),
            if got == want { "same" } else { "DIFFERS" }
        );
        if got != want {
            failed.push(format!("{name}\n want {want:?}\n got  {got:?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
