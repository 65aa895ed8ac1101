//! Model lifecycle, embeddings and metrics through the router (no socket): just-in-time
//! loads, the idle TTL, memory-budget eviction (LRU) and its 507, /v1/embeddings, /metrics.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use common::*;
use parallax_core::catalog;
use parallax_server::{router, ModelManager, ServerConfig, ServerState};
use serde_json::{json, Value};

/// Two "engines" that both load the GGUF file: two distinct models for the budget tests.
fn manager() -> ModelManager {
    ModelManager::new(gguf_loader(), vec!["gguf", "twin"], 4)
}

fn app_of(models: ModelManager) -> (Router, Arc<ServerState>) {
    let state = ServerState::new(ServerConfig::default(), models);
    (router(state.clone()), state)
}

fn estimate() -> u64 {
    let entries = catalog::catalog().expect("catalog");
    entries
        .iter()
        .find(|e| e.id == MODEL)
        .expect("entry")
        .estimated_load_bytes()
}

async fn loaded(app: &Router) -> Vec<String> {
    let (_, v) = json_of(app.clone(), get("/health")).await;
    v["loaded"]
        .as_array()
        .expect("loaded")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

fn tiny(model: &str) -> String {
    chat(json!({"model": model, "max_tokens": 2}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_evicts_the_least_recently_used_model() {
    // Room for one copy, not two.
    let (app, _) = app_of(manager().with_memory_budget(Some(estimate() * 3 / 2)));
    let (s, v) = json_of(
        app.clone(),
        post("/v1/chat/completions", tiny(&format!("{MODEL}@gguf"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(loaded(&app).await, vec![format!("{MODEL}@gguf")]);
    let (s, v) = json_of(
        app.clone(),
        post("/v1/chat/completions", tiny(&format!("{MODEL}@twin"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        loaded(&app).await,
        vec![format!("{MODEL}@twin")],
        "the older model was evicted"
    );
}

#[tokio::test]
async fn a_model_larger_than_the_budget_is_a_507_and_nothing_loads() {
    let (app, _) = app_of(manager().with_memory_budget(Some(estimate() / 2)));
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", tiny(MODEL))).await;
    let e = error_of(s, &v, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(e["code"], "insufficient_memory");
    assert!(e["message"].as_str().expect("message").contains("GB"), "{e}");
    assert!(loaded(&app).await.is_empty());
    // The server is still up and says so.
    let (s, _) = json_of(app.clone(), get("/health")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_model_is_unloaded_after_the_ttl_and_reloads_on_demand() {
    let (app, state) = app_of(manager().with_ttl(Some(Duration::from_millis(300))));
    let reaper = parallax_server::spawn_idle_reaper(state.clone());
    let (s, _) = json_of(app.clone(), post("/v1/chat/completions", tiny(MODEL))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(loaded(&app).await.len(), 1);
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if loaded(&app).await.is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the idle model was never unloaded");
    assert_eq!(state.models.unloads(), 1);
    let (s, _) = json_of(app.clone(), post("/v1/chat/completions", tiny(MODEL))).await;
    assert_eq!(s, StatusCode::OK, "loads again just in time");
    reaper.abort();
}

fn embed(body: Value) -> String {
    let mut b = json!({"model": "all-minilm-l6-v2"});
    for (k, v) in body.as_object().expect("object") {
        b[k] = v.clone();
    }
    b.to_string()
}

#[tokio::test]
async fn embeddings_take_a_string_or_an_array_as_floats_or_base64() {
    let (app, _) = app_of(manager());
    let (s, one) = json_of(
        app.clone(),
        post("/v1/embeddings", embed(json!({"input": "hello world"}))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["object"], "list");
    assert_eq!(one["model"], "all-minilm-l6-v2");
    let v1: Vec<f32> = serde_json::from_value(one["data"][0]["embedding"].clone()).expect("floats");
    assert_eq!(v1.len(), 384);
    assert_eq!(one["usage"]["prompt_tokens"], 4, "[CLS] hello world [SEP]");

    let (_, many) = json_of(
        app.clone(),
        post("/v1/embeddings", embed(json!({"input": ["a cat", "hello world"]}))),
    )
    .await;
    let data = many["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    let v2: Vec<f32> = serde_json::from_value(data[1]["embedding"].clone()).expect("floats");
    assert_eq!(v1, v2, "the same text gives the same vector alone or in a batch");

    let (_, b64) = json_of(
        app.clone(),
        post(
            "/v1/embeddings",
            embed(json!({"input": "hello world", "encoding_format": "base64"})),
        ),
    )
    .await;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64["data"][0]["embedding"].as_str().expect("base64 string"))
        .expect("base64");
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(decoded, v1);
}

#[tokio::test]
async fn embedding_errors_are_openai_shaped() {
    let (app, _) = app_of(manager());
    for (body, param) in [
        (embed(json!({})), "input"),
        (embed(json!({"input": []})), "input"),
        (embed(json!({"input": [1, 2, 3]})), "input"),
        (
            embed(json!({"input": "x", "encoding_format": "int8"})),
            "encoding_format",
        ),
        (json!({"input": "x"}).to_string(), "model"),
    ] {
        let (s, v) = json_of(app.clone(), post("/v1/embeddings", body.clone())).await;
        assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["param"], param, "{body}");
    }
    let (s, v) = json_of(
        app.clone(),
        post("/v1/embeddings", embed(json!({"model": MODEL, "input": "x"}))),
    )
    .await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["code"], "model_not_supported");
    let (s, v) = json_of(
        app.clone(),
        post("/v1/chat/completions", chat(json!({"model": "all-minilm-l6-v2"}))),
    )
    .await;
    assert_eq!(error_of(s, &v, StatusCode::BAD_REQUEST)["code"], "model_not_supported");
    let (s, v) = json_of(
        app.clone(),
        post(
            "/v1/embeddings",
            embed(json!({"model": "all-minilm-l6-v2@gguf", "input": "x"})),
        ),
    )
    .await;
    assert_eq!(error_of(s, &v, StatusCode::NOT_FOUND)["code"], "model_not_found");
}

/// The value of one sample line of a Prometheus text body.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_timings_in_prometheus_text() {
    let (app, _) = app_of(manager());
    let (s, v) = json_of(app.clone(), post("/v1/chat/completions", chat(json!({})))).await;
    assert_eq!(s, StatusCode::OK);
    let generated = v["usage"]["completion_tokens"].as_f64().expect("usage");
    let _ = send(app.clone(), post("/v1/chat/completions", "{bad json")).await;
    let (s, h, body) = send(app.clone(), get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-type"].to_str().expect("ct").starts_with("text/plain"));
    let chat_ok = r#"parallax_requests_total{endpoint="/v1/chat/completions",status="200"}"#;
    let chat_bad = r#"parallax_requests_total{endpoint="/v1/chat/completions",status="400"}"#;
    assert_eq!(sample(&body, chat_ok), Some(1.0), "{body}");
    assert_eq!(sample(&body, chat_bad), Some(1.0), "{body}");
    assert_eq!(sample(&body, "parallax_completion_tokens_total"), Some(generated));
    assert_eq!(sample(&body, "parallax_ttft_seconds_count"), Some(1.0));
    assert_eq!(sample(&body, r#"parallax_ttft_seconds_bucket{le="+Inf"}"#), Some(1.0));
    assert_eq!(sample(&body, "parallax_decode_tokens_per_second_count"), Some(1.0));
    assert_eq!(
        sample(&body, &format!("parallax_model_loaded{{model=\"{MODEL}@gguf\"}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, &format!("parallax_queue_depth{{model=\"{MODEL}@gguf\"}}")),
        Some(0.0)
    );
    // Every line is a comment or `name{labels} value`.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}
