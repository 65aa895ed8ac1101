//! Helpers shared by the router tests: the app on the real SmolLM2 (GGUF engine), requests
//! without a socket, and OpenAI error-shape checks.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use parallax_server::{router, Loader, ModelManager, ServerConfig, ServerState};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const MODEL: &str = "smollm2-135m-instruct-q4_1";

pub fn gguf_loader() -> Loader {
    Arc::new(|_engine: &str, model: &str| {
        let m = parallax_core::catalog::resolve(model)?;
        parallax_gguf::load(&m.path, &m.id)
    })
}

pub fn app_with(config: ServerConfig) -> Router {
    router(ServerState::new(
        config,
        ModelManager::new(gguf_loader(), vec!["gguf"], 4),
    ))
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request")
}

pub fn app() -> Router {
    app_with(ServerConfig::default())
}

pub fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "127.0.0.1:11480")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("request")
}

pub async fn send(app: Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

pub async fn json_of(app: Router, req: Request<Body>) -> (StatusCode, Value) {
    let (status, _, body) = send(app, req).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")),
    )
}

pub fn chat(extra: Value) -> String {
    let mut body = json!({"model": MODEL, "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 12, "temperature": 0});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    body.to_string()
}

/// Asserts OpenAI's error shape and returns the error object.
pub fn error_of(status: StatusCode, v: &Value, want: StatusCode) -> Value {
    assert_eq!(status, want, "{v}");
    let e = &v["error"];
    assert!(e["message"].is_string() && e["type"].is_string(), "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
    e.clone()
}
