//! The embedded OpenAI-compatible endpoint: the server crate on 127.0.0.1, sharing the app's
//! models, started at launch and stopped cleanly when the app exits.

use serde::Serialize;
use ts_rs::TS;

use crate::error::{AppError, Result};
use crate::App;

#[derive(Default)]
pub(crate) struct Endpoint {
    port: Option<u16>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct EndpointStatus {
    pub running: bool,
    /// The base URL clients use, e.g. http://127.0.0.1:11480/v1.
    pub url: Option<String>,
    pub port: Option<u16>,
    pub api_key_required: bool,
    pub allowed_origins: Vec<String>,
    /// Why it is not running, when it failed to start.
    pub error: Option<String>,
}

impl App {
    /// Binds 127.0.0.1 on the configured port (0 picks a free one) and serves. A port in use
    /// is reported in the status, not fatal: the app works without its endpoint.
    pub async fn start_endpoint(&self) -> EndpointStatus {
        let settings = self.settings();
        if !settings.endpoint_enabled {
            if let Ok(mut ep) = self.endpoint.lock() {
                ep.error = Some("The endpoint is off: start it here or in Settings.".into());
            }
            return self.endpoint_status();
        }
        if self.endpoint_status().running {
            return self.endpoint_status();
        }
        let port = settings.endpoint_port;
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => {
                let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let state = self.server.clone();
                let task = tokio::spawn(async move {
                    let stop = async {
                        let _ = rx.await;
                    };
                    if let Err(e) = parallax_server::serve_until(listener, state, stop).await {
                        eprintln!("parallax: the endpoint stopped: {e}");
                    }
                });
                if let Ok(mut ep) = self.endpoint.lock() {
                    *ep = Endpoint {
                        port: Some(bound),
                        stop: Some(tx),
                        task: Some(task),
                        error: None,
                    };
                }
            }
            Err(e) => {
                if let Ok(mut ep) = self.endpoint.lock() {
                    ep.error = Some(format!(
                        "Port {port} is not free ({e}): another server may be running there; pick another port in Settings."
                    ));
                }
            }
        }
        self.endpoint_status()
    }

    /// Stops serving and waits for in-flight requests to finish.
    pub async fn stop_endpoint(&self) -> Result<()> {
        let (stop, task) = match self.endpoint.lock() {
            Ok(mut ep) => (ep.stop.take(), ep.task.take()),
            Err(_) => return Err(AppError::new("endpoint_failed", "the endpoint's state is unreadable")),
        };
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Ok(mut ep) = self.endpoint.lock() {
            ep.port = None;
        }
        Ok(())
    }

    /// Turns the endpoint on or off now, and remembers the choice for the next launch.
    pub async fn set_endpoint_running(&self, on: bool) -> Result<EndpointStatus> {
        let mut settings = self.settings();
        settings.endpoint_enabled = on;
        self.set_settings(settings)?;
        if on {
            Ok(self.start_endpoint().await)
        } else {
            self.stop_endpoint().await?;
            Ok(self.start_endpoint().await)
        }
    }

    pub fn endpoint_status(&self) -> EndpointStatus {
        let (port, error) = self
            .endpoint
            .lock()
            .map(|ep| (ep.port, ep.error.clone()))
            .unwrap_or((None, None));
        EndpointStatus {
            running: port.is_some(),
            url: port.map(|p| format!("http://127.0.0.1:{p}/v1")),
            port,
            api_key_required: self.server.config.api_key.is_some(),
            allowed_origins: self.server.config.allowed_origins.clone(),
            error,
        }
    }
}
