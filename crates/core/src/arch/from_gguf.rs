//! The description from a GGUF header (llama.cpp's `load_hparams`, for the families we run).

use super::{Family, LayerDesc, ModelDesc, MoeDesc, QueryTemperature, RopeScaling};
use crate::error::{Error, Result};
use crate::gguf_meta::{GgufHeader, MetaValue};

/// Llama 4: llama.cpp fixes the chunk and the query temperature's floor at 8192 positions
/// and its scale at 0.1, whatever the file says (a `sliding_window` of 0 turns chunking off).
const LLAMA4_CHUNK: usize = 8192;
const LLAMA4_TEMPERATURE: QueryTemperature = QueryTemperature {
    floor: 8192,
    scale: 0.1,
};
/// llama.cpp runs Llama 4's Q/K norm on every model but the 128-expert one (Maverick).
const LLAMA4_NO_QK_NORM_EXPERTS: usize = 128;

/// Gemma 3's local (sliding-window) layers' RoPE base where the file states none.
const GEMMA3_LOCAL_ROPE_BASE: f32 = 10_000.0;

impl ModelDesc {
    pub fn from_gguf(header: &GgufHeader) -> Result<Self> {
        let arch = header
            .architecture()
            .ok_or_else(|| header.invalid("no general.architecture"))?
            .to_owned();
        let experts = header.get_u64(&format!("{arch}.expert_count")).unwrap_or(0) as usize;
        let family =
            Family::from_gguf_arch(&arch, experts > 0).ok_or_else(|| Error::UnsupportedArchitecture(arch.clone()))?;
        let spec = family.spec();
        let key = |k: &str| format!("{arch}.{k}");
        let int = |k: &str| header.get_u64(&key(k)).map(|v| v as usize);
        let need = |k: &str| int(k).ok_or_else(|| header.invalid(format!("metadata key `{}` is missing", key(k))));
        let float = |k: &str| header.get_f64(&key(k)).map(|v| v as f32);

        let hidden = need("embedding_length")?;
        let n_layers = need("block_count")?;
        let n_head = per_layer(header, &key("attention.head_count"), n_layers)?
            .ok_or_else(|| header.invalid(format!("metadata key `{}` is missing", key("attention.head_count"))))?;
        let n_kv_head = per_layer(header, &key("attention.head_count_kv"), n_layers)?.unwrap_or_else(|| n_head.clone());
        let head_dim = int("attention.key_length").unwrap_or(hidden.checked_div(n_head[0]).unwrap_or(0));
        let rope_base = float("rope.freq_base").unwrap_or(spec.default_rope_base);
        let local_base = (family == Family::Gemma3).then(|| {
            float("rope.freq_base_swa")
                .or_else(|| float("rope.local_freq_base"))
                .unwrap_or(GEMMA3_LOCAL_ROPE_BASE)
        });
        let window = match family {
            Family::Gemma2 => Some(int("attention.sliding_window").unwrap_or(GEMMA2_WINDOW)),
            _ => int("attention.sliding_window"),
        }
        .filter(|&w| w > 0);
        let layers = (0..n_layers)
            .map(|i| {
                let sliding_window = Self::sliding_window_of(spec, i, window);
                LayerDesc::new(n_head[i], n_kv_head[i], sliding_window, rope_base, local_base)
            })
            .collect();
        let vocab = header
            .get("tokenizer.ggml.tokens")
            .and_then(MetaValue::as_array)
            .map(<[MetaValue]>::len)
            .or_else(|| int("vocab_size"))
            .or_else(|| tensor_dim(header, "token_embd.weight", 1))
            .ok_or_else(|| header.invalid("no vocabulary size (tokenizer.ggml.tokens)"))?;
        let has = |name: &str| header.tensors.iter().any(|t| t.name == name);
        let intermediate = need("feed_forward_length")?;
        let moe = match (spec.moe, experts) {
            (None, 0) => None,
            (None, n) => {
                return Err(header.invalid(format!(
                    "`{}` is {n}, but llama.cpp runs `{arch}` without experts",
                    key("expert_count")
                )))
            }
            (Some(_), _) => Some(MoeDesc {
                experts,
                experts_used: need("expert_used_count")?,
                expert_ff: int("expert_feed_forward_length").unwrap_or(intermediate),
                norm_topk: family != Family::Llama4,
            }),
        };
        let llama4 = family == Family::Llama4;
        let chunk = llama4
            .then_some(LLAMA4_CHUNK)
            .filter(|_| int("attention.sliding_window") != Some(0));
        let experts_every = match spec.moe.and_then(|m| m.step_key) {
            Some(k) => need(k)?,
            None => 1,
        };
        let desc = ModelDesc {
            family,
            hidden,
            intermediate,
            vocab,
            context_length: need("context_length")?,
            head_dim,
            layers,
            norm_eps: float("attention.layer_norm_rms_epsilon").unwrap_or(spec.default_eps),
            rope_dims: int("rope.dimension_count").unwrap_or(head_dim),
            rope_scaling: rope_scaling(header, &arch)?,
            attn_scale: gemma_query_scalar(family, n_layers, hidden, n_head[0])
                .unwrap_or(head_dim as f32)
                .powf(-0.5),
            attn_softcap: softcap(float("attn_logit_softcapping"), family, GEMMA2_ATTN_SOFTCAP),
            final_softcap: softcap(float("final_logit_softcapping"), family, GEMMA2_FINAL_SOFTCAP),
            qkv_bias: has("blk.0.attn_q.bias") || has("blk.0.attn_qkv.bias"),
            tied_embeddings: !has("output.weight"),
            rope_local_base: local_base,
            query_pre_attn_scalar: spec
                .sandwich_norms
                .then(|| gemma_query_scalar(family, n_layers, hidden, n_head[0]).unwrap_or(head_dim as f32)),
            bos_token_id: header.get_u64("tokenizer.ggml.bos_token_id").map(|v| v as u32),
            eos_token_id: header.get_u64("tokenizer.ggml.eos_token_id").map(|v| v as u32),
            moe,
            qk_unit_norm: llama4 && experts != LLAMA4_NO_QK_NORM_EXPERTS,
            query_temperature: chunk.and(Some(LLAMA4_TEMPERATURE)),
        };
        let mut desc = desc;
        desc.apply_layer_pattern(chunk, experts_every);
        desc.validate().map_err(|r| match &desc.moe {
            Some(m) if m.experts_used > m.experts => header.invalid(format!(
                "`{}` ({}) is greater than `{}` ({})",
                key("expert_used_count"),
                m.experts_used,
                key("expert_count"),
                m.experts
            )),
            _ => header.invalid(r),
        })?;
        Ok(desc)
    }
}

/// Gemma 2's defaults where the file states none (llama.cpp `load_hparams`).
const GEMMA2_WINDOW: usize = 4096;
const GEMMA2_ATTN_SOFTCAP: f32 = 50.0;
const GEMMA2_FINAL_SOFTCAP: f32 = 30.0;

/// Gemma 2 always soft-caps (defaults above); others only where the file sets a cap.
fn softcap(stated: Option<f32>, family: Family, gemma2_default: f32) -> Option<f32> {
    match family {
        Family::Gemma2 => Some(stated.unwrap_or(gemma2_default)),
        _ => stated,
    }
    .filter(|&c| c > 0.0)
}

/// GGUF does not store Gemma's `query_pre_attn_scalar`; llama.cpp derives it from the size:
/// hidden/heads for the 27B models (46 layers for Gemma 2, 62 for Gemma 3), else head dim.
fn gemma_query_scalar(family: Family, n_layers: usize, hidden: usize, n_head: usize) -> Option<f32> {
    let big = match family {
        Family::Gemma2 => n_layers == 46,
        Family::Gemma3 => n_layers == 62,
        _ => return None,
    };
    big.then(|| (hidden / n_head.max(1)) as f32)
}

/// A hyperparameter that is one number, or one per layer (llama.cpp accepts both).
fn per_layer(header: &GgufHeader, key: &str, n_layers: usize) -> Result<Option<Vec<usize>>> {
    match header.get(key) {
        None => Ok(None),
        Some(MetaValue::Array(items)) => {
            let values: Option<Vec<usize>> = items.iter().map(|v| v.as_u64().map(|x| x as usize)).collect();
            match values {
                Some(v) if v.len() == n_layers => Ok(Some(v)),
                _ => Err(header.invalid(format!("`{key}` is not {n_layers} integers, one per layer"))),
            }
        }
        Some(v) => v
            .as_u64()
            .map(|x| Some(vec![x as usize; n_layers]))
            .ok_or_else(|| header.invalid(format!("`{key}` is not an integer"))),
    }
}

fn tensor_dim(header: &GgufHeader, name: &str, dim: usize) -> Option<usize> {
    let t = header.tensors.iter().find(|t| t.name == name)?;
    t.dims.get(dim).map(|&d| d as usize)
}

fn rope_scaling(header: &GgufHeader, arch: &str) -> Result<RopeScaling> {
    let key = |k: &str| format!("{arch}.rope.scaling.{k}");
    let float = |k: &str| header.get_f64(&key(k)).map(|f| f as f32);
    let context = header.get_u64(&format!("{arch}.context_length")).unwrap_or(0) as usize;
    // llama.cpp's `n_ctx_orig_yarn`: the training context unless stated.
    let original = header
        .get_u64(&key("original_context_length"))
        .map_or(context, |v| v as usize);
    // llama.cpp multiplies every rotation's cos/sin by this (Phi-3's LongRoPE factor).
    let attn_factor = float("attn_factor").unwrap_or(1.0);
    if let Some(factors) = header.read_f32_tensor("rope_freqs.weight")? {
        return Ok(RopeScaling::FreqFactors(factors));
    }
    if let Some(long) = header.read_f32_tensor("rope_factors_long.weight")? {
        let short = header
            .read_f32_tensor("rope_factors_short.weight")?
            .ok_or_else(|| header.invalid("rope_factors_long without rope_factors_short"))?;
        return Ok(RopeScaling::LongRope {
            original_context: original,
            short,
            long,
            short_magnitude: attn_factor,
            long_magnitude: attn_factor,
        });
    }
    let kind = header.get_str(&key("type")).unwrap_or("none");
    let factor = float("factor").unwrap_or(1.0);
    match kind {
        "none" | "" => Ok(RopeScaling::None),
        "linear" if factor == 1.0 => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear { factor }),
        "yarn" => {
            // llama.cpp derives YaRN's magnitude itself (ignoring `yarn_attn_factor`); the
            // extrapolation mix and DeepSeek's log multiplier change the rotation: refused.
            let unusual = [("yarn_ext_factor", 1.0), ("yarn_log_multiplier", 0.0)];
            if let Some((k, _)) = unusual.iter().find(|(k, v)| float(k).is_some_and(|x| x != *v)) {
                return Err(header.invalid(format!("YaRN with `{}` is not supported", key(k))));
            }
            Ok(RopeScaling::Yarn {
                factor,
                original_context: original,
                beta_fast: float("yarn_beta_fast").unwrap_or(32.0),
                beta_slow: float("yarn_beta_slow").unwrap_or(1.0),
                attn_factor,
            })
        }
        "longrope" => Err(header.invalid("LongRoPE scaling without rope_factors_long/short tensors")),
        other => Err(header.invalid(format!("unknown RoPE scaling type `{other}`"))),
    }
}
