//! The live monitor: one sampler thread, one reused `sysinfo::System`, snapshots pushed to
//! subscribers through a `watch` channel (nobody polls on demand) and kept in a ring buffer
//! for charts. What the process cannot see itself (engines, generations, queue) comes from
//! a [`Probe`] its owner supplies.

pub mod gpu;
mod reload;
mod snapshot;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use reload::ReloadPolicy;
use serde::{Deserialize, Serialize};
pub use snapshot::{EngineStats, GenerationStats, MonitorEvent, ProcessStats, Snapshot, SystemStats};
use tokio::sync::watch;

/// The fastest and slowest sampling the monitor accepts.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
pub const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// What the owner of the engines knows: asked once per sample, on the sampler thread.
pub trait Probe: Send + Sync {
    fn engines(&self) -> Vec<EngineStats> {
        vec![]
    }
    fn generations(&self) -> Vec<GenerationStats> {
        vec![]
    }
    fn queue_depth(&self) -> usize {
        0
    }
    /// Lifecycle events since the last call.
    fn drain_events(&self) -> Vec<MonitorEvent> {
        vec![]
    }
}

/// A probe that knows nothing beyond the process and the system.
pub struct NoProbe;
impl Probe for NoProbe {}

#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub interval: Duration,
    /// How much history the ring keeps.
    pub history: Duration,
    /// The process to watch (default: this one).
    pub pid: Option<u32>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_millis(500),
            history: Duration::from_secs(10 * 60),
            pid: None,
        }
    }
}

pub struct Monitor {
    rx: watch::Receiver<Arc<Snapshot>>,
    history: Arc<Mutex<VecDeque<Arc<Snapshot>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// Starts the sampler. Errors when the interval is outside 250 ms–1 s or the system
    /// cannot be read.
    pub fn start(config: MonitorConfig, probe: Arc<dyn Probe>) -> Result<Monitor, String> {
        if config.interval < MIN_INTERVAL || config.interval > MAX_INTERVAL {
            return Err(format!(
                "the monitor interval must be 250–1000 ms, not {} ms",
                config.interval.as_millis()
            ));
        }
        let mut sampler = Sampler::new(config.pid)?;
        let first = Arc::new(sampler.sample(probe.as_ref()));
        let (tx, rx) = watch::channel(first.clone());
        let capacity = (config.history.as_millis() / config.interval.as_millis()).max(1) as usize;
        let history = Arc::new(Mutex::new(VecDeque::from([first])));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (history.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(config.interval);
                    let snap = Arc::new(sampler.sample(probe.as_ref()));
                    if let Ok(mut ring) = h.lock() {
                        if ring.len() == capacity {
                            ring.pop_front();
                        }
                        ring.push_back(snap.clone());
                    }
                    if tx.send(snap).is_err() && Arc::strong_count(&h) == 1 {
                        break;
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Monitor {
            rx,
            history,
            stop,
            thread: Some(thread),
        })
    }

    /// A receiver that sees each new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.rx.clone()
    }

    pub fn latest(&self) -> Arc<Snapshot> {
        self.rx.borrow().clone()
    }

    /// The kept history, oldest first.
    pub fn history(&self) -> Vec<Arc<Snapshot>> {
        self.feed().history()
    }

    /// A read-only handle for subscribers elsewhere (the server's `/monitor`, the app's
    /// events). It does not keep the sampler running: dropping the `Monitor` stops it.
    pub fn feed(&self) -> Feed {
        Feed {
            rx: self.rx.clone(),
            history: self.history.clone(),
        }
    }
}

/// What subscribers of a [`Monitor`] read: the live channel and the history ring.
#[derive(Clone)]
pub struct Feed {
    rx: watch::Receiver<Arc<Snapshot>>,
    history: Arc<Mutex<VecDeque<Arc<Snapshot>>>>,
}

impl Feed {
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.rx.clone()
    }

    /// The kept history, oldest first.
    pub fn history(&self) -> Vec<Arc<Snapshot>> {
        self.history
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Owns the one `sysinfo::System` every sample reuses.
struct Sampler {
    sys: sysinfo::System,
    pid: sysinfo::Pid,
    peak_rss: u64,
    /// Whether nvidia-smi listed a GPU when the sampler started.
    has_gpu: bool,
}

impl Sampler {
    fn new(pid: Option<u32>) -> Result<Self, String> {
        let pid = match pid {
            Some(p) => sysinfo::Pid::from_u32(p),
            None => sysinfo::get_current_pid().map_err(|e| e.to_string())?,
        };
        let mut sys = sysinfo::System::new().map_err(|e| e.to_string())?;
        sys.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
        if sys.process(pid).is_none() {
            return Err(format!("no process with pid {pid}"));
        }
        Ok(Sampler {
            sys,
            pid,
            peak_rss: 0,
            has_gpu: gpu::memory().is_some(),
        })
    }

    fn sample(&mut self, probe: &dyn Probe) -> Snapshot {
        // The device's view, summed over its GPUs; nvidia-smi is asked only where it answered once.
        let gpu = self.has_gpu.then(gpu::memory).flatten();
        self.sys.refresh_memory();
        self.sys
            .refresh_processes(sysinfo::ProcessesToUpdate::Some(&[self.pid]), true);
        let (rss, cpu) = self
            .sys
            .process(self.pid)
            .map_or((0, 0.0), |p| (p.memory(), p.cpu_usage()));
        self.peak_rss = self
            .peak_rss
            .max(rss)
            .max(high_water_mark(self.pid.as_u32()).unwrap_or(0));
        Snapshot {
            at_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            process: {
                let (rss_file_bytes, rss_anon_bytes) = rss_split(self.pid.as_u32());
                ProcessStats {
                    pid: self.pid.as_u32(),
                    rss_bytes: rss,
                    peak_rss_bytes: self.peak_rss,
                    rss_file_bytes,
                    rss_anon_bytes,
                    cpu_percent: cpu,
                }
            },
            system: SystemStats {
                total_bytes: self.sys.total_memory(),
                available_bytes: self.sys.available_memory(),
                swap_total_bytes: self.sys.total_swap(),
                swap_used_bytes: self.sys.used_swap(),
            },
            engines: probe.engines(),
            gpu_used_bytes: gpu.map(|g| g.0),
            gpu_total_bytes: gpu.map(|g| g.1),
            generations: probe.generations(),
            queue_depth: probe.queue_depth(),
            events: probe.drain_events(),
        }
    }
}

/// A process's resident set now and its high-water mark, and (Linux) the resident set split
/// into file-backed pages (`RssFile`: mapped weights the OS can drop and read again) and
/// anonymous ones (`RssAnon`: copies, KV cache, scratch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessMemory {
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_file_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_anon_bytes: Option<u64>,
}

/// Reads this process's memory now (a one-off read, for callers outside the sampler: the
/// bench worker between generations, the server's reload policy).
pub fn process_memory() -> ProcessMemory {
    let rss = sysinfo::get_current_pid()
        .ok()
        .and_then(|pid| {
            let mut sys = sysinfo::System::new().ok()?;
            sys.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
            sys.process(pid).map(|p| p.memory())
        })
        .unwrap_or(0);
    let pid = std::process::id();
    let (rss_file_bytes, rss_anon_bytes) = rss_split(pid);
    ProcessMemory {
        rss_bytes: rss,
        peak_rss_bytes: high_water_mark(pid).unwrap_or(rss).max(rss),
        rss_file_bytes,
        rss_anon_bytes,
    }
}

/// A `kB` line of `/proc/{pid}/status`, in bytes (Linux; `None` elsewhere).
fn status_bytes(status: &str, key: &str) -> Option<u64> {
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn proc_status(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

/// VmHWM of `pid`: its peak resident set, including peaks between samples (Linux; `None`
/// elsewhere).
pub fn high_water_mark(pid: u32) -> Option<u64> {
    status_bytes(&proc_status(pid)?, "VmHWM")
}

/// `pid`'s resident set split into file-backed (`RssFile` + `RssShmem`) and anonymous
/// (`RssAnon`) pages (Linux; `None` elsewhere).
pub fn rss_split(pid: u32) -> (Option<u64>, Option<u64>) {
    let Some(status) = proc_status(pid) else {
        return (None, None);
    };
    let file = status_bytes(&status, "RssFile").map(|f| f + status_bytes(&status, "RssShmem").unwrap_or(0));
    (file, status_bytes(&status, "RssAnon"))
}
