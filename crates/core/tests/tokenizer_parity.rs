//! Token ids and chat-template renderings must equal transformers' on the committed fixtures
//! (tests/fixtures/tokenizer, made by scripts/reference/make_tokenizer_fixtures.py), for both
//! real models. `make test` fetches the models first.

use parallax_core::tokenizer::StreamDecoder;
use parallax_core::{catalog, ChatMessage, ChatTemplate, GgufHeader, Tokenizer};
use serde_json::Value;

fn fixture(model_id: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/tokenizer/{model_id}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture file")).expect("fixture json")
}

fn load(model_id: &str) -> (GgufHeader, Tokenizer) {
    let model = catalog::resolve(model_id).expect("model fetched by `make models`");
    let header = GgufHeader::read(&model.path).expect("valid gguf");
    let tok = Tokenizer::from_gguf(&header).expect("tokenizer");
    (header, tok)
}

fn check_encodings(model_id: &str) {
    let fx = fixture(model_id);
    let (_, tok) = load(model_id);
    let encodings = fx["encodings"].as_array().expect("encodings");
    assert!(encodings.len() >= 50, "the fixture must hold at least 50 strings");
    let mut failures = vec![];
    for case in encodings {
        let text = case["text"].as_str().expect("text");
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
        let got = tok.encode(text, true).expect("encode");
        if got != expected {
            failures.push(format!("{text:?}\n  ours: {got:?}\n  ref:  {expected:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        encodings.len(),
        failures.join("\n")
    );
}

fn check_chats(model_id: &str) {
    let fx = fixture(model_id);
    let (header, tok) = load(model_id);
    let template =
        ChatTemplate::from_gguf(&header, tok.bos_token.as_deref(), tok.eos_token.as_deref()).expect("template");
    for case in fx["chats"].as_array().expect("chats") {
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).expect("messages");
        let gen = case["add_generation_prompt"].as_bool().expect("flag");
        let rendered = template.render(&messages, gen).expect("render");
        assert_eq!(rendered, case["rendered"].as_str().expect("rendered"), "{messages:?}");
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
        assert_eq!(tok.encode(&rendered, false).expect("encode"), expected);
    }
}

/// Decoding one token at a time must give the same text as decoding all at once, never a
/// broken character, even where an emoji or CJK character spans several tokens.
fn check_stream_decoding(model_id: &str) {
    let fx = fixture(model_id);
    let (_, tok) = load(model_id);
    for case in fx["encodings"].as_array().expect("encodings") {
        let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
        let mut dec = StreamDecoder::default();
        let mut streamed = String::new();
        for &id in &ids {
            let piece = dec.push(&tok, id).expect("push");
            assert!(
                !piece.contains('\u{FFFD}'),
                "broken UTF-8 streamed for {:?}",
                case["text"]
            );
            streamed.push_str(&piece);
        }
        streamed.push_str(&dec.flush(&tok).expect("flush"));
        assert_eq!(streamed, tok.decode(&ids).expect("decode"), "{:?}", case["text"]);
    }
}

#[test]
fn smollm2_token_ids_match_transformers() {
    check_encodings("smollm2-135m-instruct-q4_1");
}

#[test]
fn gemma3_token_ids_match_transformers() {
    check_encodings("gemma3-270m-q4_k_m");
}

#[test]
fn smollm2_chat_template_matches_transformers() {
    check_chats("smollm2-135m-instruct-q4_1");
}

#[test]
fn gemma3_chat_template_matches_transformers() {
    check_chats("gemma3-270m-q4_k_m");
}

#[test]
fn smollm2_streaming_detokenisation_never_breaks_utf8() {
    check_stream_decoding("smollm2-135m-instruct-q4_1");
}

#[test]
fn gemma3_streaming_detokenisation_never_breaks_utf8() {
    check_stream_decoding("gemma3-270m-q4_k_m");
}
