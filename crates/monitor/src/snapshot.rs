//! What one sample holds.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct ProcessStats {
    pub pid: u32,
    pub rss_bytes: u64,
    /// High-water mark (VmHWM on Linux; elsewhere the largest RSS sampled).
    pub peak_rss_bytes: u64,
    /// File-backed resident pages (`RssFile` + `RssShmem`: mapped weights the OS can drop and
    /// read again); Linux only.
    pub rss_file_bytes: Option<u64>,
    /// Anonymous resident pages (`RssAnon`: copied weights, KV cache, scratch); Linux only.
    pub rss_anon_bytes: Option<u64>,
    /// Of one core: 200% is two cores busy.
    pub cpu_percent: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct SystemStats {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
}

/// A loaded engine's memory and slots, as its probe reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct EngineStats {
    pub id: String,
    pub weight_bytes: u64,
    pub kv_cache_bytes: u64,
    pub allocator_active_bytes: Option<u64>,
    pub allocator_peak_bytes: Option<u64>,
    pub allocator_cache_bytes: Option<u64>,
    /// Where it computes: "cpu", "cuda:0", "metal" (empty when not known).
    #[serde(default)]
    pub device: String,
    /// Generations it runs at once (continuous batching), of which `busy` run now.
    #[serde(default)]
    pub slots: usize,
    #[serde(default)]
    pub busy: usize,
    /// Requests waiting for a slot.
    #[serde(default)]
    pub waiting: usize,
}

/// A generation in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct GenerationStats {
    pub id: String,
    pub engine: String,
    pub tokens: usize,
    pub tokens_per_second: f64,
    pub ttft_ms: Option<f64>,
    /// Mean time between the last tokens.
    pub inter_token_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MonitorEvent {
    Load { id: String },
    Unload { id: String },
    Reload { id: String, reason: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Snapshot {
    /// Milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    pub process: ProcessStats,
    pub system: SystemStats,
    pub engines: Vec<EngineStats>,
    /// GPU memory in use and total, where a GPU is visible.
    pub gpu_used_bytes: Option<u64>,
    pub gpu_total_bytes: Option<u64>,
    pub generations: Vec<GenerationStats>,
    pub queue_depth: usize,
    /// Lifecycle events since the previous snapshot.
    pub events: Vec<MonitorEvent>,
}
