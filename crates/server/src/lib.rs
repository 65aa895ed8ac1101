//! Parallax's OpenAI-compatible endpoint as a library: `router(state)` gives an axum `Router`
//! that the CLI (`parallax serve`) and the desktop app share, and tests drive without a socket.
//!
//! Safe by default: it is meant for 127.0.0.1; the `Host` header is checked against an
//! allowlist (DNS rebinding, cf. Ollama CVE-2024-28224), CORS answers only allowlisted origins
//! and never echoes a foreign one, an optional bearer key guards all but `/health`, bodies are size-limited.

mod anthropic;
mod embeddings;
mod error;
mod guard;
mod handlers;
mod metrics;
mod monitor_sse;
mod request;
pub mod request_log;
mod responses;
mod wire;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use parallax_host::{HostProbe, Loader, ModelManager, ModelRef};
pub use request_log::{RequestLog, RequestRecord};

/// The documented default port of `parallax serve`.
pub const DEFAULT_PORT: u16 = 11480;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address the server binds; also allowed as a `Host`.
    pub host: String,
    pub api_key: Option<String>,
    /// Allowed `Origin`s; `scheme://host:*` allows any port.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Requests per model that may run or wait at once; more get 429.
    pub queue_depth: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            api_key: None,
            allowed_origins: vec![
                "tauri://localhost".into(),
                "http://tauri.localhost".into(),
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
            ],
            max_body_bytes: 4 << 20,
            queue_depth: 16,
        }
    }
}

/// Shared by every request. Thread-safe.
pub struct ServerState {
    pub config: ServerConfig,
    pub models: Arc<ModelManager>,
    metrics: metrics::Metrics,
    requests: AtomicU64,
    /// The last requests answered (the app's endpoint panel shows them).
    pub request_log: RequestLog,
    monitor: std::sync::OnceLock<parallax_monitor::Feed>,
}

impl ServerState {
    pub fn new(config: ServerConfig, models: ModelManager) -> Arc<Self> {
        Arc::new(ServerState {
            config,
            models: Arc::new(models),
            metrics: metrics::Metrics::default(),
            requests: AtomicU64::new(0),
            request_log: RequestLog::default(),
            monitor: std::sync::OnceLock::new(),
        })
    }

    /// Serves this monitor's snapshots on `GET /monitor` (the first one attached stays).
    pub fn attach_monitor(&self, feed: parallax_monitor::Feed) {
        let _ = self.monitor.set(feed);
    }
}

/// Starts a monitor that probes `state`'s engines and serves it on `/monitor`. The caller
/// keeps the returned `Monitor`: dropping it stops the sampler.
pub fn start_monitor(
    state: &Arc<ServerState>,
    interval: std::time::Duration,
) -> Result<parallax_monitor::Monitor, String> {
    let config = parallax_monitor::MonitorConfig {
        interval,
        ..Default::default()
    };
    let monitor = parallax_monitor::Monitor::start(config, Arc::new(HostProbe::new(&state.models)))?;
    state.attach_monitor(monitor.feed());
    Ok(monitor)
}

pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/metrics", get(metrics::metrics))
        .route("/monitor", get(monitor_sse::monitor))
        .route("/v1/models", get(handlers::models))
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/v1/completions", post(handlers::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/responses", post(responses::responses))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count))
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_log::log))
        .with_state(state)
}

/// A server bound to a non-loopback address must have an API key.
pub fn check_config(config: &ServerConfig) -> Result<(), String> {
    let loopback = matches!(config.host.as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]");
    if !loopback && config.api_key.is_none() {
        return Err(format!("binding {} (not loopback) needs --api-key", config.host));
    }
    Ok(())
}

/// Serves `state` on `listener` until SIGINT or SIGTERM, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<ServerState>) -> std::io::Result<()> {
    serve_until(listener, state, shutdown_signal()).await
}

/// Serves `state` on `listener` until `stop` completes (the desktop app stops its endpoint
/// this way), then finishes in-flight requests.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let reaper = spawn_idle_reaper(state.clone());
    let served = axum::serve(listener, router(state)).with_graceful_shutdown(stop).await;
    reaper.abort();
    served
}

/// Unloads models idle past the TTL, checking a few times per TTL (at least once a second).
pub fn spawn_idle_reaper(state: Arc<ServerState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(ttl) = state.models.ttl() else { return };
        let period = (ttl / 4).clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(1));
        loop {
            tokio::time::sleep(period).await;
            for id in state.models.unload_idle().await {
                eprintln!("parallax serve: unloaded {id} (idle for {} s)", ttl.as_secs_f64());
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
