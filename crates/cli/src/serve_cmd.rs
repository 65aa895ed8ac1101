//! `parallax serve`: the OpenAI-compatible endpoint, headless.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use parallax_monitor::ReloadPolicy;
use parallax_server::{check_config, Loader, ModelManager, ServerConfig, ServerState, DEFAULT_PORT};

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
    /// Serve this GGUF file or MLX model folder too, as `<file stem> (imported)` (repeatable),
    /// as the app's import does.
    #[arg(long = "import", value_name = "PATH")]
    imports: Vec<std::path::PathBuf>,
    /// Requests per model that may run or wait at once; more get 429.
    #[arg(long, default_value_t = 16)]
    queue_depth: usize,
    /// Generations each model runs at once, batched in one forward pass per step (each in
    /// its own KV cache slot); more wait in the queue.
    /// (Default: as many as the model's full KV caches fit in half the free memory, at most 4.)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    parallel: Option<u64>,
    /// Unload a model after it has been idle this many seconds (default: never).
    #[arg(long, value_name = "SECS")]
    ttl: Option<u64>,
    /// Keep loaded models under this many MB, unloading the least recently used first
    /// (default: the memory the system has available). Larger models get 507.
    #[arg(long, value_name = "MB")]
    memory_budget: Option<u64>,
    /// Reload a model after this many generations: `N` for every engine or `ENGINE=N`
    /// (repeatable). The reload happens when the model is next asked for and idle.
    #[arg(long, value_name = "[ENGINE=]N")]
    reload_every: Vec<String>,
    /// Reload a model once process RSS has grown this many MB since it loaded: `MB` or
    /// `ENGINE=MB` (repeatable).
    #[arg(long, value_name = "[ENGINE=]MB")]
    reload_rss_growth: Vec<String>,
    /// Live monitor sampling interval (250–1000 ms), served on GET /monitor.
    #[arg(long, default_value_t = 500)]
    monitor_interval_ms: u64,
}

/// `N` or `ENGINE=N` flags → the number per engine.
fn per_engine(flag: &str, values: &[String]) -> Result<Vec<(&'static str, u64)>> {
    let mut out = vec![];
    for v in values {
        let (engines, n) = match v.split_once('=') {
            Some((e, n)) => {
                let e = engines::ENGINES.iter().find(|x| **x == e).ok_or_else(|| {
                    anyhow!(
                        "{flag} {v}: unknown engine `{e}` (available: {})",
                        engines::ENGINES.join(", ")
                    )
                })?;
                (vec![*e], n)
            }
            None => (engines::ENGINES.to_vec(), v.as_str()),
        };
        let n: u64 = n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| anyhow!("{flag} {v}: expected a positive whole number"))?;
        out.extend(engines.into_iter().map(|e| (e, n)));
    }
    Ok(out)
}

fn reload_policies(a: &Args) -> Result<Vec<(&'static str, ReloadPolicy)>> {
    let mut policies: std::collections::BTreeMap<&'static str, ReloadPolicy> = Default::default();
    for (e, n) in per_engine("--reload-every", &a.reload_every)? {
        policies.entry(e).or_default().after_generations = Some(n);
    }
    for (e, mb) in per_engine("--reload-rss-growth", &a.reload_rss_growth)? {
        policies.entry(e).or_default().rss_growth_mb = Some(mb);
    }
    Ok(policies.into_iter().collect())
}

pub fn run(a: Args) -> Result<()> {
    let policies = reload_policies(&a)?;
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
    let remotes = Arc::new(parallax_remote::RegisteredRemotes::new());
    let mut models = ModelManager::new(loader, engines::ENGINES.to_vec(), a.queue_depth)
        .with_remotes(remotes)
        .with_parallel(a.parallel.map(|n| n as usize))
        .with_ttl(a.ttl.map(Duration::from_secs))
        .with_memory_budget(a.memory_budget.map(|mb| mb * 1_000_000));
    for (engine, policy) in policies {
        models = models.with_reload_policy(engine, policy);
    }
    let imported = a
        .imports
        .iter()
        .map(|p| parallax_core::local_models::entry_of(p).map_err(|e| anyhow!("--import: {e}")))
        .collect::<Result<Vec<_>>>()?;
    for e in &imported {
        eprintln!("parallax serve: serving {} as `{}`", e.file, e.id);
    }
    models.set_imported(imported);
    let state = ServerState::new(config, models);
    let _monitor = parallax_server::start_monitor(&state, Duration::from_millis(a.monitor_interval_ms))
        .map_err(|e| anyhow!("--monitor-interval-ms: {e}"))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        for m in &a.models {
            state
                .models
                .get(&parallax_server::ModelRef::parse(m))
                .await
                .map_err(|e| anyhow!("--model {m}: {e}"))?;
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
