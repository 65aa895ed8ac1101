//! What the desktop app does, without Tauri, so it is tested without a window: chats stored
//! in SQLite and streamed from either engine, engine and model switching at any time, model
//! fit estimates, settings, and the embedded OpenAI endpoint and live monitor. The Tauri
//! shell (src-tauri) only forwards commands here.
//!
//! The chat and the endpoint share one `ModelManager`: a model loaded for the chat serves the
//! endpoint too, under one memory budget and one monitor.

mod bench;
pub mod bindings;
mod chat;
mod compare;
mod endpoint;
mod error;
mod import;
mod models;
mod remotes;
mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use parallax_server::{Loader, ModelManager, ServerConfig, ServerState};
use parallax_store::{ChatSettings, Conversation, ConversationSummary, Store};
use serde::Serialize;
use ts_rs::TS;

pub use bench::{
    bench_worker_main, export_file_name, BenchEvent, BenchReport, BenchRequest, EngineRow, BENCH_WORKER_ARG,
};
pub use chat::{ChatEvent, Choice};
pub use compare::{ColumnLive, ColumnResult, CompareEvent, CompareRequest, CompareResult};
pub use endpoint::EndpointStatus;
pub use error::{AppError, Result};
pub use import::reveal;
pub use models::{memory_fit, MemoryFit, ModelOption};
pub use remotes::{PublishedFigure, RemoteInfo, RemoteInput};
pub use settings::AppSettings;

/// An engine and whether it can run here.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct EngineStatus {
    pub name: String,
    pub available: bool,
    /// How it runs ("MLX on the CPU …"), or why it cannot.
    pub detail: String,
    /// A registered remote server (its models are listed with `remote` set to this name).
    pub remote: bool,
}

/// What the UI shows on launch.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub engines: Vec<EngineStatus>,
    pub data_dir: String,
    pub settings: AppSettings,
}

/// When `main` started (see [`mark_launch`]).
static LAUNCHED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Call first thing in `main`: launch-to-first-paint is measured from here.
pub fn mark_launch() {
    LAUNCHED.get_or_init(std::time::Instant::now);
}

pub struct App {
    pub(crate) store: Store,
    pub(crate) server: Arc<ServerState>,
    pub(crate) data_dir: PathBuf,
    settings: Mutex<AppSettings>,
    /// The stop signal of each conversation's reply in progress.
    pub(crate) running: Mutex<HashMap<i64, Arc<tokio::sync::Notify>>>,
    pub(crate) endpoint: Mutex<endpoint::Endpoint>,
    monitor: Mutex<Option<parallax_monitor::Monitor>>,
    /// The stop signal of the side-by-side comparison running now.
    pub(crate) compare_stop: Mutex<Option<Arc<tokio::sync::Notify>>>,
    pub(crate) last_comparison: Mutex<Option<CompareResult>>,
    /// The executable the benchmark starts as `bench-worker`.
    pub(crate) bench_worker: Mutex<PathBuf>,
    pub(crate) bench_cancel: Mutex<Option<Arc<std::sync::atomic::AtomicBool>>>,
    /// The `parallax.toml` whose `[[remote]]` tables are the remote engines.
    pub(crate) remotes_file: PathBuf,
    /// The remotes as last probed (latency, models), and when.
    pub(crate) remote_cache: Mutex<Option<(std::time::Instant, Vec<RemoteInfo>)>>,
}

/// How long a probe of the remotes (their latency and models) is reused.
const REMOTE_PROBE_AGE: std::time::Duration = std::time::Duration::from_secs(15);

impl App {
    /// Opens the app's data in `data_dir` (created if missing), with the remotes of Parallax's
    /// configuration folder (shared with `parallax remote`). Nothing is loaded yet.
    pub fn open(data_dir: &Path) -> Result<App> {
        Self::open_with_remotes(data_dir, &parallax_remote::registry::config_dir().join("parallax.toml"))
    }

    /// As [`App::open`], with the remotes of `remotes_file`.
    pub fn open_with_remotes(data_dir: &Path, remotes_file: &Path) -> Result<App> {
        let store = Store::open(&data_dir.join("parallax.sqlite"))?;
        let settings = AppSettings::load(&store)?;
        let loader: Loader = Arc::new(parallax_engines::load_model);
        let remotes = Arc::new(parallax_remote::RegisteredRemotes::at(remotes_file));
        let models = ModelManager::new(loader, parallax_engines::ENGINES.to_vec(), 16).with_remotes(remotes);
        let config = ServerConfig {
            api_key: settings.api_key.clone(),
            ..ServerConfig::default()
        };
        let app = App {
            store,
            server: ServerState::new(config, models),
            data_dir: data_dir.to_owned(),
            settings: Mutex::new(settings.clone()),
            running: Mutex::new(HashMap::new()),
            endpoint: Mutex::new(endpoint::Endpoint::default()),
            monitor: Mutex::new(None),
            compare_stop: Mutex::new(None),
            last_comparison: Mutex::new(None),
            bench_worker: Mutex::new(std::env::current_exe().unwrap_or_default()),
            bench_cancel: Mutex::new(None),
            remotes_file: remotes_file.to_owned(),
            remote_cache: Mutex::new(None),
        };
        app.apply(&settings);
        Ok(app)
    }

    /// What the settings change at run time: imported models and reload policies.
    fn apply(&self, settings: &AppSettings) {
        self.sync_imported(settings);
        for engine in parallax_engines::ENGINES {
            let policy = settings.reload_policies.get(*engine).copied().unwrap_or_default();
            self.server.models.set_reload_policy(engine, policy);
        }
    }

    /// The picker's rows: catalog models, then imported ones, those found in the model
    /// folders, the Hugging Face cache and LM Studio, with their memory fit and each engine's
    /// support.
    pub fn model_options(&self, context: Option<usize>) -> Result<Vec<ModelOption>> {
        let known = self.sync_imported(&self.settings());
        let mut rows = models::model_options(context, &known)?;
        for remote in self.remotes_probed(REMOTE_PROBE_AGE) {
            rows.extend(remote.models.iter().map(|m| remotes::option_of(&remote, m)));
        }
        Ok(rows)
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
        self.apply(&new);
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
                        remote: false,
                    },
                    Err(detail) => EngineStatus {
                        name: (*e).into(),
                        available: false,
                        detail,
                        remote: false,
                    },
                })
                .chain(self.remotes_probed(REMOTE_PROBE_AGE).into_iter().map(|r| EngineStatus {
                    available: r.error.is_none(),
                    detail: match (&r.error, r.latency_ms) {
                        (Some(e), _) => format!("remote {}: {}", r.url, e.message),
                        (None, Some(ms)) => {
                            format!("remote {} · network {ms:.0} ms · {} models", r.url, r.models.len())
                        }
                        (None, None) => format!("remote {}", r.url),
                    },
                    name: r.name,
                    remote: true,
                }))
                .collect(),
            data_dir: self.data_dir.display().to_string(),
            settings: self.settings(),
        }
    }

    /// Loads a model ahead of the first message (the app does this for the default model at
    /// launch, off the main thread).
    pub async fn preload(&self, choice: &Choice) -> Result<()> {
        let model = choice.model_ref();
        if self.server.models.remote_of(&model).is_some() {
            return Ok(()); // nothing to load here: its server holds it
        }
        self.server.models.get(&model).await?;
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
        let tools = chat::chat_tools(settings)?;
        if chat::chat_tool_choice(settings)? == parallax_core::tools::ToolChoice::Required && tools.is_empty() {
            return Err(AppError::new(
                "invalid_setting",
                "Tool choice `required` needs at least one tool.",
            ));
        }
        Ok(self.store.update_chat_settings(id, settings)?)
    }

    /// The UI reports its first paint: the time since launch, logged once for the launch
    /// benchmark (`scripts/bench_first_paint.sh`).
    pub fn first_paint(&self) -> f64 {
        let ms = LAUNCHED.get().map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
        eprintln!("parallax: first paint {ms:.0} ms after launch");
        ms
    }

    /// The endpoint's last requests, newest first (method, model, tokens, latency, status).
    pub fn endpoint_requests(&self) -> Vec<parallax_server::RequestRecord> {
        self.server.request_log.recent()
    }

    pub fn delete_message(&self, id: i64) -> Result<()> {
        Ok(self.store.delete_message(id, false)?)
    }
}
