//! Constrained decoding on both engines (the one generation loop masks either engine's logits):
//! SmolLM2 sampled hot still answers valid JSON of the schema, and Gemma 3 (another vocabulary,
//! SentencePiece with byte fallback) too.

use parallax_core::{generate, ChatMessage, Flow, GenerateRequest, OutputFormat, Prompt, SamplingParams};
use serde_json::{json, Value};

#[test]
fn both_engines_answer_json_valid_against_the_schema() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "tags": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "minItems": 1, "maxItems": 3},
            "score": {"type": "integer", "minimum": 0, "maximum": 100}
        },
        "required": ["name", "tags", "score"],
        "additionalProperties": false,
        "x-guidance": {"whitespace_flexible": false}
    });
    for model in ["smollm2-135m-instruct-q4_1", "gemma3-270m-q4_k_m"] {
        for engine in ["gguf", "mlx"] {
            let mut m = parallax_engines::load_model(engine, model)
                .unwrap_or_else(|e| panic!("{model} on {engine} (make models): {e}"));
            let req = GenerateRequest {
                prompt: Prompt::Chat(vec![ChatMessage::new("user", "Describe a fruit.")]),
                max_tokens: 96,
                sampling: SamplingParams {
                    temperature: 1.0,
                    seed: 11,
                    ..SamplingParams::default()
                },
                stop: vec![],
                logprobs: None,
                cache_prompt: false,
                format: Some(OutputFormat::JsonSchema { schema: schema.clone() }),
                tools: vec![],
                tool_choice: Default::default(),
                logit_bias: vec![],
            };
            let r = generate(&mut m, &req, &mut |_| Flow::Continue).expect("generate");
            let v: Value =
                serde_json::from_str(&r.text).unwrap_or_else(|e| panic!("{model} on {engine}: {e}: {}", r.text));
            let o = v.as_object().expect("object");
            assert_eq!(o.len(), 3, "{}", r.text);
            assert!(
                o["name"].as_str().is_some_and(|n| n.chars().count() <= 20),
                "{}",
                r.text
            );
            let tags = o["tags"].as_array().expect("tags");
            assert!((1..=3).contains(&tags.len()), "{}", r.text);
            assert!(tags
                .iter()
                .all(|t| ["red", "green", "blue"].contains(&t.as_str().unwrap_or(""))));
            assert!(o["score"].as_u64().is_some_and(|s| s <= 100), "{}", r.text);
            println!("{model} on {engine}: {}", r.text);
        }
    }
}
