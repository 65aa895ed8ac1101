//! The app's settings, kept in the store: default engine and model, model folders, the
//! endpoint's port and key, the monitor interval, and the sampling defaults of new chats.

use std::collections::BTreeMap;

use parallax_monitor::ReloadPolicy;
use parallax_store::{ChatSettings, Store};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{AppError, Result};

const KEY: &str = "app";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct AppSettings {
    pub default_engine: String,
    pub default_model: String,
    /// Folders whose `.gguf` files and MLX model folders join the picker.
    pub model_folders: Vec<String>,
    pub endpoint_enabled: bool,
    pub endpoint_port: u16,
    /// Required as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    pub monitor_interval_ms: u64,
    /// Settings new chats start with.
    pub chat_defaults: ChatSettings,
    /// Imported GGUF files and MLX folders, by absolute path.
    pub imported_models: Vec<String>,
    /// Per engine: reload after N generations or X MB of RSS growth (the monitor shows each).
    pub reload_policies: BTreeMap<String, ReloadPolicy>,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            default_engine: "gguf".into(),
            default_model: "smollm2-135m-instruct-q4_1".into(),
            model_folders: vec![],
            endpoint_enabled: true,
            endpoint_port: parallax_server::DEFAULT_PORT,
            api_key: None,
            monitor_interval_ms: 500,
            chat_defaults: ChatSettings::default(),
            imported_models: vec![],
            reload_policies: BTreeMap::new(),
        }
    }
}

impl AppSettings {
    /// The saved settings, or the defaults (unknown or missing fields take their default).
    pub fn load(store: &Store) -> Result<AppSettings> {
        Ok(store
            .setting(KEY)?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default())
    }

    /// Checks and saves.
    pub fn save(&self, store: &Store) -> Result<()> {
        if !(250..=1000).contains(&self.monitor_interval_ms) {
            return Err(AppError::new(
                "invalid_setting",
                "The monitor interval must be between 250 and 1000 ms.",
            ));
        }
        if self.endpoint_port != 0 && self.endpoint_port < 1024 {
            return Err(AppError::new(
                "invalid_setting",
                "Pick an endpoint port of 1024 or above (ports below need administrator rights).",
            ));
        }
        if !parallax_engines::ENGINES.contains(&self.default_engine.as_str()) {
            return Err(AppError::new(
                "invalid_setting",
                format!(
                    "`{}` is not an engine; pick one of {}.",
                    self.default_engine,
                    parallax_engines::ENGINES.join(", ")
                ),
            ));
        }
        if let Some(engine) = self
            .reload_policies
            .keys()
            .find(|e| !parallax_engines::ENGINES.contains(&e.as_str()))
        {
            return Err(AppError::new(
                "invalid_setting",
                format!("A reload policy names `{engine}`, which is not an engine."),
            ));
        }
        if let Some(f) = self.model_folders.iter().find(|f| !std::path::Path::new(f).is_dir()) {
            return Err(AppError::new(
                "invalid_setting",
                format!("The model folder {f} does not exist: fix the path or take it off the list."),
            ));
        }
        let value = serde_json::to_value(self).map_err(|e| AppError::new("invalid_setting", e.to_string()))?;
        store.set_setting(KEY, &value)?;
        Ok(())
    }
}
