//! Remote engines in the app: the servers registered in `parallax.toml` (the same file
//! `parallax remote` edits), added and removed from the settings, each shown as an engine beside
//! GGUF and MLX whose models come from its `/v1/models`. Keys go to the OS keyring or stay in
//! a named environment variable; neither the store nor the UI ever holds one in full.

use std::time::Duration;

use parallax_remote::{ApiKey, KeySource, Registry, RemoteClient, RemoteError, RemoteSpec};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{AppError, Result};
use crate::models::{memory_fit, ModelOption};
use crate::App;

/// A registered remote as the settings list it, probed when asked.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct RemoteInfo {
    pub name: String,
    pub url: String,
    /// Where its key is: "none", "OS keyring", or "environment variable NAME".
    pub key: String,
    #[ts(type = "number")]
    pub timeout_secs: u64,
    /// One `/v1/models` round trip: the network and the server, no model work.
    pub latency_ms: Option<f64>,
    /// Its models, as the picker names them with this remote as the engine.
    pub models: Vec<String>,
    /// Why it could not be probed (unreachable, key refused, …).
    pub error: Option<AppError>,
    /// What the server publishes about itself (llama-server's `/metrics`, `/slots`), each with
    /// its source. Memory is never among them: "remote: not measured".
    pub published: Vec<PublishedFigure>,
}

/// A figure a remote server reported about itself, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct PublishedFigure {
    pub name: String,
    pub value: f64,
    pub source: String,
}

/// What the settings' form sends to register a remote.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct RemoteInput {
    pub name: String,
    pub url: String,
    /// A key to keep in the OS keyring.
    pub key: Option<String>,
    /// Or the environment variable to read the key from at each use.
    pub key_env: Option<String>,
    #[ts(type = "number | null")]
    pub timeout_secs: Option<u64>,
}

impl From<RemoteError> for AppError {
    fn from(e: RemoteError) -> Self {
        AppError::new(e.code(), e.to_string())
    }
}

fn key_label(spec: &RemoteSpec) -> String {
    match &spec.key {
        None => "none".into(),
        Some(KeySource::Keyring) => "OS keyring".into(),
        Some(KeySource::Env(var)) => format!("environment variable {var}"),
    }
}

/// `spec` with its latency and models, or why they could not be read.
pub(crate) fn probe(spec: &RemoteSpec, probe: bool) -> RemoteInfo {
    let mut info = RemoteInfo {
        name: spec.name.clone(),
        url: spec.url.clone(),
        key: key_label(spec),
        timeout_secs: spec.timeout().as_secs(),
        latency_ms: None,
        models: vec![],
        error: None,
        published: vec![],
    };
    if probe {
        match RemoteClient::new(spec).and_then(|c| c.probe()) {
            Ok(p) => {
                info.latency_ms = Some(p.latency.as_secs_f64() * 1000.0);
                info.models = p.models;
                info.published = p
                    .published
                    .into_iter()
                    .map(|p| PublishedFigure {
                        name: p.name,
                        value: p.value,
                        source: p.source,
                    })
                    .collect();
            }
            Err(e) => info.error = Some(e.into()),
        }
    }
    info
}

/// A remote model as a picker row: nothing local to size, so its memory is "remote: not measured".
pub(crate) fn option_of(remote: &RemoteInfo, model: &str) -> ModelOption {
    let mut fit = memory_fit(0, 0, 0, u64::MAX, None);
    fit.summary = format!(
        "remote: runs on {} ({}); memory not measured here",
        remote.name, remote.url
    );
    ModelOption {
        id: model.to_owned(),
        format: "remote".into(),
        quantization: String::new(),
        architecture: "unknown".into(),
        size_bytes: 0,
        context_length: 0,
        fetched: true,
        path: remote.url.clone(),
        imported: false,
        source: format!("Remote {}", remote.name),
        gguf_unsupported: Some("a remote model runs on its server".into()),
        mlx_unsupported: Some("a remote model runs on its server".into()),
        remote: Some(remote.name.clone()),
        fit,
    }
}

impl App {
    fn registry(&self) -> Result<Registry> {
        Ok(Registry::at(&self.remotes_file)?)
    }

    /// The registered remotes; with `probe`, each one's latency and models (in parallel, each
    /// bounded by the client's connect timeout).
    pub fn remotes(&self, probe_them: bool) -> Result<Vec<RemoteInfo>> {
        let specs = self.registry()?.list().to_vec();
        let infos: Vec<RemoteInfo> = std::thread::scope(|s| {
            let running: Vec<_> = specs.iter().map(|r| s.spawn(move || probe(r, probe_them))).collect();
            running.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        if probe_them {
            if let Ok(mut cache) = self.remote_cache.lock() {
                *cache = Some((std::time::Instant::now(), infos.clone()));
            }
        }
        Ok(infos)
    }

    /// The remotes as last probed, probed again when older than `max_age`.
    pub(crate) fn remotes_probed(&self, max_age: Duration) -> Vec<RemoteInfo> {
        if let Ok(cache) = self.remote_cache.lock() {
            if let Some((at, infos)) = cache.as_ref() {
                if at.elapsed() < max_age {
                    return infos.clone();
                }
            }
        }
        self.remotes(true).unwrap_or_default()
    }

    /// Registers a remote (the key to the OS keyring, or the variable's name only).
    pub fn add_remote(&self, input: RemoteInput) -> Result<Vec<RemoteInfo>> {
        let key = input
            .key
            .filter(|k| !k.trim().is_empty())
            .map(|k| ApiKey::new(k.trim()));
        let key_env = input.key_env.filter(|v| !v.trim().is_empty());
        let source = match (&key, key_env) {
            (Some(_), Some(_)) => {
                return Err(AppError::new(
                    "invalid_parameter",
                    "Give either a key to keep in the OS keyring or an environment variable, not both.",
                ))
            }
            (Some(_), None) => Some(KeySource::Keyring),
            (None, Some(var)) => Some(KeySource::Env(var.trim().to_owned())),
            (None, None) => None,
        };
        let spec = RemoteSpec {
            name: input.name.trim().to_owned(),
            url: input.url.trim().to_owned(),
            key: source,
            timeout_secs: input.timeout_secs,
        };
        self.registry()?.add(spec, key.as_ref(), parallax_engines::ENGINES)?;
        self.forget_probes();
        self.remotes(true)
    }

    /// Unregisters a remote and forgets its stored key.
    pub fn remove_remote(&self, name: &str) -> Result<Vec<RemoteInfo>> {
        self.registry()?.remove(name)?;
        self.forget_probes();
        self.remotes(false)
    }

    fn forget_probes(&self) {
        if let Ok(mut cache) = self.remote_cache.lock() {
            *cache = None;
        }
    }
}
