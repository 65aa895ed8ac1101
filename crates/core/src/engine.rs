//! The one `Engine` trait every backend implements, and what a loaded model carries with it.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::chat::ChatTemplate;
use crate::error::Result;
use crate::prompt_cache::PromptCache;
use crate::tokenizer::Tokenizer;

/// What a model is, as the engine loaded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    pub path: PathBuf,
    pub architecture: String,
    pub context_length: usize,
    pub vocab_size: usize,
    /// Storage format of the weights, e.g. "GGUF Q4_1" (the dominant tensor type).
    pub weight_format: String,
    pub weight_bytes: u64,
    /// What the user should know about how the weights were loaded (e.g. requantized).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An engine's memory at one moment. Allocator figures are engine-specific (MLX) and optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    pub weight_bytes: u64,
    /// Bytes held by the KV cache now (allocated capacity, not just the used part).
    pub kv_cache_bytes: u64,
    /// Positions currently in the KV cache.
    pub kv_tokens: usize,
    pub allocator_active_bytes: Option<u64>,
    pub allocator_peak_bytes: Option<u64>,
    pub allocator_cache_bytes: Option<u64>,
}

/// A loaded model that can run forward passes. Object-safe; one per loaded model.
///
/// Contract: `forward` appends `tokens` to the sequence held in the KV cache (positions
/// `kv_len()..kv_len()+tokens.len()`) and returns the logits of the last one. `reset` empties
/// the cache (and may free it); `truncate` keeps its first positions exactly, or fails when it
/// cannot (an engine whose cache dropped older positions, as a sliding-window ring buffer does).
/// Not `Sync`: an engine is driven by one thread at a time (see `runtime`).
pub trait Engine: Send {
    /// Short backend name: "gguf" or "mlx".
    fn backend(&self) -> &'static str;
    fn info(&self) -> &ModelInfo;
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>>;
    fn reset(&mut self) -> Result<()>;
    /// Keeps positions `0..len` of the cache and forgets the rest (`len ≤ kv_len()`).
    fn truncate(&mut self, len: usize) -> Result<()>;
    fn kv_len(&self) -> usize;
    fn memory(&self) -> MemoryReport;
    /// Starts (`true`) or stops recording which experts each token goes to; returns whether
    /// the model has experts to record.
    fn record_routing(&mut self, _on: bool) -> bool {
        false
    }
    /// The routing recorded since recording started or was last taken (empty afterwards).
    fn take_routing(&mut self) -> Option<crate::routing::RoutingLog> {
        None
    }
}

/// An engine together with the tokenizer and chat template of its model.
pub struct LoadedModel {
    pub engine: Box<dyn Engine>,
    pub tokenizer: Arc<Tokenizer>,
    pub template: Option<Arc<ChatTemplate>>,
    pub load_ms: f64,
    /// The tokens `engine`'s KV cache holds, reused by the next generation's prompt.
    pub prompt_cache: PromptCache,
    /// The vocabulary compiled for constrained decoding, built by the first request that asks.
    pub grammars: std::sync::OnceLock<Arc<crate::structured::Grammars>>,
}

impl LoadedModel {
    pub fn new(
        engine: Box<dyn Engine>,
        tokenizer: Arc<Tokenizer>,
        template: Option<Arc<ChatTemplate>>,
        load_ms: f64,
    ) -> Self {
        LoadedModel {
            engine,
            tokenizer,
            template,
            load_ms,
            prompt_cache: PromptCache::default(),
            grammars: std::sync::OnceLock::new(),
        }
    }

    /// The model's grammar compiler, built on first use.
    pub fn grammars(&self) -> crate::Result<Arc<crate::structured::Grammars>> {
        if let Some(g) = self.grammars.get() {
            return Ok(g.clone());
        }
        let built = Arc::new(crate::structured::Grammars::new(
            self.tokenizer.clone(),
            self.engine.info().vocab_size,
        )?);
        Ok(self.grammars.get_or_init(|| built).clone())
    }
}
