//! The results file (`results.json`, schema `parallax-bench/1`): every raw record, and the
//! statistics computed from them.

use std::collections::BTreeMap;

use parallax_core::{MemoryReport, ModelInfo};
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::memory::ProcessMemory;
use crate::record::{ContextRecord, LeakSample, ReloadRecord, RunRecord, Settings, WorkerEvent};
use crate::stats::{leak_analysis, LeakAnalysis, Summary};

pub const SCHEMA: &str = "parallax-bench/1";
const MB: f64 = 1e6;
/// Growth below this (MB per iteration) counts as no growth in the plateau test.
pub const LEAK_TOLERANCE_MB: f64 = 0.05;

/// Everything one engine's worker reported, as it reported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineRaw {
    pub engine: String,
    pub info: Option<ModelInfo>,
    pub load_ms: Option<f64>,
    pub memory_after_load: Option<ProcessMemory>,
    pub engine_memory_after_load: Option<MemoryReport>,
    pub runs: Vec<RunRecord>,
    pub leak: Vec<LeakSample>,
    pub context: Vec<ContextRecord>,
    pub refused: Vec<String>,
    pub memory_at_end: Option<ProcessMemory>,
    /// Set when the worker did not finish (crash, interrupt): what is here is what it sent.
    pub incomplete: Option<String>,
    /// Endpoint mode: the server's URL. Its memory is not observable from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Reloads done by `--reload-every`, in order.
    #[serde(default)]
    pub reloads: Vec<ReloadRecord>,
    /// Each time the run was resumed (`--resume`): the jobs an earlier worker had done.
    #[serde(default)]
    pub resumed_after_jobs: Vec<usize>,
    /// A mixture-of-experts model's routing, per prompt category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routing: Vec<crate::record::RoutingRecord>,
}

impl EngineRaw {
    pub fn new(engine: &str) -> Self {
        EngineRaw {
            engine: engine.to_owned(),
            ..Default::default()
        }
    }

    pub fn push(&mut self, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Loaded {
                info,
                load_ms,
                memory,
                engine_memory,
                ..
            } => {
                self.info = Some(*info);
                self.load_ms = Some(load_ms);
                self.memory_after_load = Some(memory);
                self.engine_memory_after_load = Some(engine_memory);
            }
            WorkerEvent::Run(r) => self.runs.push(*r),
            WorkerEvent::Leak(s) => self.leak.push(s),
            WorkerEvent::Context(c) => self.context.push(c),
            WorkerEvent::Refused { reason, .. } => self.refused.push(reason),
            WorkerEvent::Progress { .. } => {}
            WorkerEvent::Routing(r) => self.routing.push(r),
            WorkerEvent::Reloaded(r) => self.reloads.push(r),
            WorkerEvent::Resumed {
                skipped_jobs,
                restarted_leak,
            } => {
                self.resumed_after_jobs.push(skipped_jobs);
                if restarted_leak {
                    self.leak.clear();
                }
                // The earlier worker's end never came; this one's will.
                self.incomplete = None;
            }
            WorkerEvent::Finished { memory } => self.memory_at_end = Some(memory),
        }
    }
}

/// Statistics of one metric set (all measured runs, or one category).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummaries {
    pub runs: usize,
    pub decode_tps: Option<Summary>,
    pub ttft_ms: Option<Summary>,
    pub prompt_tps: Option<Summary>,
    pub completion_tokens: Option<Summary>,
}

impl MetricSummaries {
    fn of(runs: &[&RunRecord]) -> Self {
        let pick = |f: fn(&RunRecord) -> f64| Summary::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
        // A run with under two tokens has no decode phase to time.
        let decoding: Vec<f64> = runs
            .iter()
            .filter(|r| r.completion_tokens > 1)
            .map(|r| r.decode_tps)
            .collect();
        MetricSummaries {
            runs: runs.len(),
            decode_tps: Summary::of(&decoding),
            ttft_ms: pick(|r| r.ttft_ms),
            prompt_tps: pick(|r| r.prompt_tps),
            completion_tokens: pick(|r| r.completion_tokens as f64),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakResult {
    pub iterations: usize,
    /// Process RSS (MB) per iteration.
    pub rss: Option<LeakAnalysis>,
    /// MLX allocator active memory (MB) per iteration, where the engine has one.
    pub allocator: Option<LeakAnalysis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSummary {
    pub engine: String,
    pub all: MetricSummaries,
    pub streamed: MetricSummaries,
    pub not_streamed: MetricSummaries,
    pub per_category: BTreeMap<String, MetricSummaries>,
    pub load_ms: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub peak_allocator_bytes: Option<u64>,
    pub leak: Option<LeakResult>,
    /// Context lengths whose KV length matched.
    pub verified_contexts: Vec<usize>,
    /// Context lengths whose KV length did not match: truncated.
    pub truncated_contexts: Vec<usize>,
}

impl EngineSummary {
    pub fn of(raw: &EngineRaw) -> Self {
        let measured: Vec<&RunRecord> = raw.runs.iter().filter(|r| !r.warmup).collect();
        let by = |streamed: bool| -> Vec<&RunRecord> {
            measured.iter().copied().filter(|r| r.streamed == streamed).collect()
        };
        let mut per_category: BTreeMap<String, Vec<&RunRecord>> = BTreeMap::new();
        for r in &measured {
            per_category.entry(r.category.clone()).or_default().push(r);
        }
        let peaks = raw
            .runs
            .iter()
            .map(|r| r.memory_after.peak_rss_bytes)
            .chain(raw.leak.iter().map(|s| s.memory.peak_rss_bytes))
            .chain(raw.context.iter().map(|c| c.peak_rss_bytes))
            .chain(raw.memory_at_end.map(|m| m.peak_rss_bytes));
        let allocator_peaks = raw
            .runs
            .iter()
            .filter_map(|r| r.engine_memory_after.allocator_peak_bytes)
            .chain(raw.context.iter().filter_map(|c| c.allocator_peak_bytes));
        let leak = (!raw.leak.is_empty()).then(|| {
            let rss: Vec<f64> = raw.leak.iter().map(|s| s.memory.rss_bytes as f64 / MB).collect();
            let alloc: Vec<f64> = raw
                .leak
                .iter()
                .filter_map(|s| s.allocator_active_bytes)
                .map(|b| b as f64 / MB)
                .collect();
            LeakResult {
                iterations: raw.leak.len(),
                rss: leak_analysis(&rss, LEAK_TOLERANCE_MB),
                allocator: (alloc.len() == rss.len())
                    .then(|| leak_analysis(&alloc, LEAK_TOLERANCE_MB))
                    .flatten(),
            }
        });
        EngineSummary {
            engine: raw.engine.clone(),
            all: MetricSummaries::of(&measured),
            streamed: MetricSummaries::of(&by(true)),
            not_streamed: MetricSummaries::of(&by(false)),
            per_category: per_category
                .iter()
                .map(|(k, v)| (k.clone(), MetricSummaries::of(v)))
                .collect(),
            load_ms: raw.load_ms,
            peak_rss_bytes: peaks.max().filter(|_| raw.endpoint.is_none()),
            peak_allocator_bytes: allocator_peaks.max(),
            leak,
            verified_contexts: raw
                .context
                .iter()
                .filter(|c| !c.truncated)
                .map(|c| c.context_length)
                .collect(),
            truncated_contexts: raw
                .context
                .iter()
                .filter(|c| c.truncated)
                .map(|c| c.context_length)
                .collect(),
        }
    }
}

/// What the model file is, so readers can tell whether both engines ran the same weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFingerprint {
    pub id: String,
    pub path: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub quantization: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub started_at_unix: u64,
    pub fingerprint: Fingerprint,
    pub model: ModelFingerprint,
    pub settings: Settings,
    /// "isolated": each engine in its own fresh process, one after the other.
    pub mode: String,
    pub engines: Vec<EngineRaw>,
    pub summaries: Vec<EngineSummary>,
    /// A `--synthetic` run: the shape the random-weight model was written with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<String>,
    /// Weight bytes per decoded token and in all (GGUF models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_per_token: Option<parallax_core::figures::WeightsPerToken>,
    /// Memory read bandwidth measured after the workers finished (bytes/s), for the roofline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_bandwidth: Option<f64>,
}
