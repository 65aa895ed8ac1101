//! The models the endpoint serves: every catalog model × engine, loaded just in time on first
//! use, each behind a bounded request queue. Ids are `<model-id>@<engine>`; a plain
//! `<model-id>` means the default engine. Paths are never ids: no file access through the API.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use parallax_core::{catalog, EngineHandle, LoadedModel};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Loads a catalog model with the named engine (the CLI and the app pass their engine table).
pub type Loader = Arc<dyn Fn(&str, &str) -> parallax_core::Result<LoadedModel> + Send + Sync>;

/// A loaded model and its queue: `queue_depth` requests may wait or run at once.
pub struct Slot {
    pub id: String,
    pub handle: EngineHandle,
    queue: Arc<Semaphore>,
}

impl Slot {
    /// A place in the queue, or 429 when it is full.
    pub fn enqueue(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.queue.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("the queue for `{}` is full", self.id),
            )
            .code("queue_full")
        })
    }

    pub fn queued(&self, depth: usize) -> usize {
        depth - self.queue.available_permits()
    }
}

pub struct ModelManager {
    loader: Loader,
    engines: Vec<&'static str>,
    queue_depth: usize,
    loaded: Mutex<HashMap<String, Arc<Slot>>>,
}

impl ModelManager {
    /// `engines[0]` is the default engine.
    pub fn new(loader: Loader, engines: Vec<&'static str>, queue_depth: usize) -> Self {
        ModelManager {
            loader,
            engines,
            queue_depth: queue_depth.max(1),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Every servable id, `<model>@<engine>`, for the models fetched on disk.
    pub fn list(&self) -> Vec<String> {
        let dir = catalog::models_dir();
        let entries = catalog::catalog().unwrap_or_default();
        entries
            .iter()
            .filter(|e| dir.join(&e.file).is_file())
            .flat_map(|e| self.engines.iter().map(move |eng| format!("{}@{eng}", e.id)))
            .collect()
    }

    /// `name` → (catalog id, engine), or 404.
    pub fn resolve(&self, name: &str) -> Result<(String, &'static str), ApiError> {
        let (model, engine) = match name.rsplit_once('@') {
            Some((m, e)) => (m, e),
            None => (name, self.engines[0]),
        };
        let engine = self
            .engines
            .iter()
            .find(|e| **e == engine)
            .ok_or_else(|| ApiError::model_not_found(name))?;
        let known = catalog::catalog().unwrap_or_default().iter().any(|e| e.id == model);
        if !known {
            return Err(ApiError::model_not_found(name));
        }
        Ok((model.to_owned(), engine))
    }

    /// The loaded slot for `name`, loading it first if needed. Loads are serialised.
    pub async fn get(&self, name: &str) -> Result<Arc<Slot>, ApiError> {
        let (model, engine) = self.resolve(name)?;
        let id = format!("{model}@{engine}");
        let mut loaded = self.loaded.lock().await;
        if let Some(slot) = loaded.get(&id) {
            return Ok(slot.clone());
        }
        let loader = self.loader.clone();
        let (m, e) = (model.clone(), engine);
        let model = tokio::task::spawn_blocking(move || loader(e, &m)).await.map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("load task: {e}"),
            )
        })??;
        let slot = Arc::new(Slot {
            id: id.clone(),
            handle: EngineHandle::spawn(model),
            queue: Arc::new(Semaphore::new(self.queue_depth)),
        });
        loaded.insert(id, slot.clone());
        Ok(slot)
    }

    /// Ids of the loaded models and their queue depths now.
    pub async fn loaded(&self) -> Vec<(String, usize)> {
        self.loaded
            .lock()
            .await
            .values()
            .map(|s| (s.id.clone(), s.queued(self.queue_depth)))
            .collect()
    }
}
