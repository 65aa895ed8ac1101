//! What an engine worker is doing right now, readable from any thread at any time without
//! queueing behind a running generation (the monitor samples it several times a second).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::engine::MemoryReport;

/// A generation in progress, as seen between two of its tokens.
#[derive(Debug, Clone)]
pub struct LiveGeneration {
    /// Numbered from 1 in the order the worker took the requests in.
    pub id: u64,
    /// The engine slot (KV cache) it runs in.
    pub slot: usize,
    pub started: Instant,
    pub prompt_tokens: usize,
    pub tokens: usize,
    /// Request → first generated token.
    pub ttft_ms: Option<f64>,
    /// Request → latest generated token.
    pub last_token_ms: Option<f64>,
}

impl LiveGeneration {
    /// Decode speed so far: the study's definition (`figures::decode_tps`), taken at the
    /// latest token, so it ends where the finished generation's `decode_tps` does.
    pub fn tokens_per_second(&self) -> f64 {
        match (self.ttft_ms, self.last_token_ms) {
            (Some(first), Some(last)) => crate::figures::decode_tps(self.tokens, first, last),
            _ => 0.0,
        }
    }

    /// Mean time between generated tokens so far.
    pub fn inter_token_ms(&self) -> Option<f64> {
        match (self.ttft_ms, self.last_token_ms) {
            (Some(first), Some(last)) if self.tokens > 1 => Some((last - first) / (self.tokens - 1) as f64),
            _ => None,
        }
    }
}

/// The worker's state: memory as measured after load and after each generation, the
/// generations running now (one per busy slot), and how many requests wait for a slot.
#[derive(Debug, Clone, Default)]
pub struct LiveStatus {
    pub memory: MemoryReport,
    pub generations: Vec<LiveGeneration>,
    pub generations_done: u64,
    pub waiting: usize,
    /// Sequences the engine runs at once.
    pub slots: usize,
}

/// Shared between an [`crate::EngineHandle`] and its worker thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct Live(Arc<Mutex<LiveStatus>>);

impl Live {
    pub fn read(&self) -> LiveStatus {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Applies `f` under the lock. A poisoned lock (a panicking reader) skips the update:
    /// the status is advisory and the worker must go on.
    pub fn update(&self, f: impl FnOnce(&mut LiveStatus)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }
}
