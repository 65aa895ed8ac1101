//! The description from a Hugging Face `config.json` (what mlx-lm's `ModelArgs` read), for the
//! families we run. A multimodal Gemma 3 config is read for its `text_config`.

use std::path::Path;

use serde_json::Value;

use super::{longrope_magnitude, Family, LayerDesc, ModelDesc, MoeDesc, QueryTemperature, RopeScaling};
use crate::error::{Error, Result};

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidModel {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl ModelDesc {
    pub fn from_hf_config(path: &Path, text: &str) -> Result<Self> {
        let root: Value = serde_json::from_str(text).map_err(|e| invalid(path, format!("config.json: {e}")))?;
        let model_type = root["model_type"]
            .as_str()
            .ok_or_else(|| invalid(path, "config.json has no model_type"))?;
        let family =
            Family::from_hf_type(model_type).ok_or_else(|| Error::UnsupportedArchitecture(model_type.to_owned()))?;
        // Multimodal Gemma 3: the language model's sizes live in `text_config`.
        let v = match root.get("text_config") {
            Some(t) if t.is_object() => t,
            _ => &root,
        };
        let spec = family.spec();
        let int = |k: &str| v[k].as_u64().map(|x| x as usize);
        let need = |k: &str| int(k).ok_or_else(|| invalid(path, format!("config.json has no integer `{k}`")));
        let float = |k: &str| v[k].as_f64().map(|x| x as f32);
        let hidden = need("hidden_size")?;
        let n_layers = need("num_hidden_layers")?;
        let n_head = need("num_attention_heads")?;
        let n_kv_head = int("num_key_value_heads").unwrap_or(n_head);
        let head_dim = int("head_dim").unwrap_or(hidden.checked_div(n_head).unwrap_or(0));
        let rope = rope_params(v);
        let rope_base = rope_theta(&rope.global, v).unwrap_or(spec.default_rope_base);
        let local_base = (family == Family::Gemma3).then(|| {
            rope.local
                .and_then(|l| l["rope_theta"].as_f64().map(|x| x as f32))
                .or_else(|| float("rope_local_base_freq"))
                .unwrap_or(10_000.0)
        });
        let window = sliding_window(family, v);
        let layer_types: Option<Vec<&str>> = v["layer_types"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        let layers = (0..n_layers)
            .map(|i| {
                let sliding_window = match (&layer_types, window) {
                    (Some(types), Some(w)) if spec.sliding != super::SlidingLayers::None => {
                        (types.get(i) == Some(&"sliding_attention")).then_some(w)
                    }
                    _ => Self::sliding_window_of(spec, i, window),
                };
                LayerDesc::new(n_head, n_kv_head, sliding_window, rope_base, local_base)
            })
            .collect();
        let query_pre_attn_scalar = float("query_pre_attn_scalar").or(spec.sandwich_norms.then_some(head_dim as f32));
        let attn_scale = match (spec.sandwich_norms, query_pre_attn_scalar) {
            (true, Some(s)) => s.powf(-0.5),
            _ => (head_dim as f32).powf(-0.5),
        };
        let partial = float("partial_rotary_factor").unwrap_or(1.0);
        let moe = match spec.moe {
            None => None,
            Some(names) => {
                // Qwen3-MoE can mix dense layers in; released models do not, and llama.cpp
                // assumes they do not.
                let dense_layers = v["mlp_only_layers"].as_array().is_some_and(|a| !a.is_empty());
                if int("decoder_sparse_step").unwrap_or(1) != 1 || dense_layers {
                    return Err(invalid(
                        path,
                        "dense layers among the expert layers (decoder_sparse_step, mlp_only_layers) are not supported",
                    ));
                }
                Some(MoeDesc {
                    experts: need(names.count_key)?,
                    experts_used: need("num_experts_per_tok")?,
                    expert_ff: need(names.ff_key)?,
                    norm_topk: match family {
                        Family::Qwen3Moe => v["norm_topk_prob"].as_bool().unwrap_or(false),
                        Family::Llama4 => false,
                        _ => true,
                    },
                })
            }
        };
        let desc = ModelDesc {
            family,
            hidden,
            intermediate: need(spec.hf_dense_ff_key)?,
            vocab: need("vocab_size")?,
            context_length: int("max_position_embeddings").unwrap_or(2048),
            head_dim,
            layers,
            norm_eps: float("rms_norm_eps").unwrap_or(spec.default_eps),
            rope_dims: ((head_dim as f32 * partial) as usize) & !1,
            rope_scaling: rope_scaling(path, rope.global, v)?,
            attn_scale,
            attn_softcap: float("attn_logit_softcapping").filter(|&c| c > 0.0),
            final_softcap: float("final_logit_softcapping").filter(|&c| c > 0.0),
            qkv_bias: spec.qkv_bias || v["attention_bias"].as_bool().unwrap_or(false),
            tied_embeddings: root["tie_word_embeddings"]
                .as_bool()
                .or(v["tie_word_embeddings"].as_bool())
                .unwrap_or(!matches!(spec.family, Family::Llama | Family::Mistral | Family::Llama4)),
            rope_local_base: local_base,
            query_pre_attn_scalar: spec.sandwich_norms.then_some(query_pre_attn_scalar).flatten(),
            bos_token_id: token_id(&v["bos_token_id"]).or(token_id(&root["bos_token_id"])),
            eos_token_id: token_id(&v["eos_token_id"]).or(token_id(&root["eos_token_id"])),
            moe,
            qk_unit_norm: family == Family::Llama4 && v["use_qk_norm"].as_bool().unwrap_or(false),
            // mlx-lm's `attn_temperature_tuning` (default 4) is a truth value.
            query_temperature: (family == Family::Llama4
                && !matches!(&v["attn_temperature_tuning"], Value::Bool(false))
                && v["attn_temperature_tuning"].as_u64() != Some(0))
            .then(|| QueryTemperature {
                floor: int("floor_scale").unwrap_or(8192),
                scale: float("attn_scale").unwrap_or(0.1),
            }),
        };
        let mut desc = desc;
        let experts_every = match spec.moe.and_then(|m| m.step_key) {
            Some(k) => int(k).unwrap_or(1),
            None => 1,
        };
        desc.apply_layer_pattern(int("attention_chunk_size"), experts_every);
        desc.validate().map_err(|r| invalid(path, r))?;
        Ok(desc)
    }
}

/// `eos_token_id` may be one id or a list; the first is the one we report.
fn token_id(v: &Value) -> Option<u32> {
    v.as_u64()
        .or_else(|| v.as_array().and_then(|a| a.first()).and_then(Value::as_u64))
        .map(|x| x as u32)
}

struct RopeParams<'a> {
    /// `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5), global layers.
    global: Option<&'a Value>,
    /// transformers 5 Gemma 3: `rope_parameters.sliding_attention`.
    local: Option<&'a Value>,
}

fn rope_params(v: &Value) -> RopeParams<'_> {
    let params = v.get("rope_parameters").filter(|p| p.is_object());
    match params {
        Some(p) if p.get("full_attention").is_some() => RopeParams {
            global: p.get("full_attention"),
            local: p.get("sliding_attention"),
        },
        Some(p) => RopeParams {
            global: Some(p),
            local: None,
        },
        None => RopeParams {
            global: v.get("rope_scaling").filter(|s| s.is_object()),
            local: None,
        },
    }
}

fn rope_theta(params: &Option<&Value>, v: &Value) -> Option<f32> {
    v["rope_theta"]
        .as_f64()
        .or_else(|| params.and_then(|p| p["rope_theta"].as_f64()))
        .map(|x| x as f32)
}

/// Mistral and Phi-3 state one window for every layer, Gemma for its local layers; Qwen2
/// states one but uses it only with `use_sliding_window`, which released models leave off.
fn sliding_window(family: Family, v: &Value) -> Option<usize> {
    let window = v["sliding_window"].as_u64().map(|w| w as usize).filter(|&w| w > 0);
    match family {
        Family::Qwen2 | Family::Qwen3 if !v["use_sliding_window"].as_bool().unwrap_or(false) => None,
        Family::Gemma2 => window.or(Some(4096)),
        Family::Gemma3 => window.or(Some(512)),
        _ => window,
    }
}

fn rope_scaling(path: &Path, params: Option<&Value>, config: &Value) -> Result<RopeScaling> {
    let Some(p) = params else {
        return Ok(RopeScaling::None);
    };
    let kind = p["rope_type"].as_str().or(p["type"].as_str()).unwrap_or("default");
    let f = |k: &str| p[k].as_f64().map(|x| x as f32);
    let factor = f("factor").unwrap_or(1.0);
    // Phi-3 states the original context beside `rope_scaling`, not in it.
    let original = p["original_max_position_embeddings"]
        .as_u64()
        .or(config["original_max_position_embeddings"].as_u64())
        .unwrap_or(0) as usize;
    let refuse = |what: &str| {
        Err(invalid(
            path,
            format!("RoPE scaling `{kind}` with `{what}` is not supported"),
        ))
    };
    Ok(match kind {
        "default" => RopeScaling::None,
        "linear" if factor == 1.0 => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor },
        "llama3" => RopeScaling::Llama3 {
            factor,
            low_freq_factor: f("low_freq_factor").unwrap_or(1.0),
            high_freq_factor: f("high_freq_factor").unwrap_or(4.0),
            original_context: original,
        },
        "yarn" => {
            // DeepSeek's mscale forms and an explicit attention factor change the magnitude in
            // ways llama.cpp and mlx-lm do not agree on: refused rather than guessed.
            for key in ["attention_factor", "mscale", "mscale_all_dim"] {
                if !p[key].is_null() {
                    return refuse(key);
                }
            }
            RopeScaling::Yarn {
                factor,
                original_context: if original > 0 { original } else { 4096 },
                beta_fast: f("beta_fast").unwrap_or(32.0),
                beta_slow: f("beta_slow").unwrap_or(1.0),
                attn_factor: 1.0,
            }
        }
        "longrope" | "su" => {
            let factors = |k: &str| -> Result<Vec<f32>> {
                p[k].as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|x| x.as_f64().map(|x| x as f32))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| invalid(path, format!("rope_scaling.{k} is not a list of numbers")))
            };
            let context = config["max_position_embeddings"].as_u64().unwrap_or(0) as usize;
            let computed = longrope_magnitude(context, original);
            let stated = f("attention_factor");
            RopeScaling::LongRope {
                original_context: original,
                short: factors("short_factor")?,
                long: factors("long_factor")?,
                short_magnitude: stated.or(f("short_mscale")).unwrap_or(computed),
                long_magnitude: stated.or(f("long_mscale")).unwrap_or(computed),
            }
        }
        other => return Err(invalid(path, format!("unknown RoPE scaling type `{other}`"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qwen2(rope_scaling: Value) -> Result<ModelDesc> {
        let cfg = serde_json::json!({
            "model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 1, "intermediate_size": 128,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 10,
            "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
            "rope_scaling": rope_scaling,
        });
        ModelDesc::from_hf_config(Path::new("config.json"), &cfg.to_string())
    }

    #[test]
    fn yarn_is_read_with_its_defaults_and_deepseek_forms_are_refused() {
        let d = qwen2(serde_json::json!({"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}))
            .expect("yarn");
        assert!(
            matches!(d.rope_scaling, RopeScaling::Yarn { factor: 4.0, original_context: 32768, beta_fast, beta_slow, .. }
            if beta_fast == 32.0 && beta_slow == 1.0)
        );
        let err = qwen2(serde_json::json!({"type": "yarn", "factor": 40.0, "mscale": 0.707})).unwrap_err();
        assert!(err.to_string().contains("`mscale`"), "{err}");
    }

    #[test]
    fn longrope_reads_the_original_context_beside_rope_scaling() {
        let d = qwen2(serde_json::json!({"type": "longrope", "short_factor": [1.0, 1.0], "long_factor": [2.0, 4.0]}))
            .expect("longrope");
        let RopeScaling::LongRope {
            original_context,
            long_magnitude,
            ..
        } = d.rope_scaling
        else {
            panic!("{:?}", d.rope_scaling);
        };
        assert_eq!(original_context, 4096);
        assert!((long_magnitude - longrope_magnitude(131072, 4096)).abs() < 1e-6);
        let err =
            qwen2(serde_json::json!({"type": "longrope", "short_factor": [1.0], "long_factor": "x"})).unwrap_err();
        assert!(err.to_string().contains("long_factor"), "{err}");
    }
}

#[cfg(test)]
mod llama4_tests {
    use super::*;
    use crate::arch::Reach;

    #[test]
    fn llama4s_layer_pattern_experts_and_query_temperature_come_from_its_text_config() {
        let cfg = serde_json::json!({
            "model_type": "llama4",
            "text_config": {
                "hidden_size": 64, "num_hidden_layers": 8, "intermediate_size": 32,
                "intermediate_size_mlp": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
                "head_dim": 16, "vocab_size": 10, "num_local_experts": 16, "num_experts_per_tok": 1,
                "interleave_moe_layer_step": 2, "attention_chunk_size": 8192, "use_qk_norm": true,
                "floor_scale": 8192, "attn_scale": 0.1, "rms_norm_eps": 1e-5,
            },
        });
        let d = ModelDesc::from_hf_config(Path::new("config.json"), &cfg.to_string()).expect("llama4");
        assert_eq!((d.family, d.intermediate), (Family::Llama4, 128));
        let moe = d.moe.as_ref().expect("experts");
        assert_eq!(
            (moe.experts, moe.experts_used, moe.expert_ff, moe.norm_topk),
            (16, 1, 32, false)
        );
        let rope: Vec<bool> = d.layers.iter().map(|l| l.rope).collect();
        assert_eq!(rope, [true, true, true, false, true, true, true, false]);
        let experts: Vec<bool> = d.layers.iter().map(|l| l.experts).collect();
        assert_eq!(experts, [false, true, false, true, false, true, false, true]);
        assert_eq!(d.layers[0].reach(), Reach::Chunk(8192));
        assert_eq!(d.layers[3].reach(), Reach::All);
        assert!(d.qk_unit_norm && !d.tied_embeddings);
        let t = d.query_temperature.expect("temperature");
        assert_eq!((t.at(0), t.at(8190)), (1.0, 1.0));
        assert!((t.at(8191) - (1.0 + 0.1 * 2f32.ln())).abs() < 1e-6);
        // Active parameters: per token, one expert of 32 plus the shared one on expert layers.
        let (active, total) = d.ffn_params();
        let (dense, expert, router) = (3 * 64 * 128u64, 3 * 64 * 32u64, 64 * 16u64);
        assert_eq!(active, 4 * dense + 4 * (2 * expert + router));
        assert_eq!(total, 4 * dense + 4 * (17 * expert + router));
    }
}
