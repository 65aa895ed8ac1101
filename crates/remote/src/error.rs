//! Every way a remote can fail, with codes that front ends map on (never on the text).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote `{0}` is not registered (see `parallax remote list`)")]
    Unknown(String),
    #[error("remote `{name}`: {url} is unreachable: {reason}")]
    Unreachable { name: String, url: String, reason: String },
    #[error("remote `{name}` refused the API key (HTTP {status})")]
    AuthRefused { name: String, status: u16 },
    #[error("remote `{name}` has no model `{model}`")]
    ModelNotFound { name: String, model: String },
    #[error("remote `{name}` is busy (HTTP {status}){}", retry_hint(.retry_after))]
    Busy {
        name: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("remote `{name}` did not answer within {} s", .after.as_secs())]
    Timeout { name: String, after: Duration },
    #[error("remote `{name}` cut the stream after {received} chunks: {reason}")]
    StreamCut {
        name: String,
        received: usize,
        reason: String,
    },
    #[error("remote `{name}` answered HTTP {status}: {message}")]
    Refused { name: String, status: u16, message: String },
    #[error("remote `{name}` sent something that is not the OpenAI API: {reason}")]
    BadResponse { name: String, reason: String },
    #[error("remote configuration: {0}")]
    Config(String),
    #[error("API key store: {0}")]
    Keyring(String),
}

fn retry_hint(after: &Option<Duration>) -> String {
    match after {
        Some(d) => format!("; it asks to retry after {} s", d.as_secs()),
        None => String::new(),
    }
}

impl RemoteError {
    /// Stable and machine-readable.
    pub fn code(&self) -> &'static str {
        match self {
            RemoteError::Unknown(_) => "remote_unknown",
            RemoteError::Unreachable { .. } => "remote_unreachable",
            RemoteError::AuthRefused { .. } => "remote_auth_refused",
            RemoteError::ModelNotFound { .. } => "remote_model_not_found",
            RemoteError::Busy { .. } => "remote_busy",
            RemoteError::Timeout { .. } => "remote_timeout",
            RemoteError::StreamCut { .. } => "remote_stream_cut",
            RemoteError::Refused { .. } => "remote_refused",
            RemoteError::BadResponse { .. } => "remote_bad_response",
            RemoteError::Config(_) => "remote_config",
            RemoteError::Keyring(_) => "remote_keyring",
        }
    }
}

pub type Result<T> = std::result::Result<T, RemoteError>;
