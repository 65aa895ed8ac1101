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
/// `{group_size, bits}` plus per-module entries where they differ. `Err` names RoPE scaling
/// a config cannot state.
pub fn to_hf_json(d: &ModelDesc, quant: &BTreeMap<String, QuantSpec>) -> Result<Value, String> {
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
    if let Some(scaling) = rope_scaling_json(d, global_base)? {
        v["rope_scaling"] = scaling;
        if let RopeScaling::LongRope { original_context, .. } = d.rope_scaling {
            // mlx-lm's Phi-3 reads the original context beside `rope_scaling`.
            v["original_max_position_embeddings"] = json!(original_context);
        }
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
    if let (Some(m), Some(names)) = (&d.moe, spec.moe) {
        v[names.count_key] = json!(m.experts);
        v[names.ff_key] = json!(m.expert_ff);
        v["num_experts_per_tok"] = json!(m.experts_used);
        v["norm_topk_prob"] = json!(m.norm_topk);
    }
    if d.family == Family::Gemma3 {
        v["rope_local_base_freq"] = json!(d.rope_local_base);
        v["sliding_window_pattern"] = json!(6);
    }
    if spec.hf_dense_ff_key != "intermediate_size" {
        v[spec.hf_dense_ff_key] = json!(d.intermediate);
    }
    if d.family == Family::Llama4 {
        v = llama4_text_config(d, v);
    }
    if let Some(default) = most_common(quant.values()) {
        let mut q = json!({ "group_size": default.group_size, "bits": default.bits });
        for (module, spec) in quant.iter().filter(|(_, s)| **s != default) {
            q[module] = json!(spec);
        }
        v["quantization"] = q.clone();
        v["quantization_config"] = q;
    }
    Ok(v)
}

/// Llama 4's config: the text model's fields under `text_config` (mlx-lm reads them there),
/// with its layer pattern, Q/K norm and query temperature.
fn llama4_text_config(d: &ModelDesc, mut text: Value) -> Value {
    let step = d.layers.iter().position(|l| l.experts).map_or(1, |i| i + 1);
    text["interleave_moe_layer_step"] = json!(step);
    text["attention_chunk_size"] = json!(d
        .layers
        .iter()
        .find_map(|l| l.attention_chunk)
        .unwrap_or(d.context_length));
    text["use_qk_norm"] = json!(d.qk_unit_norm);
    text["attention_bias"] = json!(d.qkv_bias);
    match d.query_temperature {
        Some(t) => {
            text["attn_temperature_tuning"] = json!(true);
            text["floor_scale"] = json!(t.floor);
            text["attn_scale"] = json!(t.scale);
        }
        None => text["attn_temperature_tuning"] = json!(false),
    }
    let top = ["architectures", "tie_word_embeddings", "bos_token_id", "eos_token_id"];
    let mut root = json!({ "model_type": "llama4" });
    for k in top {
        root[k] = text[k].clone();
    }
    text["model_type"] = json!("llama4_text");
    root["text_config"] = text;
    root
}

/// `rope_scaling` as mlx-lm and transformers read it.
fn rope_scaling_json(d: &ModelDesc, base: f32) -> Result<Option<Value>, String> {
    Ok(Some(match d.rope_scaling.as_hf_params(d.rope_dims, base) {
        None if d.rope_scaling == RopeScaling::None => return Ok(None),
        None | Some(RopeScaling::FreqFactors(_)) => {
            return Err("its rope_freqs match no released Llama 3 scaling, which config.json cannot state".into())
        }
        Some(RopeScaling::None) => return Ok(None),
        Some(RopeScaling::Linear { factor }) => json!({ "rope_type": "linear", "factor": factor }),
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_context,
        }) => json!({
            "rope_type": "llama3",
            "factor": factor,
            "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor,
            "original_max_position_embeddings": original_context,
        }),
        Some(RopeScaling::Yarn {
            factor,
            original_context,
            beta_fast,
            beta_slow,
            attn_factor,
        }) => {
            if attn_factor != 1.0 {
                return Err(format!(
                    "YaRN with attention factor {attn_factor} cannot be stated for mlx-lm"
                ));
            }
            json!({
                "rope_type": "yarn",
                "type": "yarn",
                "factor": factor,
                "original_max_position_embeddings": original_context,
                "beta_fast": beta_fast,
                "beta_slow": beta_slow,
            })
        }
        Some(RopeScaling::LongRope {
            original_context,
            short,
            long,
            short_magnitude,
            long_magnitude,
        }) => json!({
            "rope_type": "longrope",
            "type": "longrope",
            "original_max_position_embeddings": original_context,
            "short_factor": short,
            "long_factor": long,
            "short_mscale": short_magnitude,
            "long_mscale": long_magnitude,
        }),
    }))
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
