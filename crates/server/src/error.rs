//! Errors on the wire in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with
//! the right status. Internal details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
        }
    }

    pub fn bad_request(param: &str, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
        }
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn model_not_found(model: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist"),
        )
        .code("model_not_found")
    }
}

impl From<parallax_core::Error> for ApiError {
    fn from(e: parallax_core::Error) -> Self {
        use parallax_core::Error as E;
        match &e {
            E::ContextLengthExceeded { .. } => {
                ApiError::bad_request("messages", e.to_string()).code("context_length_exceeded")
            }
            E::InvalidParameter { param, .. } => ApiError::bad_request(param, e.to_string()).code("invalid_parameter"),
            E::ChatTemplate(_) | E::Tokenizer(_) => ApiError::bad_request("messages", e.to_string()),
            E::UnknownModel(m) => ApiError::model_not_found(m),
            // A remote engine's failure: the server behind it, not this one, is at fault.
            E::Remote { code, message } => {
                let status = match *code {
                    "remote_model_not_found" | "remote_unknown" => StatusCode::NOT_FOUND,
                    "remote_busy" => StatusCode::SERVICE_UNAVAILABLE,
                    "remote_timeout" => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::BAD_GATEWAY,
                };
                ApiError::new(status, "api_error", message.clone()).code(code)
            }
            _ => {
                eprintln!("parallax serve: internal error: {e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error").code(e.code())
            }
        }
    }
}

/// The host's errors at the HTTP edge.
impl From<parallax_host::HostError> for ApiError {
    fn from(e: parallax_host::HostError) -> Self {
        use parallax_host::HostError as H;
        match e {
            H::ModelNotFound(m) => ApiError::model_not_found(&m),
            H::NotAChatModel(id) => {
                ApiError::bad_request("model", format!("`{id}` is an embedding model: use /v1/embeddings"))
                    .code("model_not_supported")
            }
            H::NotAnEmbeddingModel(id) => ApiError::bad_request(
                "model",
                format!("`{id}` generates text; /v1/embeddings needs an embedding model"),
            )
            .code("model_not_supported"),
            H::QueueFull(_) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", e.to_string()).code(e.code())
            }
            H::InsufficientMemory { .. } => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "invalid_request_error", e.to_string()).code(e.code())
            }
            H::Engine(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code
        }});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
