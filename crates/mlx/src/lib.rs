//! The MLX engine: models run through mlx-rs (Apple's MLX), on Metal with the `metal` feature,
//! CUDA with `cuda`, else the CPU. It loads MLX model directories (as mlx-community publishes
//! them) and GGUF files; architectures live one per file, chosen by one `match` on HF
//! `model_type`. It implements the same `Engine` trait as the GGUF engine and runs under the
//! same generation loop.

mod checkpoint;
pub mod config;
pub mod convert;
mod device;
mod gemma3;
mod llama;
mod nn;
mod requant;
mod tensors;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mlx_rs::Array;
use parallax_core::{ChatTemplate, Engine, Error, GgufHeader, LoadedModel, MemoryReport, ModelInfo, Result, Tokenizer};

pub use checkpoint::Checkpoint;
pub use device::{compute_device, ComputeDevice};

use crate::nn::{Attention, MResult};
use crate::tensors::Tensors;

pub const BACKEND: &str = "mlx";

/// One architecture's forward pass: `ids` (`[n]`, i32) at positions `kv_len..kv_len+n`;
/// returns the logits of the last position, `[1, vocab]`.
trait Architecture: Send {
    fn forward(&mut self, ids: &Array) -> MResult<Array>;
    fn attention(&mut self) -> Vec<&mut Attention>;
    fn attention_ref(&self) -> Vec<&Attention>;
}

/// A model loaded with MLX. Driven by one thread at a time (see `Engine`); MLX arrays are
/// reference-counted handles, so moving the engine to its worker thread is sound.
pub struct MlxEngine {
    model: Box<dyn Architecture>,
    info: ModelInfo,
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
        let header = GgufHeader::read(path)?;
        let arch = header.architecture().unwrap_or_default().to_owned();
        if !config::SUPPORTED.iter().any(|(_, g)| *g == arch) {
            return Err(Error::UnsupportedArchitecture(arch));
        }
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
    let device = compute_device();
    let Checkpoint {
        config,
        mut tensors,
        weight_format,
        weight_bytes,
        warnings,
    } = ckpt;
    if device == ComputeDevice::Cpu {
        checkpoint::widen_half_floats(&mut tensors, path)?;
    }
    let mut t = Tensors::new(tensors, path);
    let model: Box<dyn Architecture> = match config.model_type.as_str() {
        "llama" => Box::new(llama::Llama::load(&mut t, &config)?),
        "gemma3_text" => Box::new(gemma3::Gemma3::load(&mut t, &config)?),
        other => return Err(Error::UnsupportedArchitecture(other.into())),
    };
    let mut engine = MlxEngine {
        model,
        info: ModelInfo {
            id: id.to_owned(),
            path: path.to_path_buf(),
            architecture: config.model_type.clone(),
            context_length: config.max_position_embeddings,
            vocab_size: config.vocab_size.max(tokenizer.vocab_size()),
            weight_format: format!("{weight_format} on {device}"),
            weight_bytes,
            warnings,
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
    Ok(LoadedModel {
        engine: Box::new(engine),
        tokenizer: Arc::new(tokenizer),
        template: template.map(Arc::new),
        load_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

impl Engine for MlxEngine {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        if self.kv_len() + tokens.len() > self.info.context_length {
            return Err(Error::ContextLengthExceeded {
                prompt_tokens: self.kv_len() + tokens.len(),
                context_length: self.info.context_length,
            });
        }
        let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        let ids = Array::from_slice(&ids, &[ids.len() as i32]);
        let logits = self.model.forward(&ids).map_err(engine_err)?;
        nn::to_f32_vec(&logits).map_err(engine_err)
    }

    fn reset(&mut self) -> Result<()> {
        for a in self.model.attention() {
            a.cache.clear();
        }
        Ok(())
    }

    fn kv_len(&self) -> usize {
        self.model.attention_ref().first().map_or(0, |a| a.cache.len())
    }

    fn memory(&self) -> MemoryReport {
        let kv: u64 = self.model.attention_ref().iter().map(|a| a.cache.bytes()).sum();
        let allocator = device::allocator_memory();
        MemoryReport {
            weight_bytes: self.info.weight_bytes,
            kv_cache_bytes: kv,
            kv_tokens: self.kv_len(),
            allocator_active_bytes: allocator.map(|m| m.0),
            allocator_peak_bytes: allocator.map(|m| m.1),
            allocator_cache_bytes: allocator.map(|m| m.2),
        }
    }
}
