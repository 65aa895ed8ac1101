//! `parallax serve`: the OpenAI-compatible endpoint, headless.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use parallax_server::{check_config, AppState, Loader, ModelManager, ServerConfig, DEFAULT_PORT};

use crate::engines;

#[derive(clap::Args)]
pub struct Args {
    /// Address to bind. Anything but loopback requires --api-key.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Require `Authorization: Bearer <KEY>` on /v1.
    #[arg(long, env = "PARALLAX_API_KEY")]
    api_key: Option<String>,
    /// Load this model at start (`<id>` or `<id>@<engine>`, repeatable); others load on first use.
    #[arg(long = "model")]
    models: Vec<String>,
    /// Requests per model that may run or wait at once; more get 429.
    #[arg(long, default_value_t = 16)]
    queue_depth: usize,
    /// Unload a model after it has been idle this many seconds (default: never).
    #[arg(long, value_name = "SECS")]
    ttl: Option<u64>,
    /// Keep loaded models under this many MB, unloading the least recently used first
    /// (default: the memory the system has available). Larger models get 507.
    #[arg(long, value_name = "MB")]
    memory_budget: Option<u64>,
}

pub fn run(a: Args) -> Result<()> {
    let config = ServerConfig {
        host: a.host.clone(),
        api_key: a.api_key,
        queue_depth: a.queue_depth,
        ..Default::default()
    };
    check_config(&config).map_err(|e| anyhow!(e))?;
    let loader: Loader = Arc::new(|engine: &str, model: &str| engines::load_model(engine, model));
    if a.ttl == Some(0) {
        return Err(anyhow!("--ttl must be at least 1 second"));
    }
    let models = ModelManager::new(loader, engines::ENGINES.to_vec(), a.queue_depth)
        .with_ttl(a.ttl.map(Duration::from_secs))
        .with_memory_budget(a.memory_budget.map(|mb| mb * 1_000_000));
    let state = AppState::new(config, models);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        for m in &a.models {
            state
                .models
                .get(m)
                .await
                .map_err(|e| anyhow!("--model {m}: {}", e.message))?;
        }
        let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
            .await
            .map_err(|e| anyhow!("cannot listen on {}:{}: {e}", a.host, a.port))?;
        let port = listener.local_addr()?.port();
        println!("listening on http://{}:{port}", a.host);
        std::io::stdout().flush()?;
        parallax_server::serve(listener, state).await?;
        Ok(())
    })
}
