//! The core's typed error, with stable machine-readable codes for the wire (CLI, HTTP, IPC).

use std::path::PathBuf;

/// Every failure the core can report. `code()` is stable: front ends map on it, never on text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model file not found: {0}")]
    ModelNotFound(PathBuf),
    #[error("unknown model id `{0}` (see `parallax models`)")]
    UnknownModel(String),
    #[error("{path} is not a GGUF file (bad magic)")]
    NotGguf { path: PathBuf },
    #[error("invalid GGUF {path}: {reason}")]
    InvalidGguf { path: PathBuf, reason: String },
    #[error("invalid model {path}: {reason}")]
    InvalidModel { path: PathBuf, reason: String },
    #[error(
        "unsupported architecture `{0}` (supported: GGUF {gguf}; Hugging Face {hf})",
        gguf = crate::arch::supported_gguf_archs(),
        hf = crate::arch::supported_hf_types()
    )]
    UnsupportedArchitecture(String),
    #[error("unknown engine `{0}` (available: {1})")]
    UnknownEngine(String, String),
    #[error("device `{device}` is not available: {reason}")]
    DeviceUnavailable { device: String, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    ChatTemplate(String),
    #[error("prompt is {prompt_tokens} tokens but the context length is {context_length}")]
    ContextLengthExceeded {
        prompt_tokens: usize,
        context_length: usize,
    },
    #[error("invalid parameter `{param}`: {reason}")]
    InvalidParameter { param: &'static str, reason: String },
    #[error("engine failure: {0}")]
    Engine(String),
    #[error("the engine worker has stopped")]
    WorkerGone,
    /// A remote engine's failure, its code kept (`remote_unreachable`, `remote_stream_cut`, …).
    #[error("{message}")]
    Remote { code: &'static str, message: String },
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Error {
    /// A stable snake_case code for this error, used on every wire.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ModelNotFound(_) => "model_not_found",
            Error::UnknownModel(_) => "model_not_found",
            Error::NotGguf { .. } => "not_gguf",
            Error::InvalidGguf { .. } => "invalid_gguf",
            Error::InvalidModel { .. } => "invalid_model",
            Error::UnsupportedArchitecture(_) => "unsupported_architecture",
            Error::UnknownEngine(..) => "unknown_engine",
            Error::Tokenizer(_) => "tokenizer_error",
            Error::ChatTemplate(_) => "chat_template_error",
            Error::ContextLengthExceeded { .. } => "context_length_exceeded",
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::DeviceUnavailable { .. } => "device_unavailable",
            Error::Engine(_) => "engine_error",
            Error::WorkerGone => "worker_gone",
            Error::Remote { code, .. } => code,
            Error::Io { .. } => "io_error",
        }
    }

    pub fn invalid(param: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            param,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
