//! `parallax monitor`: streams live monitor snapshots to the terminal: those a running
//! `parallax serve` publishes on `/monitor` (`--url`, with its engines, generations and
//! queue), or a fresh sampler's on a process (`--pid`; default this one).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use parallax_monitor::{Monitor, MonitorConfig, NoProbe, Snapshot};

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object per snapshot instead of a line of text.
    #[arg(long)]
    json: bool,
    /// Sampling interval, 250–1000 ms.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Stop after this many snapshots (default: until interrupted).
    #[arg(long)]
    count: Option<u64>,
    /// The process to watch (default: this one).
    #[arg(long, conflicts_with = "url")]
    pid: Option<u32>,
    /// Subscribe to a `parallax serve` (e.g. http://127.0.0.1:11480): its engines too.
    #[arg(long)]
    url: Option<String>,
    /// Bearer key for --url.
    #[arg(long, env = "PARALLAX_API_KEY")]
    api_key: Option<String>,
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn line(s: &Snapshot) -> String {
    let p = &s.process;
    let sys = &s.system;
    let mut out = format!(
        "pid {} rss {:.1} MB (peak {:.1}) cpu {:.0}% | system available {:.2}/{:.2} GB, swap {:.0} MB",
        p.pid,
        mb(p.rss_bytes),
        mb(p.peak_rss_bytes),
        p.cpu_percent,
        sys.available_bytes as f64 / 1e9,
        sys.total_bytes as f64 / 1e9,
        mb(sys.swap_used_bytes)
    );
    for e in &s.engines {
        out.push_str(&format!(
            " | {} weights {:.1} MB kv {:.1} MB",
            e.id,
            mb(e.weight_bytes),
            mb(e.kv_cache_bytes)
        ));
        if let (Some(active), Some(cache)) = (e.allocator_active_bytes, e.allocator_cache_bytes) {
            out.push_str(&format!(" (MLX active {:.1} MB cache {:.1} MB)", mb(active), mb(cache)));
        }
    }
    for g in &s.generations {
        out.push_str(&format!(
            " | {} {} tokens {:.1} tok/s",
            g.engine, g.tokens, g.tokens_per_second
        ));
    }
    if s.queue_depth > 0 {
        out.push_str(&format!(" | queue {}", s.queue_depth));
    }
    for ev in &s.events {
        out.push_str(&format!(" | {}", serde_json::to_string(ev).unwrap_or_default()));
    }
    out
}

/// Prints one snapshot; true once `--count` is reached.
fn print(a: &Args, snap: &Snapshot, printed: &mut u64) -> Result<bool> {
    if a.json {
        println!("{}", serde_json::to_string(snap)?);
    } else {
        println!("{}", line(snap));
    }
    std::io::Write::flush(&mut std::io::stdout())?;
    *printed += 1;
    Ok(a.count.is_some_and(|n| *printed >= n))
}

/// Follows a server's `/monitor` event stream.
fn follow(a: &Args, url: &str) -> Result<()> {
    use std::io::BufRead;
    let url = format!("{}/monitor", url.trim_end_matches('/').trim_end_matches("/v1"));
    let mut req = ureq::get(&url);
    if let Some(key) = &a.api_key {
        req = req.header("Authorization", format!("Bearer {key}"));
    }
    let resp = req.call().map_err(|e| anyhow!("{url}: {e}"))?;
    let mut printed = 0u64;
    for line in std::io::BufReader::new(resp.into_body().into_reader()).lines() {
        let line = line.map_err(|e| anyhow!("{url}: {e}"))?;
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let snap: Snapshot = serde_json::from_str(data).map_err(|e| anyhow!("{url}: not a monitor snapshot: {e}"))?;
        if print(a, &snap, &mut printed)? {
            return Ok(());
        }
    }
    Err(anyhow!("{url}: the server closed the stream"))
}

pub fn run(a: Args) -> Result<()> {
    if let Some(url) = a.url.clone() {
        return follow(&a, &url);
    }
    let config = MonitorConfig {
        interval: Duration::from_millis(a.interval_ms),
        pid: a.pid,
        ..MonitorConfig::default()
    };
    let monitor = Monitor::start(config, Arc::new(NoProbe)).map_err(|e| anyhow!(e))?;
    let mut rx = monitor.subscribe();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    let mut printed = 0u64;
    rt.block_on(async {
        loop {
            let snap = rx.borrow_and_update().clone();
            if print(&a, &snap, &mut printed)? {
                return Ok(());
            }
            rx.changed().await.map_err(|_| anyhow!("the monitor stopped"))?;
        }
    })
}
