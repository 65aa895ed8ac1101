//! `gemma3_text` (HF `model_type`; GGUF "gemma3"): Gemma 3 text models, as mlx-lm runs them.
//! Sandwich norms with `1 + w` weights, Q/K RMS norms, GELU-tanh gated MLP, embeddings scaled
//! by √hidden rounded to bf16 (as mlx-lm and HF do), local RoPE base and a sliding window on
//! five of every six layers.

use mlx_rs::Array;
use parallax_core::Result;

use crate::config::ModelConfig;
use crate::nn::{
    gelu_approx, load_attention, output_logits, rms_norm, Attention, AttentionConfig, Linear, MResult, Mlp,
};
use crate::tensors::Tensors;
use crate::Architecture;

struct Block {
    input_norm: Array,
    attn: Attention,
    post_attn_norm: Array,
    pre_ffn_norm: Array,
    mlp: Mlp,
    post_ffn_norm: Array,
}

pub struct Gemma3 {
    embed: Linear,
    embed_scale: f32,
    blocks: Vec<Block>,
    norm: Array,
    lm_head: Option<Linear>,
    eps: f32,
}

/// Gemma stores norm weights as offsets from 1.
fn norm_weight(t: &mut Tensors, name: &str, len: usize) -> Result<Array> {
    let w = t.vector(name, len)?;
    w.add(Array::from_f32(1.0))
        .map_err(|e| t.invalid(format!("{name}: {e}")))
}

/// Round-to-nearest-even to bfloat16, kept as f32.
fn round_to_bf16(x: f32) -> f32 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1));
    f32::from_bits(rounded & 0xFFFF_0000)
}

impl Gemma3 {
    pub fn load(t: &mut Tensors, c: &ModelConfig) -> Result<Self> {
        let h = c.hidden_size;
        let embed = Linear::load(t, "model.embed_tokens", c.vocab_size, h)?;
        let mut blocks = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let sliding = (i + 1) % c.sliding_window_pattern != 0;
            let cfg = AttentionConfig {
                n_heads: c.num_attention_heads,
                n_kv_heads: c.num_key_value_heads,
                head_dim: c.head_dim,
                scale: c.query_pre_attn_scalar.powf(-0.5),
                rope_base: if sliding { c.rope_local_base_freq } else { c.rope_theta },
                window: if sliding { c.sliding_window } else { None },
                max_len: c.max_position_embeddings,
            };
            let mut attn = load_attention(t, &format!("{p}.self_attn"), h, cfg)?;
            attn.qk_norm = Some((
                norm_weight(t, &format!("{p}.self_attn.q_norm.weight"), c.head_dim)?,
                norm_weight(t, &format!("{p}.self_attn.k_norm.weight"), c.head_dim)?,
                c.rms_norm_eps,
            ));
            blocks.push(Block {
                input_norm: norm_weight(t, &format!("{p}.input_layernorm.weight"), h)?,
                attn,
                post_attn_norm: norm_weight(t, &format!("{p}.post_attention_layernorm.weight"), h)?,
                pre_ffn_norm: norm_weight(t, &format!("{p}.pre_feedforward_layernorm.weight"), h)?,
                mlp: Mlp::load(t, &format!("{p}.mlp"), h, c.intermediate_size, gelu_approx)?,
                post_ffn_norm: norm_weight(t, &format!("{p}.post_feedforward_layernorm.weight"), h)?,
            });
        }
        let norm = norm_weight(t, "model.norm.weight", h)?;
        let lm_head = Linear::load_optional(t, "lm_head", c.vocab_size, h)?;
        let embed_scale = round_to_bf16((h as f32).sqrt());
        Ok(Gemma3 {
            embed,
            embed_scale,
            blocks,
            norm,
            lm_head,
            eps: c.rms_norm_eps,
        })
    }
}

impl Architecture for Gemma3 {
    fn forward(&mut self, ids: &Array) -> MResult<Array> {
        let mut x = self
            .embed
            .rows(ids)?
            .expand_dims(0)?
            .multiply(Array::from_f32(self.embed_scale))?;
        for b in &mut self.blocks {
            let r = b.attn.forward(&rms_norm(&x, &b.input_norm, self.eps)?)?;
            x = x.add(rms_norm(&r, &b.post_attn_norm, self.eps)?)?;
            let r = b.mlp.forward(&rms_norm(&x, &b.pre_ffn_norm, self.eps)?)?;
            x = x.add(rms_norm(&r, &b.post_ffn_norm, self.eps)?)?;
        }
        output_logits(&x, &self.norm, self.eps, self.lm_head.as_ref().unwrap_or(&self.embed))
    }

    fn attention(&mut self) -> Vec<&mut Attention> {
        self.blocks.iter_mut().map(|b| &mut b.attn).collect()
    }

    fn attention_ref(&self) -> Vec<&Attention> {
        self.blocks.iter().map(|b| &b.attn).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedding_scale_is_rounded_to_bf16_like_mlx_lm() {
        // √640 = 25.2982…; bf16 keeps 8 significant bits: 25.25.
        assert_eq!(super::round_to_bf16(640f32.sqrt()), 25.25);
        assert_eq!(super::round_to_bf16(1.0), 1.0);
    }
}
