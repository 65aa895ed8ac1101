//! The model configuration in Hugging Face / mlx-lm terms (`config.json`), read from an MLX
//! directory or derived from GGUF metadata, and written back by `parallax convert`.

use std::collections::BTreeMap;

use parallax_core::{Error, GgufHeader, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Architectures this engine runs, by HF `model_type` and by GGUF `general.architecture`.
pub const SUPPORTED: &[(&str, &str)] = &[("llama", "llama"), ("gemma3_text", "gemma3")];

/// Affine quantization of one tensor (MLX `quantize`): `bits` per weight, one f16/f32 scale and
/// bias per `group_size` weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantSpec {
    pub group_size: i32,
    pub bits: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// HF `model_type`: "llama" or "gemma3_text".
    pub model_type: String,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f32,
    pub vocab_size: usize,
    pub rope_theta: f32,
    /// Gemma 3: RoPE base of the sliding-window layers.
    pub rope_local_base_freq: f32,
    pub sliding_window: Option<usize>,
    pub sliding_window_pattern: usize,
    pub query_pre_attn_scalar: f32,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
}

fn invalid(path: &std::path::Path, reason: impl Into<String>) -> Error {
    Error::InvalidModel {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl ModelConfig {
    pub fn is_gemma3(&self) -> bool {
        self.model_type == "gemma3_text"
    }

    /// Parses an MLX directory's `config.json`; unknown `model_type`s are refused by name.
    pub fn from_hf_json(path: &std::path::Path, text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| invalid(path, format!("config.json: {e}")))?;
        let model_type = v["model_type"]
            .as_str()
            .ok_or_else(|| invalid(path, "config.json has no model_type"))?;
        if !SUPPORTED.iter().any(|(hf, _)| *hf == model_type) {
            return Err(Error::UnsupportedArchitecture(model_type.to_owned()));
        }
        let gemma = model_type == "gemma3_text";
        let int = |k: &str| v[k].as_u64().map(|x| x as usize);
        let need = |k: &str| int(k).ok_or_else(|| invalid(path, format!("config.json has no integer `{k}`")));
        let float = |k: &str, d: f64| v[k].as_f64().unwrap_or(d) as f32;
        let hidden = need("hidden_size")?;
        let heads = need("num_attention_heads")?;
        let cfg = ModelConfig {
            model_type: model_type.to_owned(),
            hidden_size: hidden,
            num_hidden_layers: need("num_hidden_layers")?,
            intermediate_size: need("intermediate_size")?,
            num_attention_heads: heads,
            num_key_value_heads: int("num_key_value_heads").unwrap_or(heads),
            head_dim: int("head_dim").unwrap_or(hidden.checked_div(heads).unwrap_or(0)),
            rms_norm_eps: float("rms_norm_eps", if gemma { 1e-6 } else { 1e-5 }),
            vocab_size: need("vocab_size")?,
            rope_theta: float("rope_theta", if gemma { 1_000_000.0 } else { 10_000.0 }),
            rope_local_base_freq: float("rope_local_base_freq", 10_000.0),
            sliding_window: if gemma {
                Some(int("sliding_window").unwrap_or(512))
            } else {
                None
            },
            sliding_window_pattern: int("sliding_window_pattern").unwrap_or(6),
            query_pre_attn_scalar: float("query_pre_attn_scalar", 256.0),
            max_position_embeddings: int("max_position_embeddings").unwrap_or(2048),
            tie_word_embeddings: v["tie_word_embeddings"].as_bool().unwrap_or(true),
            bos_token_id: v["bos_token_id"].as_u64().map(|x| x as u32),
            eos_token_id: v["eos_token_id"].as_u64().map(|x| x as u32),
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Derives the configuration from GGUF metadata (`<arch>.*` keys).
    pub fn from_gguf(header: &GgufHeader, has_output: bool) -> Result<Self> {
        let arch = header.architecture().unwrap_or_default().to_owned();
        let Some((model_type, _)) = SUPPORTED.iter().find(|(_, g)| *g == arch) else {
            return Err(Error::UnsupportedArchitecture(arch));
        };
        let gemma = arch == "gemma3";
        let key = |k: &str| format!("{arch}.{k}");
        let int = |k: &str| header.get_u64(&key(k)).map(|x| x as usize);
        let need = |k: &str| int(k).ok_or_else(|| header.invalid(format!("no {}", key(k))));
        let float = |k: &str, d: f32| {
            header
                .get(&key(k))
                .and_then(|v| v.as_f64())
                .map(|x| x as f32)
                .unwrap_or(d)
        };
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let vocab = header
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .map(|a| a.len())
            .ok_or_else(|| header.invalid("no tokenizer.ggml.tokens"))?;
        let cfg = ModelConfig {
            model_type: (*model_type).to_owned(),
            hidden_size: hidden,
            num_hidden_layers: need("block_count")?,
            intermediate_size: need("feed_forward_length")?,
            num_attention_heads: heads,
            num_key_value_heads: int("attention.head_count_kv").unwrap_or(heads),
            head_dim: int("attention.key_length").unwrap_or(hidden.checked_div(heads).unwrap_or(0)),
            rms_norm_eps: float("attention.layer_norm_rms_epsilon", if gemma { 1e-6 } else { 1e-5 }),
            vocab_size: vocab,
            rope_theta: float("rope.freq_base", if gemma { 1_000_000.0 } else { 10_000.0 }),
            rope_local_base_freq: float("rope.local_freq_base", 10_000.0),
            sliding_window: if gemma {
                Some(int("attention.sliding_window").unwrap_or(512))
            } else {
                None
            },
            sliding_window_pattern: 6,
            query_pre_attn_scalar: int("attention.key_length").unwrap_or(256) as f32,
            max_position_embeddings: need("context_length")?,
            tie_word_embeddings: !has_output,
            bos_token_id: header.get_u64("tokenizer.ggml.bos_token_id").map(|x| x as u32),
            eos_token_id: header.get_u64("tokenizer.ggml.eos_token_id").map(|x| x as u32),
        };
        cfg.validate(&header.path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &std::path::Path) -> Result<()> {
        let ok = self.hidden_size > 0
            && self.num_hidden_layers > 0
            && self.num_attention_heads > 0
            && self.num_key_value_heads > 0
            && self.num_attention_heads.is_multiple_of(self.num_key_value_heads)
            && self.head_dim > 0
            && self.head_dim.is_multiple_of(2)
            && self.vocab_size > 0
            && self.sliding_window_pattern > 0;
        if ok {
            Ok(())
        } else {
            Err(invalid(
                path,
                format!("inconsistent sizes in the configuration: {self:?}"),
            ))
        }
    }

    /// `config.json` as mlx-lm reads it, with the quantization of every quantized tensor:
    /// a default `{group_size, bits}` plus per-module entries where they differ.
    pub fn to_hf_json(&self, quant: &BTreeMap<String, QuantSpec>) -> Value {
        let mut v = json!({
            "model_type": self.model_type,
            "architectures": [if self.is_gemma3() { "Gemma3ForCausalLM" } else { "LlamaForCausalLM" }],
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "intermediate_size": self.intermediate_size,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "vocab_size": self.vocab_size,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
        });
        if self.is_gemma3() {
            v["rope_local_base_freq"] = json!(self.rope_local_base_freq);
            v["sliding_window"] = json!(self.sliding_window);
            v["sliding_window_pattern"] = json!(self.sliding_window_pattern);
            // transformers validates this field as an integer.
            let scalar = self.query_pre_attn_scalar;
            v["query_pre_attn_scalar"] = if scalar.fract() == 0.0 {
                json!(scalar as u64)
            } else {
                json!(scalar)
            };
        }
        if let Some(default) = most_common(quant.values()) {
            let mut q = json!({ "group_size": default.group_size, "bits": default.bits });
            for (module, spec) in quant.iter().filter(|(_, s)| **s != default) {
                q[module] = json!(spec);
            }
            v["quantization"] = q.clone();
            v["quantization_config"] = q;
        }
        v
    }
}

fn most_common<'a>(specs: impl Iterator<Item = &'a QuantSpec>) -> Option<QuantSpec> {
    let mut counts: Vec<(QuantSpec, usize)> = Vec::new();
    for s in specs {
        match counts.iter_mut().find(|(k, _)| k == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((*s, 1)),
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(s, _)| s)
}
