//! The GGUF engine: GGUF files run through candle's quantized kernels. Architectures live one
//! per file and are chosen by one `match` on `general.architecture`.

mod gemma3;
mod layers;
mod llama;
mod weights;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use parallax_core::{ChatTemplate, Engine, Error, GgufHeader, LoadedModel, MemoryReport, ModelInfo, Result, Tokenizer};

use crate::layers::{Attention, CResult, KvCache};
use crate::weights::Weights;

pub const BACKEND: &str = "gguf";
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "gemma3"];

/// One architecture's forward pass. `ids` is `(1, seq)` at positions `pos..pos+seq`; returns
/// the logits of the last position, `(1, vocab)`.
trait Architecture: Send {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> CResult<Tensor>;
    fn attention_layers(&mut self) -> Vec<&mut Attention>;
    fn caches(&self) -> Vec<&KvCache>;
}

fn check_heads(n_head: usize, n_kv_head: usize) -> CResult<()> {
    if n_head == 0 || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
        candle_core::bail!("head counts {n_head}/{n_kv_head} are inconsistent");
    }
    Ok(())
}

/// A GGUF model loaded with candle. Driven by one thread at a time (see `Engine`).
pub struct GgufEngine {
    model: Box<dyn Architecture>,
    info: ModelInfo,
    device: Device,
}

fn engine_err(header: &GgufHeader) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| header.invalid(e.to_string())
}

/// Loads a GGUF file: header validation first, then tokenizer, template and weights.
pub fn load(path: &Path, id: &str) -> Result<LoadedModel> {
    let start = Instant::now();
    let header = GgufHeader::read(path)?;
    let arch = header
        .architecture()
        .ok_or_else(|| header.invalid("no general.architecture"))?
        .to_owned();
    if !SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
        return Err(Error::UnsupportedArchitecture(arch));
    }
    let tokenizer = Tokenizer::from_gguf(&header)?;
    let template =
        ChatTemplate::from_gguf(&header, tokenizer.bos_token.as_deref(), tokenizer.eos_token.as_deref()).ok();
    let context_length = header
        .context_length()
        .ok_or_else(|| header.invalid("no context_length"))?;
    let device = Device::Cpu;
    let mut w = Weights::open(&header, device.clone()).map_err(engine_err(&header))?;
    let model: Box<dyn Architecture> = match arch.as_str() {
        "llama" => Box::new(llama::Llama::load(&mut w, context_length).map_err(engine_err(&header))?),
        "gemma3" => Box::new(gemma3::Gemma3::load(&mut w, context_length).map_err(engine_err(&header))?),
        other => return Err(Error::UnsupportedArchitecture(other.into())),
    };
    let info = ModelInfo {
        id: id.to_owned(),
        path: path.to_path_buf(),
        architecture: arch,
        context_length,
        vocab_size: tokenizer.vocab_size(),
        weight_format: format!("GGUF {}", header.dominant_type()),
        weight_bytes: header.weight_bytes(),
        warnings: vec![],
    };
    let engine = GgufEngine { model, info, device };
    Ok(LoadedModel {
        engine: Box::new(engine),
        tokenizer: Arc::new(tokenizer),
        template: template.map(Arc::new),
        load_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The tensor type holding most of the weight bytes, e.g. "Q4_1".
impl Engine for GgufEngine {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let pos = self.kv_len();
        let mut run = || -> CResult<Vec<f32>> {
            let ids = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
            let logits = self.model.forward(&ids, pos)?;
            layers::last_logits(&logits)
        };
        run().map_err(|e| Error::Engine(e.to_string()))
    }

    fn reset(&mut self) -> Result<()> {
        for layer in self.model.attention_layers() {
            layer.cache.reset();
        }
        Ok(())
    }

    /// Read from the cache itself (not a counter), so it can be used to verify that nothing
    /// was truncated.
    fn kv_len(&self) -> usize {
        self.model.caches().first().map_or(0, |c| c.len())
    }

    fn memory(&self) -> MemoryReport {
        MemoryReport {
            weight_bytes: self.info.weight_bytes,
            kv_cache_bytes: self.kv_bytes(),
            kv_tokens: self.kv_len(),
            ..Default::default()
        }
    }
}

impl GgufEngine {
    fn kv_bytes(&self) -> u64 {
        self.model.caches().iter().map(|c| c.bytes()).sum()
    }
}
