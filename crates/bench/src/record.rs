//! What a worker reports, one JSON object per line, and what the parent keeps.

use parallax_core::{FinishReason, MemoryReport, ModelInfo};
use serde::{Deserialize, Serialize};

use crate::memory::ProcessMemory;

/// The suites `parallax bench --suite` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    /// 1 repetition of 2 categories, short answers: a smoke run (CI).
    Quick,
    /// The study's design: 9 categories × reps, streamed and not, temperature 0.7.
    Standard,
    /// N sequential generations without reloading; memory after each.
    Leak,
    /// Filled prompts at each context length; the KV length verified.
    Context,
}

/// What the parent asks a worker to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub suites: Vec<Suite>,
    pub reps: usize,
    pub iterations: usize,
    pub contexts: Vec<usize>,
    pub temperature: f32,
    /// Tokens generated per context-suite run.
    pub context_generate: usize,
    /// `quick`'s answer length (its categories keep their prompts, not their lengths).
    pub quick_max_tokens: usize,
    /// Reload the model after this many generations (`--reload-every`); none by default.
    #[serde(default)]
    pub reload_every: Option<u64>,
    /// Both engines run the same GGUF file (Q4_0, Q4_1 or Q8_0): a pure runtime comparison.
    #[serde(default)]
    pub same_weights: bool,
    /// Each worker drops the model's files from the page cache before it loads (`--cold-load`),
    /// so load time includes reading them from disk.
    #[serde(default)]
    pub cold_load: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            suites: vec![Suite::Quick],
            reps: 3,
            iterations: 10,
            contexts: vec![4096, 8192, 32768],
            temperature: 0.7,
            context_generate: 128,
            quick_max_tokens: 48,
            reload_every: None,
            same_weights: false,
            cold_load: false,
        }
    }
}

/// One generation of the quick or standard suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub suite: Suite,
    pub category: String,
    pub prompt_index: usize,
    pub rep: usize,
    pub streamed: bool,
    /// Warm-up runs are kept in the raw data but left out of every statistic.
    pub warmup: bool,
    pub seed: u64,
    pub max_tokens: usize,
    pub prompt_tokens: usize,
    /// Counted from the output token ids.
    pub completion_tokens: usize,
    pub finish_reason: FinishReason,
    pub ttft_ms: f64,
    pub prompt_tps: f64,
    pub decode_tps: f64,
    pub total_ms: f64,
    /// Request → each generated token (the loop's clock), the raw data every figure comes from.
    pub token_times_ms: Vec<f64>,
    /// Streamed runs: request → each token event received by the consumer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub received_ms: Vec<f64>,
    pub kv_len: usize,
    pub memory_after: ProcessMemory,
    pub engine_memory_after: MemoryReport,
    /// Endpoint mode: where `completion_tokens` came from (engine runs count the output ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_count_source: Option<String>,
}

/// Memory after one leak-suite iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakSample {
    pub iteration: usize,
    pub completion_tokens: usize,
    pub memory: ProcessMemory,
    pub allocator_active_bytes: Option<u64>,
    pub kv_cache_bytes: u64,
}

/// One context-suite length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextRecord {
    /// Prompt plus generated tokens: what the KV cache must hold at the end.
    pub context_length: usize,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub finish_reason: FinishReason,
    pub kv_len: usize,
    /// Prompt + every generated token fed back (the last sampled token is not fed).
    pub expected_kv_len: usize,
    pub truncated: bool,
    pub ttft_ms: f64,
    pub prompt_tps: f64,
    pub decode_tps: f64,
    pub peak_rss_bytes: u64,
    pub kv_cache_bytes: u64,
    pub allocator_peak_bytes: Option<u64>,
}

/// A reload: after how many generations, why, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadRecord {
    /// Generations this worker had run when it reloaded.
    pub after_generations: u64,
    pub reason: String,
    pub load_ms: f64,
    /// Process memory just before the old model was dropped, and after the new one loaded.
    pub memory_before: ProcessMemory,
    pub memory_after: ProcessMemory,
}

/// One line of a worker's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkerEvent {
    Loaded {
        engine: String,
        info: Box<ModelInfo>,
        load_ms: f64,
        memory: ProcessMemory,
        engine_memory: MemoryReport,
    },
    Run(Box<RunRecord>),
    Leak(LeakSample),
    Context(ContextRecord),
    /// A part of a suite that could not run, and why.
    Refused {
        suite: Suite,
        reason: String,
    },
    /// The model was reloaded in place (`--reload-every`).
    Reloaded(ReloadRecord),
    /// A resumed run: the first `skipped_jobs` jobs were done by an earlier worker. A leak
    /// suite interrupted midway restarts from its first iteration (its series must come from
    /// one process), so its earlier samples are dropped.
    Resumed {
        skipped_jobs: usize,
        restarted_leak: bool,
    },
    /// A mixture-of-experts model's routing on one category's prompts (recorded after the
    /// timed runs, in generations of their own: recording costs time).
    Routing(RoutingRecord),
    /// Jobs done of the total this worker has.
    Progress {
        done: usize,
        total: usize,
    },
    Finished {
        memory: ProcessMemory,
    },
}

/// Tokens per expert per layer over one category's prompts and their generations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRecord {
    pub category: String,
    pub generations: usize,
    pub counts: parallax_core::RoutingCounts,
}
