//! What the desktop app does, without Tauri, so it is tested without a window: chats stored
//! in SQLite and streamed from either engine, engine and model switching at any time, model
//! fit estimates, settings, and the embedded OpenAI endpoint and live monitor. The Tauri
//! shell (src-tauri) only forwards commands here.
//!
//! The chat and the endpoint share one `ModelManager`: a model loaded for the chat serves the
//! endpoint too, under one memory budget and one monitor.

pub mod bindings;
mod chat;
mod endpoint;
mod error;
mod models;
mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use parallax_server::{AppState, Loader, ModelManager, ServerConfig};
use parallax_store::{ChatSettings, Conversation, ConversationSummary, Store};
use serde::Serialize;
use ts_rs::TS;

pub use chat::{ChatEvent, Choice};
pub use endpoint::EndpointStatus;
pub use error::{AppError, Result};
pub use models::{memory_fit, model_options, MemoryFit, ModelOption};
pub use settings::AppSettings;

/// An engine and whether it can run here.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct EngineStatus {
    pub name: String,
    pub available: bool,
    /// How it runs ("MLX on the CPU …"), or why it cannot.
    pub detail: String,
}

/// What the UI shows on launch.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub engines: Vec<EngineStatus>,
    pub data_dir: String,
    pub settings: AppSettings,
}

pub struct App {
    pub(crate) store: Store,
    pub(crate) server: Arc<AppState>,
    data_dir: PathBuf,
    settings: Mutex<AppSettings>,
    /// The stop signal of each conversation's reply in progress.
    pub(crate) running: Mutex<HashMap<i64, Arc<tokio::sync::Notify>>>,
    pub(crate) endpoint: Mutex<endpoint::Endpoint>,
    monitor: Mutex<Option<parallax_monitor::Monitor>>,
}

impl App {
    /// Opens the app's data in `data_dir` (created if missing). Nothing is loaded yet.
    pub fn open(data_dir: &Path) -> Result<App> {
        let store = Store::open(&data_dir.join("parallax.sqlite"))?;
        let settings = AppSettings::load(&store)?;
        let loader: Loader = Arc::new(parallax_engines::load_model);
        let models = ModelManager::new(loader, parallax_engines::ENGINES.to_vec(), 16);
        let config = ServerConfig {
            api_key: settings.api_key.clone(),
            ..ServerConfig::default()
        };
        Ok(App {
            store,
            server: AppState::new(config, models),
            data_dir: data_dir.to_owned(),
            settings: Mutex::new(settings),
            running: Mutex::new(HashMap::new()),
            endpoint: Mutex::new(endpoint::Endpoint::default()),
            monitor: Mutex::new(None),
        })
    }

    /// Starts the live monitor (served on the endpoint's `/monitor` too) and returns its feed.
    pub fn start_monitor(&self) -> Result<parallax_monitor::Feed> {
        let interval = std::time::Duration::from_millis(self.settings().monitor_interval_ms);
        let monitor =
            parallax_server::start_monitor(&self.server, interval).map_err(|e| AppError::new("monitor_failed", e))?;
        let feed = monitor.feed();
        if let Ok(mut m) = self.monitor.lock() {
            *m = Some(monitor);
        }
        Ok(feed)
    }

    pub fn settings(&self) -> AppSettings {
        self.settings.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Checks and saves new settings. The endpoint picks up a new port or key on restart.
    pub fn set_settings(&self, new: AppSettings) -> Result<AppSettings> {
        new.save(&self.store)?;
        if let Ok(mut s) = self.settings.lock() {
            *s = new.clone();
        }
        Ok(new)
    }

    pub fn info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            engines: parallax_engines::ENGINES
                .iter()
                .map(|e| match parallax_engines::availability(e) {
                    Ok(detail) => EngineStatus {
                        name: (*e).into(),
                        available: true,
                        detail,
                    },
                    Err(detail) => EngineStatus {
                        name: (*e).into(),
                        available: false,
                        detail,
                    },
                })
                .collect(),
            data_dir: self.data_dir.display().to_string(),
            settings: self.settings(),
        }
    }

    /// Loads a model ahead of the first message (the app does this for the default model at
    /// launch, off the main thread).
    pub async fn preload(&self, choice: &Choice) -> Result<()> {
        self.server
            .models
            .get(&format!("{}@{}", choice.model, choice.engine))
            .await?;
        Ok(())
    }

    pub fn conversations(&self, search: Option<&str>) -> Result<Vec<ConversationSummary>> {
        Ok(self.store.conversations(search.filter(|s| !s.trim().is_empty()))?)
    }

    pub fn conversation(&self, id: i64) -> Result<Conversation> {
        Ok(self.store.conversation(id)?)
    }

    /// A new chat with the default sampling settings.
    pub fn new_conversation(&self, title: Option<&str>) -> Result<Conversation> {
        let title = title.filter(|t| !t.trim().is_empty()).unwrap_or("New chat");
        Ok(self.store.create_conversation(title, &self.settings().chat_defaults)?)
    }

    pub fn rename_conversation(&self, id: i64, title: &str) -> Result<()> {
        if title.trim().is_empty() {
            return Err(AppError::new("empty_title", "Give the chat a name."));
        }
        Ok(self.store.rename_conversation(id, title.trim())?)
    }

    pub fn delete_conversation(&self, id: i64) -> Result<()> {
        self.stop(id);
        Ok(self.store.delete_conversation(id)?)
    }

    pub fn update_chat_settings(&self, id: i64, settings: &ChatSettings) -> Result<()> {
        if !(0.0..=2.0).contains(&settings.temperature) || !(0.0..=1.0).contains(&settings.top_p) {
            return Err(AppError::new(
                "invalid_setting",
                "Temperature must be 0–2 and top-p 0–1.",
            ));
        }
        Ok(self.store.update_chat_settings(id, settings)?)
    }

    pub fn delete_message(&self, id: i64) -> Result<()> {
        Ok(self.store.delete_message(id, false)?)
    }
}
