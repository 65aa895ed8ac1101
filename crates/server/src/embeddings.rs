//! `POST /v1/embeddings`: a string or an array of strings → vectors, as floats or base64.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::handlers::body_bytes;
use crate::request;
use crate::ServerState;

/// Most inputs one request may carry (OpenAI's limit).
const MAX_INPUTS: usize = 2048;

pub async fn embeddings(State(state): State<Arc<ServerState>>, body: Result<Bytes, BytesRejection>) -> Response {
    respond(state, body).await.unwrap_or_else(IntoResponse::into_response)
}

struct EmbeddingRequest {
    model: String,
    inputs: Vec<String>,
    base64: bool,
}

fn parse(body: &[u8]) -> Result<EmbeddingRequest, ApiError> {
    let m = request::obj(body)?;
    let model = request::string(&m, "model")?;
    let inputs = match m.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::bad_request("input", "`input` must not be empty"));
        }
        Some(Value::Array(a)) if a.len() > MAX_INPUTS => {
            return Err(ApiError::bad_request(
                "input",
                format!("at most {MAX_INPUTS} inputs per request"),
            ));
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::bad_request(
                        "input",
                        "`input` must be a string or an array of strings (token arrays are not supported)",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "input",
                "`input` must be a string or an array of strings",
            ))
        }
        None => return Err(ApiError::bad_request("input", "`input` is required")),
    };
    let base64 = match m.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "encoding_format",
                "`encoding_format` must be \"float\" or \"base64\"",
            ))
        }
    };
    if m.get("dimensions").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::bad_request(
            "dimensions",
            "`dimensions` is not supported by this model",
        ));
    }
    Ok(EmbeddingRequest { model, inputs, base64 })
}

async fn respond(state: Arc<ServerState>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let req = parse(&body_bytes(body)?)?;
    let loaded = state.models.get(&parallax_host::ModelRef::parse(&req.model)).await?;
    let embedder = loaded.embedder()?.clone();
    let _lease = loaded.enqueue()?;
    let inputs = req.inputs;
    let out = tokio::task::spawn_blocking(move || embedder.embed(&inputs))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("embedding task: {e}"),
            )
        })??;
    state.metrics.observe_embedding(out.prompt_tokens);
    let data: Vec<Value> = out
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if req.base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let n = out.prompt_tokens;
    Ok(Json(json!({"object": "list", "data": data, "model": loaded.id,
        "usage": {"prompt_tokens": n, "total_tokens": n}}))
    .into_response())
}
