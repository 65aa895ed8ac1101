//! The monitor's view into the host: each loaded engine's memory, the generations running
//! now (one per busy slot), the queue, and load/unload/reload events. Read on the monitor's sampler thread; it
//! never waits for a load or a generation (engines report through their live status).

use std::sync::{Arc, Mutex, Weak};

use parallax_core::{EngineHandle, LiveStatus};
use parallax_monitor::{EngineStats, GenerationStats, MonitorEvent, Probe};

use crate::manager::{Loaded, ModelManager, Runner};

/// Lifecycle events waiting for the next snapshot.
#[derive(Default)]
pub struct EventLog(Mutex<Vec<MonitorEvent>>);

impl EventLog {
    pub fn push(&self, ev: MonitorEvent) {
        if let Ok(mut v) = self.0.lock() {
            // Bounded: with no monitor draining it, keep only the recent past.
            if v.len() >= 1024 {
                v.remove(0);
            }
            v.push(ev);
        }
    }

    fn drain(&self) -> Vec<MonitorEvent> {
        self.0.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }
}

/// Probes a [`ModelManager`]. Holds it weakly: the manager's owner serves the monitor's feed,
/// and a strong reference would keep both alive forever.
pub struct HostProbe {
    models: Weak<ModelManager>,
}

impl HostProbe {
    pub fn new(models: &Arc<ModelManager>) -> Self {
        HostProbe {
            models: Arc::downgrade(models),
        }
    }

    fn with_models<T: Default>(&self, f: impl FnOnce(&ModelManager) -> T) -> T {
        self.models.upgrade().map(|m| f(&m)).unwrap_or_default()
    }
}

/// One engine's figures: its live status, and where it computes.
pub fn engine_stats(id: &str, handle: &EngineHandle) -> EngineStats {
    let live = handle.live();
    EngineStats {
        id: id.to_owned(),
        weight_bytes: live.memory.weight_bytes,
        kv_cache_bytes: live.memory.kv_cache_bytes,
        allocator_active_bytes: live.memory.allocator_active_bytes,
        allocator_peak_bytes: live.memory.allocator_peak_bytes,
        allocator_cache_bytes: live.memory.allocator_cache_bytes,
        slots: live.slots,
        busy: live.generations.len(),
        waiting: live.waiting,
        device: handle.info().device.clone(),
    }
}

/// The running generations of one engine, one per busy slot.
pub fn generation_stats(id: &str, live: &LiveStatus) -> Vec<GenerationStats> {
    live.generations
        .iter()
        .map(|g| GenerationStats {
            id: format!("{id}#{}", g.id),
            engine: id.to_owned(),
            tokens: g.tokens,
            tokens_per_second: g.tokens_per_second(),
            ttft_ms: g.ttft_ms,
            inter_token_ms: g.inter_token_ms(),
        })
        .collect()
}

fn chat_live(slot: &Loaded) -> Option<LiveStatus> {
    match &slot.runner {
        Runner::Chat(h) => Some(h.live()),
        Runner::Embed(_) => None,
    }
}

impl Probe for HostProbe {
    fn engines(&self) -> Vec<EngineStats> {
        self.with_models(|m| m.visible())
            .iter()
            .map(|s| match &s.runner {
                Runner::Chat(h) => engine_stats(&s.id, h),
                Runner::Embed(_) => EngineStats {
                    id: s.id.clone(),
                    weight_bytes: s.bytes,
                    ..EngineStats::default()
                },
            })
            .collect()
    }

    fn generations(&self) -> Vec<GenerationStats> {
        self.with_models(|m| m.visible())
            .iter()
            .flat_map(|s| chat_live(s).map(|l| generation_stats(&s.id, &l)).unwrap_or_default())
            .collect()
    }

    fn queue_depth(&self) -> usize {
        self.with_models(|m| m.visible()).iter().map(|s| s.queued()).sum()
    }

    fn drain_events(&self) -> Vec<MonitorEvent> {
        self.with_models(|m| m.events.drain())
    }
}
