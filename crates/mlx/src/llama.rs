//! `llama` (HF `model_type`; GGUF `general.architecture` "llama"): SmolLM2 and the Llama family.
//! Pre-norm blocks, SiLU-gated MLP, split-halves RoPE, optionally tied embeddings.

use mlx_rs::Array;
use parallax_core::Result;

use crate::config::ModelConfig;
use crate::nn::{load_attention, output_logits, rms_norm, silu, Attention, AttentionConfig, Linear, MResult, Mlp};
use crate::tensors::Tensors;
use crate::Architecture;

struct Block {
    input_norm: Array,
    attn: Attention,
    post_attn_norm: Array,
    mlp: Mlp,
}

pub struct Llama {
    embed: Linear,
    blocks: Vec<Block>,
    norm: Array,
    lm_head: Option<Linear>,
    eps: f32,
}

impl Llama {
    pub fn load(t: &mut Tensors, c: &ModelConfig) -> Result<Self> {
        let h = c.hidden_size;
        let embed = Linear::load(t, "model.embed_tokens", c.vocab_size, h)?;
        let mut blocks = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let cfg = AttentionConfig {
                n_heads: c.num_attention_heads,
                n_kv_heads: c.num_key_value_heads,
                head_dim: c.head_dim,
                scale: (c.head_dim as f32).powf(-0.5),
                rope_base: c.rope_theta,
                window: None,
                max_len: c.max_position_embeddings,
            };
            blocks.push(Block {
                input_norm: t.vector(&format!("{p}.input_layernorm.weight"), h)?,
                attn: load_attention(t, &format!("{p}.self_attn"), h, cfg)?,
                post_attn_norm: t.vector(&format!("{p}.post_attention_layernorm.weight"), h)?,
                mlp: Mlp::load(t, &format!("{p}.mlp"), h, c.intermediate_size, silu)?,
            });
        }
        let norm = t.vector("model.norm.weight", h)?;
        let lm_head = Linear::load_optional(t, "lm_head", c.vocab_size, h)?;
        Ok(Llama {
            embed,
            blocks,
            norm,
            lm_head,
            eps: c.rms_norm_eps,
        })
    }
}

impl Architecture for Llama {
    fn forward(&mut self, ids: &Array) -> MResult<Array> {
        let mut x = self.embed.rows(ids)?.expand_dims(0)?;
        for b in &mut self.blocks {
            x = x.add(b.attn.forward(&rms_norm(&x, &b.input_norm, self.eps)?)?)?;
            x = x.add(b.mlp.forward(&rms_norm(&x, &b.post_attn_norm, self.eps)?)?)?;
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
