//! The router without a socket (`tower::ServiceExt::oneshot`), on the real SmolLM2 model with
//! the GGUF engine: the OpenAI wire format, every error case, and the safety checks.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::*;
use parallax_server::{router, ModelManager, ServerConfig, ServerState};
use serde_json::{json, Value};
use tower::ServiceExt;

#[tokio::test]
async fn malformed_json_is_a_400() {
    let (s, v) = json_of(app(), post("/v1/chat/completions", "{not json")).await;
    error_of(s, &v, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_missing_messages_field_or_a_wrong_type_names_the_param() {
    let (s, v) = json_of(app(), post("/v1/chat/completions", json!({"model": MODEL}).to_string())).await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "messages");
    let (s, v) = json_of(app(), post("/v1/chat/completions", chat(json!({"temperature": "hot"})))).await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "temperature");
    for n in [0, 9] {
        let (s, v) = json_of(app(), post("/v1/chat/completions", chat(json!({"n": n})))).await;
        assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "n");
    }
    let (s, v) = json_of(app(), post("/v1/chat/completions", chat(json!({"top_k": "many"})))).await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "top_k");
    let (s, v) = json_of(app(), post("/v1/chat/completions", chat(json!({"min_p": 2.0})))).await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "min_p");
}

/// The text of each choice of a non-streamed chat completion.
async fn choices(app: Router, extra: Value) -> Vec<String> {
    let (s, v) = json_of(app, post("/v1/chat/completions", chat(extra))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["index"], i, "{v}");
            c["message"]["content"].as_str().expect("content").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn n_choices_come_back_indexed_with_their_own_seeds_streamed_or_not() {
    let app = app();
    // Without prompt caching, so each choice's prompt is prefilled the same way (a reused
    // prefix recomputes only the last prompt token, which can move a sampled choice).
    let hot = json!({"n": 3, "temperature": 1.2, "seed": 7, "max_tokens": 16, "cache_prompt": false});
    let texts = choices(app.clone(), hot.clone()).await;
    assert_eq!(texts.len(), 3);
    assert!(
        texts[0] != texts[1] || texts[1] != texts[2],
        "three seeds, one text: {texts:?}"
    );
    // Choice i samples with seed + i: choice 1 of seed 7 is choice 0 of seed 8.
    let single = choices(
        app.clone(),
        json!({"temperature": 1.2, "seed": 8, "max_tokens": 16, "cache_prompt": false}),
    )
    .await;
    assert_eq!(single[0], texts[1]);
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", chat(hot.clone()))).await;
    assert_eq!(s, StatusCode::OK);
    let completion: u64 = v["usage"]["completion_tokens"].as_u64().expect("usage");
    assert!(completion > 16, "usage counts every choice: {v}");
    // Streamed: each choice's chunks carry its index, and end with its finish reason.
    let mut body = hot;
    body["stream"] = json!(true);
    let (s, _, text) = send(app, post("/v1/chat/completions", chat(body))).await;
    assert_eq!(s, StatusCode::OK);
    let mut streamed = vec![String::new(); 3];
    let mut finished = [false; 3];
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(line).expect("chunk");
        let c = &v["choices"][0];
        let i = c["index"].as_u64().expect("index") as usize;
        streamed[i].push_str(c["delta"]["content"].as_str().unwrap_or_default());
        finished[i] |= c["finish_reason"].is_string();
    }
    assert_eq!(streamed, texts);
    assert_eq!(finished, [true; 3]);
}

#[tokio::test]
async fn top_k_min_p_and_repetition_penalty_are_honoured() {
    let app = app();
    let base = json!({"max_tokens": 24, "seed": 3, "cache_prompt": false});
    let greedy = choices(
        app.clone(),
        json!({"temperature": 0, "max_tokens": 24, "cache_prompt": false}),
    )
    .await;
    let hot = |extra: Value| {
        let mut b = base.clone();
        b["temperature"] = json!(1.5);
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    // Sampled hot, the text wanders; keeping one candidate (top_k 1, or min_p 1) is greedy.
    assert_ne!(choices(app.clone(), hot(json!({}))).await, greedy);
    assert_eq!(choices(app.clone(), hot(json!({"top_k": 1}))).await, greedy);
    assert_eq!(choices(app.clone(), hot(json!({"min_p": 1.0}))).await, greedy);
    // A strong repetition penalty changes even the greedy text (llama-server's name too).
    let penalised = choices(
        app.clone(),
        json!({"temperature": 0, "max_tokens": 24, "repetition_penalty": 3.0, "cache_prompt": false}),
    )
    .await;
    assert_ne!(penalised, greedy);
    let aliased = choices(
        app,
        json!({"temperature": 0, "max_tokens": 24, "repeat_penalty": 3.0, "cache_prompt": false}),
    )
    .await;
    assert_eq!(aliased, penalised);
}

#[tokio::test]
async fn unknown_models_and_paths_are_404_model_not_found() {
    for model in [
        "no-such-model",
        "/etc/passwd",
        "../models/x.gguf",
        "smollm2-135m-instruct-q4_1@vllm",
    ] {
        let (s, v) = json_of(app(), post("/v1/chat/completions", chat(json!({"model": model})))).await;
        assert_eq!(
            error_of(s, &v, StatusCode::NOT_FOUND)["code"],
            "model_not_found",
            "{model}"
        );
    }
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_context_length_exceeded() {
    let long = "word ".repeat(9000);
    let body = chat(json!({"messages": [{"role": "user", "content": long}]}));
    let (s, v) = json_of(app(), post("/v1/chat/completions", body)).await;
    assert_eq!(
        error_of(s, &v, StatusCode::BAD_REQUEST)["code"],
        "context_length_exceeded"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = app_with(ServerConfig {
        max_body_bytes: 1024,
        ..Default::default()
    });
    let body = chat(json!({"messages": [{"role": "user", "content": "x".repeat(4096)}]}));
    let (s, v) = json_of(app, post("/v1/chat/completions", body)).await;
    error_of(s, &v, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_wrong_or_missing_api_key_is_a_401() {
    let config = ServerConfig {
        api_key: Some("sesame".into()),
        ..Default::default()
    };
    let (s, v) = json_of(app_with(config.clone()), post("/v1/chat/completions", chat(json!({})))).await;
    error_of(s, &v, StatusCode::UNAUTHORIZED);
    let mut req = post("/v1/models", Body::empty());
    *req.method_mut() = axum::http::Method::GET;
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer wrong".parse().expect("header"));
    let (s, v) = json_of(app_with(config.clone()), req).await;
    error_of(s, &v, StatusCode::UNAUTHORIZED);
    let mut req = post("/v1/models", Body::empty());
    *req.method_mut() = axum::http::Method::GET;
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer sesame".parse().expect("header"));
    let (s, _) = json_of(app_with(config), req).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_foreign_host_is_a_403() {
    for host in ["evil.example", "evil.example:11480", "127.0.0.1.nip.io"] {
        let mut req = post("/v1/chat/completions", chat(json!({})));
        req.headers_mut().insert(header::HOST, host.parse().expect("header"));
        let (s, v) = json_of(app(), req).await;
        error_of(s, &v, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn cors_answers_allowlisted_origins_and_never_echoes_a_foreign_one() {
    let preflight = |origin: &str| {
        Request::options("/v1/chat/completions")
            .header(header::HOST, "localhost:11480")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .expect("request")
    };
    for origin in ["tauri://localhost", "http://tauri.localhost", "http://localhost:5173"] {
        let (s, h, _) = send(app(), preflight(origin)).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{origin}");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
    }
    for origin in [
        "https://evil.example",
        "http://localhost.evil.example",
        "http://localhost:80x",
    ] {
        let (s, h, _) = send(app(), preflight(origin)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{origin}");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{origin}");
    }
}

#[tokio::test]
async fn models_lists_each_fetched_model_per_engine() {
    let (s, v) = json_of(app(), get("/v1/models")).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"smollm2-135m-instruct-q4_1@gguf"), "{ids:?}");
    assert!(
        ids.contains(&"all-minilm-l6-v2"),
        "the embedding model, without an engine: {ids:?}"
    );
    assert!(!ids.iter().any(|i| i.starts_with("all-minilm-l6-v2@")), "{ids:?}");
}

#[tokio::test]
async fn a_chat_completion_answers_with_usage_and_timings() {
    let (s, v) = json_of(app(), post("/v1/chat/completions", chat(json!({})))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "smollm2-135m-instruct-q4_1@gguf");
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["role"], "assistant");
    assert!(!msg["content"].as_str().expect("content").is_empty(), "{v}");
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"],
        u["prompt_tokens"].as_u64().expect("p") + u["completion_tokens"].as_u64().expect("c")
    );
    assert!(v["timings"]["ttft_ms"].as_f64().expect("ttft") > 0.0);
    assert_eq!(v["timings"]["engine"], "gguf");
}

#[tokio::test]
async fn a_repeated_prompt_reuses_the_kv_cache_and_says_so_in_usage() {
    let app = app();
    let cached = |v: &Value| {
        v["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .expect("cached_tokens")
    };
    let (_, first) = json_of(app.clone(), post("/v1/chat/completions", chat(json!({})))).await;
    assert_eq!(cached(&first), 0, "{first}");
    let prompt = first["usage"]["prompt_tokens"].as_u64().expect("prompt_tokens");
    let (_, again) = json_of(app.clone(), post("/v1/chat/completions", chat(json!({})))).await;
    assert_eq!(cached(&again), prompt - 1, "all but the prompt's last token: {again}");
    assert_eq!(
        again["choices"][0]["message"]["content"],
        first["choices"][0]["message"]["content"]
    );
    let (_, cold) = json_of(
        app.clone(),
        post("/v1/chat/completions", chat(json!({"cache_prompt": false}))),
    )
    .await;
    assert_eq!(
        cached(&cold),
        0,
        "llama-server's `cache_prompt: false` asks for a cold prefill"
    );
    let (s, v) = json_of(app, post("/v1/chat/completions", chat(json!({"cache_prompt": "yes"})))).await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "cache_prompt");
}

/// The `data:` payloads of an SSE body.
fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_streamed_chat_follows_openais_wire_format() {
    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let (s, h, text) = send(app(), post("/v1/chat/completions", body)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/event-stream");
    let events = sse_events(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk json"))
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let usage_chunk = chunks.last().expect("usage chunk");
    assert_eq!(usage_chunk["choices"].as_array().map(Vec::len), Some(0));
    assert!(usage_chunk["usage"]["completion_tokens"].as_u64().expect("usage") > 0);
    let finish = &chunks[chunks.len() - 2];
    assert!(finish["choices"][0]["finish_reason"].is_string(), "{finish}");
    let middle = &chunks[1..chunks.len() - 2];
    assert!(middle.iter().all(|c| c["choices"][0]["finish_reason"].is_null()));
    let streamed: String = middle
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    // Greedy: the streamed text is exactly the non-streamed answer.
    let (_, whole) = json_of(app(), post("/v1/chat/completions", chat(json!({})))).await;
    assert_eq!(
        streamed,
        whole["choices"][0]["message"]["content"].as_str().expect("content")
    );
}

#[tokio::test]
async fn a_seed_reproduces_its_output_and_stop_sequences_cut_it() {
    let sampled = chat(json!({"temperature": 0.9, "seed": 42, "max_tokens": 16}));
    let (_, a) = json_of(app(), post("/v1/chat/completions", sampled.clone())).await;
    let (_, b) = json_of(app(), post("/v1/chat/completions", sampled)).await;
    assert_eq!(
        a["choices"][0]["message"]["content"],
        b["choices"][0]["message"]["content"]
    );
    // Stop at the third character of the greedy answer: the text ends just before it.
    let (_, whole) = json_of(app(), post("/v1/chat/completions", chat(json!({})))).await;
    let full = whole["choices"][0]["message"]["content"]
        .as_str()
        .expect("content")
        .to_owned();
    let cut: String = full.chars().take(2).collect();
    let stop: String = full.chars().skip(2).take(1).collect();
    let (_, v) = json_of(app(), post("/v1/chat/completions", chat(json!({"stop": [stop]})))).await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        json!(cut),
        "full answer {full:?}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn a_plain_completion_works_streamed_and_not() {
    let body = json!({"model": MODEL, "prompt": "The capital of France is", "max_tokens": 6, "temperature": 0});
    let (s, v) = json_of(app(), post("/v1/completions", body.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert!(v["choices"][0]["text"].as_str().expect("text").contains("Paris"));
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (_, _, text) = send(app(), post("/v1/completions", streamed.to_string())).await;
    let events = sse_events(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let joined: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| c["choices"][0]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(joined, v["choices"][0]["text"].as_str().expect("text"));
}

// Multi-threaded: the engine worker is joined when the last router clone drops, and a stalled
// stream must be able to notice its dropped receiver meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_with_retry_after() {
    let app = router(ServerState::new(
        ServerConfig::default(),
        ModelManager::new(gguf_loader(), vec!["gguf"], 1),
    ));
    // A streamed response whose body is not read keeps its place in the queue.
    let long = chat(json!({"stream": true, "max_tokens": 200}));
    let held = app
        .clone()
        .oneshot(post("/v1/chat/completions", long))
        .await
        .expect("response");
    assert_eq!(held.status(), StatusCode::OK);
    let (s, h, body) = send(app.clone(), post("/v1/chat/completions", chat(json!({})))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(h[header::RETRY_AFTER], "1");
    // Dropping the held stream cancels it and frees its place: the next request succeeds.
    drop(held);
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (s, _, _) = send(
            app.clone(),
            post("/v1/chat/completions", chat(json!({"max_tokens": 2}))),
        )
        .await;
        if s == StatusCode::OK {
            ok = true;
            break;
        }
    }
    assert!(ok, "the queue place was never freed after the client went away");
}

#[tokio::test]
async fn logprobs_come_in_openais_shape_and_agree_with_the_greedy_choice() {
    let (s, v) = json_of(
        app(),
        post(
            "/v1/chat/completions",
            chat(json!({"logprobs": true, "top_logprobs": 3})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let content = v["choices"][0]["logprobs"]["content"]
        .as_array()
        .expect("logprobs.content");
    assert_eq!(
        content.len() as u64,
        v["usage"]["completion_tokens"].as_u64().expect("usage")
    );
    let text: String = content.iter().map(|t| t["token"].as_str().expect("token")).collect();
    assert_eq!(text, v["choices"][0]["message"]["content"].as_str().expect("content"));
    for t in content {
        let lp = t["logprob"].as_f64().expect("logprob");
        assert!(lp <= 0.0, "{t}");
        let top = t["top_logprobs"].as_array().expect("top_logprobs");
        assert_eq!(top.len(), 3);
        // Greedy: the chosen token is the most likely one.
        assert_eq!(top[0]["token"], t["token"]);
        assert!((top[0]["logprob"].as_f64().expect("top") - lp).abs() < 1e-6);
        assert!(top
            .windows(2)
            .all(|w| w[0]["logprob"].as_f64() >= w[1]["logprob"].as_f64()));
        assert_eq!(t["bytes"], json!(t["token"].as_str().expect("token").as_bytes()));
    }
    // Without `logprobs` there are none; `top_logprobs` alone or over 20 is a 400.
    let (_, plain) = json_of(app(), post("/v1/chat/completions", chat(json!({})))).await;
    assert!(plain["choices"][0]["logprobs"].is_null());
    let (s, v) = json_of(app(), post("/v1/chat/completions", chat(json!({"top_logprobs": 2})))).await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "top_logprobs");
    let (s, v) = json_of(
        app(),
        post(
            "/v1/chat/completions",
            chat(json!({"logprobs": true, "top_logprobs": 21})),
        ),
    )
    .await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "top_logprobs");
}

#[tokio::test]
async fn streamed_logprobs_cover_every_streamed_token() {
    let body =
        chat(json!({"stream": true, "logprobs": true, "top_logprobs": 1, "stream_options": {"include_usage": true}}));
    let (_, _, text) = send(app(), post("/v1/chat/completions", body)).await;
    let events = sse_events(&text);
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("json"))
        .collect();
    let tokens: Vec<Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["logprobs"]["content"].as_array())
        .flatten()
        .cloned()
        .collect();
    let usage = chunks.last().expect("usage")["usage"]["completion_tokens"]
        .as_u64()
        .expect("usage");
    assert_eq!(tokens.len() as u64, usage);
}

#[tokio::test]
async fn plain_completions_take_legacy_logprobs() {
    let body =
        json!({"model": MODEL, "prompt": "The capital of France is", "max_tokens": 4, "temperature": 0, "logprobs": 2});
    let (s, v) = json_of(app(), post("/v1/completions", body.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let lp = &v["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"].as_array().map(Vec::len), Some(4), "{lp}");
    assert_eq!(lp["token_logprobs"].as_array().map(Vec::len), Some(4));
    assert_eq!(lp["text_offset"][0], 0);
    assert_eq!(lp["top_logprobs"][0].as_object().map(|m| m.len()), Some(2), "{lp}");
    let mut bad = body.clone();
    bad["logprobs"] = json!(6);
    let (s, v) = json_of(app(), post("/v1/completions", bad.to_string())).await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "logprobs");
}

#[tokio::test]
async fn response_format_constrains_the_output_to_json_and_to_a_schema() {
    let app = app();
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 24},
            "population": {"type": "integer"},
            "capital": {"type": "boolean"}
        },
        "required": ["city", "population", "capital"],
        "additionalProperties": false,
        "x-guidance": {"whitespace_flexible": false}
    });
    for (stream, seed) in [(false, 1), (true, 2)] {
        // Sampled hot, so the model alone would wander off; the grammar holds it.
        let body = chat(json!({
            "temperature": 1.0, "seed": seed, "max_tokens": 96, "stream": stream,
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}
        }));
        let (s, _, text) = send(app.clone(), post("/v1/chat/completions", body)).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let content = match stream {
            false => serde_json::from_str::<Value>(&text).expect("json")["choices"][0]["message"]["content"]
                .as_str()
                .expect("content")
                .to_owned(),
            true => text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter(|l| *l != "[DONE]")
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
                .collect(),
        };
        let v: Value = serde_json::from_str(&content).unwrap_or_else(|e| panic!("{e}: {content}"));
        let o = v.as_object().expect("an object");
        assert_eq!(o.len(), 3, "{content}");
        assert!(o["city"].as_str().is_some_and(|c| c.chars().count() <= 24), "{content}");
        assert!(o["population"].is_i64() || o["population"].is_u64(), "{content}");
        assert!(o["capital"].is_boolean(), "{content}");
    }
    // Any JSON object.
    let body = chat(json!({"temperature": 1.0, "seed": 5, "max_tokens": 64,
        "response_format": {"type": "json_object", }}));
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let content = v["choices"][0]["message"]["content"].as_str().expect("content");
    if v["choices"][0]["finish_reason"] == "stop" {
        assert!(
            serde_json::from_str::<Value>(content).is_ok_and(|j| j.is_object()),
            "{content}"
        );
    } else {
        assert!(content.trim_start().starts_with('{'), "{content}");
    }
}

#[tokio::test]
async fn a_schema_that_does_not_compile_is_a_400_naming_the_keyword() {
    let schema = json!({"type": "object", "not": {"required": ["x"]}});
    let body =
        chat(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}));
    let (s, v) = json_of(app(), post("/v1/chat/completions", body)).await;
    let e = error_of(s, &v, StatusCode::BAD_REQUEST);
    assert_eq!(e["param"], "response_format");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("`not`")), "{e}");
    for bad in [json!({"type": "yaml"}), json!({"type": "json_schema"}), json!("json")] {
        let (s, v) = json_of(
            app(),
            post("/v1/chat/completions", chat(json!({"response_format": bad}))),
        )
        .await;
        assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], "response_format");
    }
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"], "additionalProperties": false}}})
}

#[tokio::test]
async fn a_required_tool_call_comes_back_as_tool_calls_and_the_result_goes_back_in() {
    let app = app();
    let ask = json!([{"role": "user", "content": "What is the weather in Paris?"}]);
    let body = chat(json!({"messages": ask, "tools": [weather_tool()], "tool_choice": "required", "max_tokens": 64}));
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    assert!(choice["message"]["content"].is_null(), "{v}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("arguments")).expect("JSON");
    assert!(args["city"].is_string(), "{args}");
    // The call and its result go back in (content null, the tool role); the model answers.
    let id = call["id"].as_str().expect("id").to_owned();
    let turns = json!([
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "{\"celsius\": 21}"}
    ]);
    let body = chat(json!({"messages": turns, "tools": [weather_tool()], "tool_choice": "none", "max_tokens": 16}));
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{v}"
    );
    assert!(v["choices"][0]["message"].get("tool_calls").is_none(), "{v}");
    // Streamed, a named call arrives as a tool_calls delta.
    let body = chat(
        json!({"messages": ask, "tools": [weather_tool()], "stream": true, "max_tokens": 64,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    );
    let (s, _, text) = send(app, post("/v1/chat/completions", body)).await;
    assert_eq!(s, StatusCode::OK);
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|l| *l != "[DONE]")
        .map(|l| serde_json::from_str(l).expect("chunk"))
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(calls.len(), 1, "{text}");
    assert_eq!(calls[0][0]["function"]["name"], "get_weather");
    assert_eq!(calls[0][0]["index"], 0);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(
        !content.contains("tool_call"),
        "the call is not streamed as text: {content}"
    );
    assert_eq!(
        chunks.last().expect("last")["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn bad_tool_requests_are_400s_naming_the_parameter() {
    let ask = json!([{"role": "user", "content": "Hi"}]);
    let cases = [
        (
            json!({"tools": [{"type": "function", "function": {"name": "x y"}}]}),
            "tools",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": "nope"}}]}),
            "tools",
        ),
        (json!({"tools": [{"type": "retrieval"}]}), "tools"),
        (
            json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "tool_choice",
        ),
        (
            json!({"tools": [weather_tool()], "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!({"messages": [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "21"}]}),
            "messages[1].tool_call_id",
        ),
    ];
    for (extra, param) in cases {
        let mut body = json!({"messages": ask});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (s, v) = json_of(app(), post("/v1/chat/completions", chat(body))).await;
        assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], param, "{v}");
    }
}

#[tokio::test]
async fn anthropic_messages_answer_stream_and_count_in_their_own_shapes() {
    let app = app();
    let body = json!({"model": MODEL, "max_tokens": 12, "temperature": 0, "system": "You are terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Name three colours."}]}]});
    let (s, v) = json_of(app.clone(), post("/v1/messages", body.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["type"].as_str(), v["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    let text = v["content"][0]["text"].as_str().expect("a text block").to_owned();
    assert!(
        ["end_turn", "max_tokens"].contains(&v["stop_reason"].as_str().unwrap_or("")),
        "{v}"
    );
    let input = v["usage"]["input_tokens"].as_u64().expect("usage");
    // count_tokens agrees with the prompt the message ran.
    let (s, c) = json_of(app.clone(), post("/v1/messages/count_tokens", body.to_string())).await;
    assert_eq!((s, c["input_tokens"].as_u64()), (StatusCode::OK, Some(input)), "{c}");
    // Streamed: Anthropic's events in order, the same text.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (s, _, sse) = send(app.clone(), post("/v1/messages", streamed.to_string())).await;
    assert_eq!(s, StatusCode::OK);
    let events: Vec<&str> = sse.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(events.first(), Some(&"message_start"), "{sse}");
    assert_eq!(
        &events[events.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let got: String = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(got, text);
    // Without max_tokens: a 400 in Anthropic's error shape.
    let (s, e) = json_of(
        app,
        post(
            "/v1/messages",
            json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}).to_string(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        (e["type"].as_str(), e["error"]["type"].as_str()),
        (Some("error"), Some("invalid_request_error"))
    );
    assert!(
        e["error"]["message"].as_str().is_some_and(|m| m.contains("max_tokens")),
        "{e}"
    );
}

#[tokio::test]
async fn logit_bias_is_honoured_and_output_changing_parameters_we_lack_are_refused_by_name() {
    let app = app();
    let greedy = json!({"temperature": 0, "max_tokens": 8, "cache_prompt": false, "logprobs": true});
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", chat(greedy.clone()))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let first = v["choices"][0]["logprobs"]["content"][0]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let text = v["choices"][0]["message"]["content"].as_str().expect("text").to_owned();
    // Ban the greedy first token: the reply must start otherwise.
    let tok = parallax_core::catalog::resolve(MODEL).expect("model");
    let header = parallax_core::GgufHeader::read(&tok.path).expect("header");
    let tokenizer = parallax_core::Tokenizer::from_gguf(&header).expect("tokenizer");
    let id = tokenizer.encode(&first, false).expect("encode")[0];
    let mut banned = greedy.clone();
    banned["logit_bias"] = json!({ id.to_string(): -100 });
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", chat(banned))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(
        v["choices"][0]["message"]["content"].as_str(),
        Some(text.as_str()),
        "{v}"
    );
    assert_ne!(
        v["choices"][0]["logprobs"]["content"][0]["token"].as_str(),
        Some(first.as_str())
    );
    for (extra, param) in [
        (json!({"logit_bias": {"x": 1}}), "logit_bias"),
        (json!({"logit_bias": {"5": 500}}), "logit_bias"),
        (json!({"logit_bias": {"99999999": 1}}), "logit_bias"),
        (json!({"audio": {"voice": "alloy"}}), "audio"),
        (json!({"modalities": ["text", "audio"]}), "modalities"),
        (json!({"functions": [{"name": "f"}]}), "functions"),
        (json!({"reasoning_effort": "high"}), "reasoning_effort"),
    ] {
        let (s, v) = json_of(app.clone(), post("/v1/chat/completions", chat(extra))).await;
        assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], param, "{v}");
    }
    // Unknown parameters are ignored, as OpenAI ignores them; informational ones too.
    let (s, v) = json_of(
        app,
        post(
            "/v1/chat/completions",
            chat(json!({"user": "u1", "frobnicate": 3, "modalities": ["text"], "parallel_tool_calls": false})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
