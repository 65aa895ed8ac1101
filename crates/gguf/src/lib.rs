//! The GGUF engine: GGUF files run through candle's quantized kernels. Every family is built
//! by one decoder (`model.rs`) from the core's `ModelDesc`.

// SIMD intrinsics, the disjoint writes of the matmul and attention workers, the mapped weight
// file and (CUDA builds) our kernels' launches: the only unsafe code in the engine.
#[allow(unsafe_code)]
pub mod attention;
mod cpu;
#[cfg(feature = "cuda")]
#[allow(unsafe_code)]
mod cuda;
#[allow(unsafe_code)]
pub mod device;
mod experts;
#[allow(unsafe_code)]
mod gated;
#[allow(unsafe_code)]
pub mod kernels;
mod layers;
#[allow(unsafe_code)]
mod mapped;
mod model;
pub mod synthetic;
mod weights;
pub mod write;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use parallax_core::{
    batch_positions, ChatTemplate, Engine, Error, GgufHeader, LoadedModel, MemoryReport, ModelDesc, ModelInfo, Result,
    SlotTokens, Slots, Tokenizer,
};

use crate::layers::{CResult, Segment};
use crate::model::Model;
use crate::weights::Weights;

pub const BACKEND: &str = "gguf";

/// Positions one forward pass takes at most (llama.cpp's default `n_ubatch`).
pub const UBATCH: usize = 512;

/// A GGUF model loaded with candle. Driven by one thread at a time (see `Engine`).
pub struct GgufEngine {
    model: Model,
    info: ModelInfo,
    device: Device,
    /// The slots, and the one single-sequence calls act on.
    slots: Slots,
}

fn engine_err(path: &Path) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::InvalidGguf {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The KV cache's element type. f16 is the default, as llama.cpp's; f32 doubles the cache's
/// memory and its reads per token, and is what the reference fixtures were made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvCacheType {
    F16,
    F32,
}

impl KvCacheType {
    /// `PARALLAX_KV_CACHE` (`f16` or `f32`), f16 when unset.
    pub fn from_env() -> Result<Self> {
        match std::env::var("PARALLAX_KV_CACHE").as_deref() {
            Err(_) | Ok("f16") => Ok(KvCacheType::F16),
            Ok("f32") => Ok(KvCacheType::F32),
            Ok(other) => Err(Error::InvalidParameter {
                param: "PARALLAX_KV_CACHE",
                reason: format!("`{other}` is not a KV cache type (f16 or f32)"),
            }),
        }
    }

    fn dtype(self) -> DType {
        match self {
            KvCacheType::F16 => DType::F16,
            KvCacheType::F32 => DType::F32,
        }
    }
}

/// Loads a GGUF file with the KV cache type of `PARALLAX_KV_CACHE`.
pub fn load(path: &Path, id: &str) -> Result<LoadedModel> {
    load_with_cache(path, id, KvCacheType::from_env()?)
}

/// Loads a GGUF file: header validation first, then tokenizer, template and weights.
pub fn load_with_cache(path: &Path, id: &str, kv: KvCacheType) -> Result<LoadedModel> {
    let start = Instant::now();
    let header = GgufHeader::read_model(path)?;
    let desc = ModelDesc::from_gguf(&header)?;
    desc.check_gguf_tensors(&header)?;
    let tokenizer = Tokenizer::from_gguf(&header)?;
    let template =
        ChatTemplate::from_gguf(&header, tokenizer.bos_token.as_deref(), tokenizer.eos_token.as_deref()).ok();
    let (device, device_label) = device::open(parallax_core::device::requested()?)?;
    let w = Weights::open(&header, device.clone()).map_err(engine_err(path))?;
    let info = ModelInfo {
        id: id.to_owned(),
        path: path.to_path_buf(),
        architecture: desc.family.name().to_owned(),
        context_length: desc.context_length,
        vocab_size: tokenizer.vocab_size(),
        weight_format: format!("GGUF {}", header.dominant_type()),
        weight_bytes: header.weight_bytes(),
        warnings: vec![],
        kv_bytes_per_token: desc.kv_bytes_per_token(kv.dtype().size_in_bytes()),
        device: device_label,
    };
    // The metadata (mostly the vocabulary: 25 MB for 262k tokens) is not needed past here.
    drop(header);
    let model = Model::load(&w, &desc, kv.dtype()).map_err(engine_err(path))?;
    parallax_core::heap::return_free_pages();
    let engine = GgufEngine {
        model,
        info,
        device,
        slots: Slots::default(),
    };
    Ok(LoadedModel::new(
        Box::new(engine),
        Arc::new(tokenizer),
        template.map(Arc::new),
        start.elapsed().as_secs_f64() * 1000.0,
    ))
}

impl Engine for GgufEngine {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// A long prompt goes through in batches of [`UBATCH`] positions (as llama.cpp's
    /// `n_ubatch`), so the activations and a sliding-window layer's cache stay bounded.
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        // At least one pass (an empty input gets the model's own error).
        let mut start = 0;
        loop {
            let end = (start + UBATCH).min(tokens.len());
            let rows = [SlotTokens {
                slot: self.slots.selected(),
                tokens: &tokens[start..end],
            }];
            let logits = self.run(&rows)?.pop().unwrap_or_default();
            if end == tokens.len() {
                return Ok(logits);
            }
            start = end;
        }
    }

    /// The rows' tokens in one pass: every projection and MLP over all of them at once.
    fn forward_batch(&mut self, rows: &[SlotTokens]) -> Result<Vec<Vec<f32>>> {
        let total: usize = rows.iter().map(|r| r.tokens.len()).sum();
        if total <= UBATCH {
            return self.run(rows);
        }
        // A long row goes on its own, in ubatches.
        let selected = self.slots.selected();
        let logits = rows
            .iter()
            .map(|r| {
                self.slots.select(r.slot)?;
                self.forward(r.tokens)
            })
            .collect();
        self.slots.select(selected)?;
        logits
    }

    fn set_slots(&mut self, n: usize) -> Result<usize> {
        self.model.set_slots(n);
        Ok(self.slots.resize(n))
    }

    fn select_slot(&mut self, slot: usize) -> Result<()> {
        self.slots.select(slot)
    }

    fn reset(&mut self) -> Result<()> {
        for layer in self.model.attention_layers() {
            if let Some(c) = layer.caches.get_mut(self.slots.selected()) {
                c.reset();
            }
        }
        Ok(())
    }

    /// Exact for any prefix whose next query still finds every key of its window: a
    /// sliding-window layer that dropped older keys refuses a prefix further back (the caller
    /// then starts from an empty cache).
    fn truncate(&mut self, len: usize) -> Result<()> {
        if !self.model.caches(self.slots.selected()).all(|c| c.can_keep(len)) {
            return Err(Error::Engine(format!(
                "the KV cache cannot go back to position {len}: a sliding-window layer no longer holds the keys it needs"
            )));
        }
        for layer in self.model.attention_layers() {
            if let Some(c) = layer.caches.get_mut(self.slots.selected()) {
                c.truncate(len);
            }
        }
        Ok(())
    }

    /// Read from the cache itself (not a counter), so it can be used to verify that nothing
    /// was truncated.
    fn kv_len(&self) -> usize {
        self.model.caches(self.slots.selected()).next().map_or(0, |c| c.len())
    }

    fn memory(&self) -> MemoryReport {
        MemoryReport {
            weight_bytes: self.info.weight_bytes,
            kv_cache_bytes: self.kv_bytes(),
            kv_tokens: self.kv_tokens(),
            ..Default::default()
        }
    }

    fn record_routing(&mut self, on: bool) -> bool {
        self.model.record_routing(on)
    }

    fn take_routing(&mut self) -> Option<parallax_core::RoutingLog> {
        self.model.routing.as_mut().map(parallax_core::RoutingLog::take)
    }
}

impl GgufEngine {
    fn kv_bytes(&self) -> u64 {
        self.model.all_caches().map(|c| c.bytes()).sum()
    }

    /// Positions held, over every slot.
    fn kv_tokens(&self) -> usize {
        let layers = self.model.caches(0).count().max(1);
        self.model.all_caches().map(|c| c.len()).sum::<usize>() / layers
    }

    /// One pass over rows of at most [`UBATCH`] tokens in all, each appended to its slot.
    fn run(&mut self, rows: &[SlotTokens]) -> Result<Vec<Vec<f32>>> {
        let positions = batch_positions(rows, self.info.context_length, |slot| {
            self.model.caches(slot).next().map(|c| c.len())
        })?;
        let segments: Vec<Segment> = rows
            .iter()
            .zip(positions)
            .map(|(r, pos)| Segment {
                slot: r.slot,
                pos,
                len: r.tokens.len(),
            })
            .collect();
        let ids: Vec<u32> = rows.iter().flat_map(|r| r.tokens.iter().copied()).collect();
        let mut pass = || -> CResult<Vec<Vec<f32>>> {
            let ids = Tensor::new(ids.as_slice(), &self.device)?.unsqueeze(0)?;
            let logits = self.model.forward(&ids, &segments)?;
            logits.to_dtype(DType::F32)?.to_vec2()
        };
        pass().map_err(|e| Error::Engine(e.to_string()))
    }
}
