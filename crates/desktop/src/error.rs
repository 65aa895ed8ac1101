//! The one error type the UI receives: a stable code and a sentence that says what to do.

use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct AppError {
    pub code: String,
    pub message: String,
}

impl AppError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AppError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl From<parallax_store::Error> for AppError {
    fn from(e: parallax_store::Error) -> Self {
        AppError::new(e.code(), e.to_string())
    }
}

impl From<parallax_core::Error> for AppError {
    fn from(e: parallax_core::Error) -> Self {
        AppError::new(e.code(), e.to_string())
    }
}

impl From<parallax_host::HostError> for AppError {
    fn from(e: parallax_host::HostError) -> Self {
        AppError::new(e.code(), e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, AppError>;
