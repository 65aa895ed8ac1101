//! What can go wrong when asking the host for a model, typed, with stable codes. The server
//! turns these into HTTP statuses at its edge, the app into its typed errors, the CLI into a
//! line.

/// A host error. `code()` is stable (the API's `error.code`, the app's `AppError.code`).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No fetched model by that name (or no such engine for it).
    #[error("The model `{0}` does not exist")]
    ModelNotFound(String),
    /// A chat request for an embedding model.
    #[error("`{0}` is an embedding model, not a chat model")]
    NotAChatModel(String),
    /// An embedding request for a chat model.
    #[error("`{0}` generates text; embeddings need an embedding model")]
    NotAnEmbeddingModel(String),
    /// As many requests as the queue holds already run or wait for this model.
    #[error("the queue for `{0}` is full")]
    QueueFull(String),
    /// The model cannot fit, even after unloading every idle model.
    #[error("`{id}` needs about {:.2} GB and {limit}{busy}: raise --memory-budget, free memory, or pick a smaller model", *need as f64 / 1e9)]
    InsufficientMemory {
        id: String,
        need: u64,
        /// "the memory budget is … GB" or "… GB is available".
        limit: String,
        /// What models serving requests hold, when they hold anything.
        busy: String,
    },
    /// The engine refused or failed (bad request parameters among them).
    #[error(transparent)]
    Engine(#[from] parallax_core::Error),
}

impl HostError {
    pub fn code(&self) -> &'static str {
        match self {
            HostError::ModelNotFound(_) => "model_not_found",
            HostError::NotAChatModel(_) | HostError::NotAnEmbeddingModel(_) => "model_not_supported",
            HostError::QueueFull(_) => "queue_full",
            HostError::InsufficientMemory { .. } => "insufficient_memory",
            HostError::Engine(e) => e.code(),
        }
    }
}

pub type HostResult<T> = std::result::Result<T, HostError>;
