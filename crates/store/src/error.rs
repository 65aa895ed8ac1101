//! The store's errors, each with a stable code for the UI.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the app database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot create {0}: {1}")]
    Io(String, std::io::Error),
    #[error("no {0} with id {1}")]
    NotFound(&'static str, i64),
    #[error("the database was left inconsistent by a crashed thread; restart the app")]
    Poisoned,
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Sqlite(_) => "store_failed",
            Error::Json(_) => "store_corrupt",
            Error::Io(..) => "store_unwritable",
            Error::NotFound(..) => "not_found",
            Error::Poisoned => "store_poisoned",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
