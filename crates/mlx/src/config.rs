//! `config.json` as mlx-lm reads it, written by `parallax convert` from the core's
//! `ModelDesc` (which reads `config.json` too), and the MLX quantization of a tensor.

use std::collections::BTreeMap;

use parallax_core::arch::{Family, ModelDesc, RopeScaling};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Affine quantization of one tensor (MLX `quantize`): `bits` per weight, one f16/f32 scale and
/// bias per `group_size` weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantSpec {
    pub group_size: i32,
    pub bits: i32,
}

/// transformers validates some fields as integers.
fn number(x: f32) -> Value {
    if x.fract() == 0.0 {
        json!(x as u64)
    } else {
        json!(x)
    }
}

/// `config.json` for `d`, with the quantization of every quantized tensor: a default
/// `{group_size, bits}` plus per-module entries where they differ.
pub fn to_hf_json(d: &ModelDesc, quant: &BTreeMap<String, QuantSpec>) -> Value {
    let spec = d.spec();
    let first = &d.layers[0];
    let global_base = d
        .layers
        .iter()
        .find(|l| l.sliding_window.is_none() || d.rope_local_base.is_none())
        .map_or(first.rope_base, |l| l.rope_base);
    let mut v = json!({
        "model_type": spec.hf_types[0],
        "architectures": [spec.hf_class],
        "hidden_size": d.hidden,
        "num_hidden_layers": d.n_layers(),
        "intermediate_size": d.intermediate,
        "num_attention_heads": first.n_head,
        "num_key_value_heads": first.n_kv_head,
        "head_dim": d.head_dim,
        "rms_norm_eps": d.norm_eps,
        "vocab_size": d.vocab,
        "rope_theta": global_base,
        "max_position_embeddings": d.context_length,
        "tie_word_embeddings": d.tied_embeddings,
        "bos_token_id": d.bos_token_id,
        "eos_token_id": d.eos_token_id,
    });
    if d.qkv_bias && !spec.qkv_bias {
        v["attention_bias"] = json!(true);
    }
    if d.rope_dims != d.head_dim {
        v["partial_rotary_factor"] = json!(d.rope_dims as f32 / d.head_dim as f32);
    }
    match d.rope_scaling.as_hf_params(d.rope_dims, global_base) {
        Some(RopeScaling::Linear { factor }) => {
            v["rope_scaling"] = json!({ "rope_type": "linear", "factor": factor });
        }
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_context,
        }) => {
            v["rope_scaling"] = json!({
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_context,
            });
        }
        _ => {}
    }
    if let Some(w) = d.layers.iter().find_map(|l| l.sliding_window) {
        v["sliding_window"] = json!(w);
    }
    if let Some(s) = d.query_pre_attn_scalar {
        v["query_pre_attn_scalar"] = number(s);
    }
    if let Some(c) = d.attn_softcap {
        v["attn_logit_softcapping"] = number(c);
    }
    if let Some(c) = d.final_softcap {
        v["final_logit_softcapping"] = number(c);
    }
    if d.family == Family::Gemma3 {
        v["rope_local_base_freq"] = json!(d.rope_local_base);
        v["sliding_window_pattern"] = json!(6);
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
