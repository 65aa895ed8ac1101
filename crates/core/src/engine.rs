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
    /// Bytes one position takes in the KV cache, over every layer (keys and values).
    #[serde(default)]
    pub kv_bytes_per_token: u64,
    /// Where the engine computes: "cpu", "cuda:N" or "metal".
    #[serde(default)]
    pub device: String,
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
    /// Makes room for `n` sequences, each with its own KV cache ("slots" `0..n`), and returns
    /// how many the engine holds now. Slots beyond `n` are dropped; a cache costs memory only
    /// as it fills. Slot 0 is selected afterwards.
    fn set_slots(&mut self, _n: usize) -> Result<usize> {
        Ok(1)
    }
    /// Which slot `forward`, `reset`, `truncate` and `kv_len` act on (0 until changed).
    fn select_slot(&mut self, slot: usize) -> Result<()> {
        match slot {
            0 => Ok(()),
            _ => Err(crate::Error::Engine(format!("slot {slot} does not exist (one slot)"))),
        }
    }
    /// Several sequences in one step: each row's tokens are appended to its own slot's cache,
    /// and each row's last logits come back, in order. Slots in one call are distinct. An
    /// engine that batches runs the rows' projections together, so decode rows from different
    /// requests share each weight read; the default runs them one after the other. Leaves
    /// the selected slot unspecified.
    fn forward_batch(&mut self, rows: &[SlotTokens]) -> Result<Vec<Vec<f32>>> {
        rows.iter()
            .map(|r| {
                self.select_slot(r.slot)?;
                self.forward(r.tokens)
            })
            .collect()
    }
}

/// An engine's slots and the one single-sequence calls act on (what `set_slots` and
/// `select_slot` keep for an engine that holds a cache per slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    count: usize,
    selected: usize,
}

impl Default for Slots {
    fn default() -> Self {
        Slots { count: 1, selected: 0 }
    }
}

impl Slots {
    /// `n` slots (at least one), slot 0 selected; returns how many.
    pub fn resize(&mut self, n: usize) -> usize {
        *self = Slots {
            count: n.max(1),
            selected: 0,
        };
        self.count
    }

    pub fn select(&mut self, slot: usize) -> Result<()> {
        if slot >= self.count {
            return Err(crate::Error::Engine(format!(
                "slot {slot} does not exist ({} slots)",
                self.count
            )));
        }
        self.selected = slot;
        Ok(())
    }

    pub fn selected(&self) -> usize {
        self.selected
    }
}

/// Checks a batched step's rows before an engine runs them (each slot once, known, given
/// tokens, and room in the context for them) and returns each row's first position.
/// `slot_len`: the positions a slot's cache holds, `None` for a slot that does not exist.
pub fn batch_positions(
    rows: &[SlotTokens],
    context_length: usize,
    slot_len: impl Fn(usize) -> Option<usize>,
) -> Result<Vec<usize>> {
    let mut positions = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let pos = slot_len(r.slot).ok_or_else(|| crate::Error::Engine(format!("slot {} does not exist", r.slot)))?;
        if rows[..i].iter().any(|o| o.slot == r.slot) {
            return Err(crate::Error::Engine(format!(
                "slot {} appears twice in one batch",
                r.slot
            )));
        }
        if r.tokens.is_empty() {
            return Err(crate::Error::Engine("a batch row has no tokens".into()));
        }
        if pos + r.tokens.len() > context_length {
            return Err(crate::Error::ContextLengthExceeded {
                prompt_tokens: pos + r.tokens.len(),
                context_length,
            });
        }
        positions.push(pos);
    }
    Ok(positions)
}

/// One row of a batched step: tokens to append to a slot's cache.
#[derive(Debug, Clone, Copy)]
pub struct SlotTokens<'a> {
    pub slot: usize,
    pub tokens: &'a [u32],
}

/// An engine together with the tokenizer and chat template of its model.
pub struct LoadedModel {
    pub engine: Box<dyn Engine>,
    pub tokenizer: Arc<Tokenizer>,
    pub template: Option<Arc<ChatTemplate>>,
    pub load_ms: f64,
    /// For each of the engine's slots, the tokens its KV cache holds, reused by the next
    /// generation's prompt there.
    pub prompt_caches: Vec<PromptCache>,
    /// The engine's selected slot.
    slot: usize,
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
            prompt_caches: vec![PromptCache::default()],
            slot: 0,
            grammars: std::sync::OnceLock::new(),
        }
    }

    /// Gives the engine `n` slots (it may hold fewer); returns how many it holds.
    pub fn set_slots(&mut self, n: usize) -> Result<usize> {
        let held = self.engine.set_slots(n.max(1))?;
        self.prompt_caches = vec![PromptCache::default(); held];
        self.slot = 0;
        Ok(held)
    }

    /// Slots the engine holds.
    pub fn slots(&self) -> usize {
        self.prompt_caches.len()
    }

    /// Makes `slot` the one single-sequence calls act on.
    pub fn select_slot(&mut self, slot: usize) -> Result<()> {
        // Always passed on: a caller that drove `forward_batch` itself may have moved it.
        self.engine.select_slot(slot)?;
        self.slot = slot;
        Ok(())
    }

    /// The selected slot.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The selected slot's prompt cache.
    pub fn prompt_cache(&mut self) -> &mut PromptCache {
        &mut self.prompt_caches[self.slot]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_names_each_known_slot_once_with_tokens_that_fit() {
        let lens = [3usize, 0, 7];
        let len = |slot: usize| lens.get(slot).copied();
        let row = |slot, tokens: &'static [u32]| SlotTokens { slot, tokens };
        assert_eq!(
            batch_positions(&[row(2, &[1]), row(0, &[1, 2])], 10, len).expect("ok"),
            [7, 3]
        );
        let err = |rows: &[SlotTokens]| batch_positions(rows, 10, len).expect_err("refused").to_string();
        assert!(err(&[row(3, &[1])]).contains("slot 3 does not exist"));
        assert!(err(&[row(1, &[1]), row(1, &[2])]).contains("twice"));
        assert!(err(&[row(0, &[])]).contains("no tokens"));
        assert!(matches!(
            batch_positions(&[row(2, &[1, 2, 3, 4])], 10, len),
            Err(crate::Error::ContextLengthExceeded { prompt_tokens: 11, .. })
        ));
        let mut slots = Slots::default();
        assert_eq!(slots.resize(0), 1, "at least one slot");
        assert!(slots.select(1).is_err());
        assert_eq!(slots.resize(4), 4);
        slots.select(3).expect("select");
        assert_eq!(slots.selected(), 3);
    }
}
