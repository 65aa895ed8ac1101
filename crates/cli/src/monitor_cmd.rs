//! `parallax monitor`: streams the live monitor's snapshots of a process (default: a fresh
//! sampler on this one; `--pid` for e.g. a running `parallax serve`) to the terminal.

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
    #[arg(long)]
    pid: Option<u32>,
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
    }
    out
}

pub fn run(a: Args) -> Result<()> {
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
            if a.json {
                println!("{}", serde_json::to_string(&*snap)?);
            } else {
                println!("{}", line(&snap));
            }
            printed += 1;
            if a.count.is_some_and(|n| printed >= n) {
                return Ok(());
            }
            rx.changed().await.map_err(|_| anyhow!("the monitor stopped"))?;
        }
    })
}
