//! The MLX engine: models run through mlx-rs (Apple's MLX), on Metal with the `metal` feature,
//! CUDA with `cuda`, else the CPU. It loads MLX model directories (as mlx-community publishes
//! them) and GGUF files; every family is built by one decoder (`model.rs`) from the core's
//! `ModelDesc`. It implements the same `Engine` trait as the GGUF engine and runs under the
//! same generation loop.

mod checkpoint;
pub mod config;
pub mod convert;
mod device;
mod experts;
mod gguf_tensors;
mod model;
mod mxfp4;
mod nn;
mod requant;
mod tensors;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mlx_rs::Array;
use parallax_core::{
    batch_positions, ChatTemplate, Engine, Error, GgufHeader, LoadedModel, MemoryReport, ModelDesc, ModelInfo, Result,
    SlotTokens, Slots, Tokenizer,
};

pub use checkpoint::Checkpoint;
pub use device::{compute_device, ComputeDevice};

use crate::model::Model;
use crate::tensors::Tensors;

pub const BACKEND: &str = "mlx";

/// A model loaded with MLX. Driven by one thread at a time (see `Engine`); MLX arrays are
/// reference-counted handles, so moving the engine to its worker thread is sound.
pub struct MlxEngine {
    model: Model,
    info: ModelInfo,
    /// The slots, and the one single-sequence calls act on.
    slots: Slots,
}

fn engine_err(e: mlx_rs::error::Exception) -> Error {
    Error::Engine(format!("MLX: {}", e.what()))
}

/// Reads a model from an MLX directory or a GGUF file into a checkpoint, with its tokenizer
/// and chat template.
pub fn read(path: &Path) -> Result<(Checkpoint, Tokenizer, Option<ChatTemplate>)> {
    device::ensure_error_handler();
    if path.is_dir() {
        let ckpt = checkpoint::read_dir(path)?;
        let (tokenizer, template) = convert::read_dir_tokenizer(path)?;
        Ok((ckpt, tokenizer, template))
    } else {
        let header = GgufHeader::read_model(path)?;
        ModelDesc::from_gguf(&header)?;
        let tokenizer = Tokenizer::from_gguf(&header)?;
        let template =
            ChatTemplate::from_gguf(&header, tokenizer.bos_token.as_deref(), tokenizer.eos_token.as_deref()).ok();
        Ok((checkpoint::read_gguf(&header)?, tokenizer, template))
    }
}

/// Loads an MLX model directory or a GGUF file.
pub fn load(path: &Path, id: &str) -> Result<LoadedModel> {
    let start = Instant::now();
    let (ckpt, tokenizer, template) = read(path)?;
    let device = device::select(parallax_core::device::requested()?)?;
    let Checkpoint {
        desc,
        mut tensors,
        weight_format,
        weight_bytes,
        warnings,
    } = ckpt;
    if device == ComputeDevice::Cpu {
        checkpoint::widen_half_floats(&mut tensors, path)?;
    }
    let mut t = Tensors::new(tensors, path);
    let model = Model::load(&mut t, &desc)?;
    let mut engine = MlxEngine {
        model,
        slots: Slots::default(),
        info: ModelInfo {
            id: id.to_owned(),
            path: path.to_path_buf(),
            architecture: desc.family.name().to_owned(),
            context_length: desc.context_length,
            vocab_size: desc.vocab.max(tokenizer.vocab_size()),
            weight_format: format!("{weight_format} on {device}"),
            weight_bytes,
            warnings,
            // Keys and values in half precision, as mlx-lm's caches hold them.
            kv_bytes_per_token: desc.kv_bytes_per_token(2),
            device: device::label(device),
        },
    };
    if let Some(extra) = t.leftover().first() {
        return Err(t.invalid(format!(
            "unexpected tensor `{extra}` (the weights do not match the config)"
        )));
    }
    // One token through the model: materialises the weights and catches a mismatch now.
    engine.forward(&[0])?;
    engine.reset()?;
    parallax_core::heap::return_free_pages();
    Ok(LoadedModel::new(
        Box::new(engine),
        Arc::new(tokenizer),
        template.map(Arc::new),
        start.elapsed().as_secs_f64() * 1000.0,
    ))
}

impl MlxEngine {
    /// One pass over the rows, each appended to its slot's cache.
    fn run(&mut self, rows: &[SlotTokens]) -> Result<Vec<Vec<f32>>> {
        batch_positions(rows, self.info.context_length, |slot| {
            self.model.caches(slot).next().map(|c| c.len())
        })?;
        let segments: Vec<nn::Segment> = rows
            .iter()
            .map(|r| nn::Segment {
                slot: r.slot,
                len: r.tokens.len(),
            })
            .collect();
        let ids: Vec<i32> = rows.iter().flat_map(|r| r.tokens.iter().map(|&t| t as i32)).collect();
        let ids = Array::from_slice(&ids, &[ids.len() as i32]);
        let logits = self.model.forward(&ids, &segments).map_err(engine_err)?;
        let flat = nn::to_f32_vec(&logits).map_err(engine_err)?;
        let vocab = flat.len() / segments.len().max(1);
        Ok(flat.chunks(vocab.max(1)).map(<[f32]>::to_vec).collect())
    }
}

impl Engine for MlxEngine {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let rows = [SlotTokens {
            slot: self.slots.selected(),
            tokens,
        }];
        Ok(self.run(&rows)?.pop().unwrap_or_default())
    }

    /// Every row's projections and MLP in one pass over the weights, attention per row
    /// against its own slot's cache.
    fn forward_batch(&mut self, rows: &[SlotTokens]) -> Result<Vec<Vec<f32>>> {
        self.run(rows)
    }

    fn reset(&mut self) -> Result<()> {
        for c in self.model.caches_mut(self.slots.selected()) {
            c.clear();
        }
        Ok(())
    }

    /// Every layer keeps every position (sliding windows are a mask), so any prefix is exact.
    fn truncate(&mut self, len: usize) -> Result<()> {
        for c in self.model.caches_mut(self.slots.selected()) {
            c.truncate(len);
        }
        Ok(())
    }

    fn kv_len(&self) -> usize {
        self.model.caches(self.slots.selected()).next().map_or(0, |c| c.len())
    }

    fn set_slots(&mut self, n: usize) -> Result<usize> {
        self.model.set_slots(n);
        Ok(self.slots.resize(n))
    }

    fn select_slot(&mut self, slot: usize) -> Result<()> {
        self.slots.select(slot)
    }

    fn memory(&self) -> MemoryReport {
        let kv: u64 = self.model.all_caches().map(|c| c.bytes()).sum();
        let layers = self.model.caches(0).count().max(1);
        let kv_tokens = self.model.all_caches().map(|c| c.len()).sum::<usize>() / layers;
        let allocator = device::allocator_memory();
        MemoryReport {
            weight_bytes: self.info.weight_bytes,
            kv_cache_bytes: kv,
            kv_tokens,
            allocator_active_bytes: allocator.map(|m| m.0),
            allocator_peak_bytes: allocator.map(|m| m.1),
            allocator_cache_bytes: allocator.map(|m| m.2),
        }
    }

    fn record_routing(&mut self, on: bool) -> bool {
        self.model.record_routing(on)
    }

    fn take_routing(&mut self) -> Option<parallax_core::RoutingLog> {
        self.model.routing.as_mut().map(parallax_core::RoutingLog::take)
    }
}
