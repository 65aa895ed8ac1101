//! Sentence embeddings as sentence-transformers computes them, on candle's BERT: tokenize
//! (truncated to the model's `max_seq_length`), encode, mean-pool over the tokens, and
//! L2-normalise when the model's pipeline (`modules.json`) ends in `Normalize`.
//!
//! A model is a sentence-transformers directory: `config.json`, `model.safetensors`,
//! `tokenizer.json`, `modules.json`, `sentence_bert_config.json`, `1_Pooling/config.json`.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use parallax_core::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

pub const BACKEND: &str = "candle-bert";

/// A loaded embedding model. `Send + Sync`: requests may share it.
pub struct Embedder {
    pub id: String,
    model: BertModel,
    tokenizer: tokenizers::Tokenizer,
    max_tokens: usize,
    normalize: bool,
    dim: usize,
    weight_bytes: u64,
    load_ms: f64,
}

/// The vectors for a batch of inputs, in order, and the tokens they took.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: usize,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

fn invalid(dir: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidModel {
        path: dir.to_path_buf(),
        reason: reason.into(),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T> {
    let text = std::fs::read_to_string(dir.join(name)).map_err(|e| invalid(dir, format!("{name}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| invalid(dir, format!("{name}: {e}")))
}

fn engine(e: impl std::fmt::Display) -> Error {
    Error::Engine(e.to_string())
}

/// Loads a sentence-transformers directory on the CPU.
pub fn load(dir: &Path, id: &str) -> Result<Embedder> {
    let start = Instant::now();
    if !dir.is_dir() {
        return Err(Error::ModelNotFound(dir.to_path_buf()));
    }
    let config: Config = read_json(dir, "config.json")?;
    let max_position: usize = read_json::<Value>(dir, "config.json")?["max_position_embeddings"]
        .as_u64()
        .map_or(512, |n| n as usize);
    let st: SentenceBertConfig = read_json(dir, "sentence_bert_config.json")?;
    let pooling: PoolingConfig = read_json(dir, "1_Pooling/config.json")?;
    if !pooling.pooling_mode_mean_tokens || pooling.pooling_mode_cls_token || pooling.pooling_mode_max_tokens {
        return Err(invalid(dir, "only mean pooling is supported (1_Pooling/config.json)"));
    }
    let modules: Value = read_json(dir, "modules.json")?;
    let normalize = modules
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["type"].as_str().is_some_and(|t| t.ends_with("Normalize")));

    let max_tokens = st.max_seq_length.unwrap_or(max_position).min(max_position);
    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| invalid(dir, format!("tokenizer.json: {e}")))?;
    // tokenizer.json may carry fixed padding and its own truncation; sentence-transformers
    // overrides both per call (no padding for one text, truncation at max_seq_length).
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        }))
        .map_err(|e| invalid(dir, format!("tokenizer.json: {e}")))?;

    let weights_path = dir.join("model.safetensors");
    let weights = std::fs::read(&weights_path).map_err(|e| invalid(dir, format!("model.safetensors: {e}")))?;
    let weight_bytes = weights.len() as u64;
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
        .map_err(|e| invalid(dir, format!("model.safetensors: {e}")))?;
    let model = BertModel::load(vb, &config).map_err(|e| invalid(dir, format!("model.safetensors: {e}")))?;
    Ok(Embedder {
        id: id.to_owned(),
        model,
        tokenizer,
        max_tokens,
        normalize,
        dim: config.hidden_size,
        weight_bytes,
        load_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

impl Embedder {
    /// The length of every vector.
    pub fn dimensions(&self) -> usize {
        self.dim
    }

    /// Inputs longer than this many tokens are truncated, as sentence-transformers does.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    /// One vector per input, in order.
    pub fn embed(&self, inputs: &[String]) -> Result<Embeddings> {
        let mut vectors = Vec::with_capacity(inputs.len());
        let mut prompt_tokens = 0;
        for text in inputs {
            let enc = self
                .tokenizer
                .encode(text.as_str(), true)
                .map_err(|e| Error::Tokenizer(e.to_string()))?;
            prompt_tokens += enc.get_ids().len();
            vectors.push(self.embed_ids(enc.get_ids())?);
        }
        Ok(Embeddings { vectors, prompt_tokens })
    }

    /// Token ids → pooled (and normalised) vector.
    fn embed_ids(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let n = ids.len();
        let input = Tensor::from_slice(ids, (1, n), &Device::Cpu).map_err(engine)?;
        let token_types = input.zeros_like().map_err(engine)?;
        let mask = input.ones_like().map_err(engine)?;
        let hidden = self.model.forward(&input, &token_types, Some(&mask)).map_err(engine)?;
        // Every token is real (no padding), so the masked mean is the plain mean.
        let pooled = hidden.mean(1).map_err(engine)?.squeeze(0).map_err(engine)?;
        let mut v: Vec<f32> = pooled.to_vec1().map_err(engine)?;
        if self.normalize {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(v)
    }
}
