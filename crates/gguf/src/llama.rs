//! `llama` (GGUF `general.architecture`): Llama, SmolLM2 and friends.
//! Pre-norm blocks, SiLU-gated MLP, interleaved RoPE (the GGUF converter permutes Q/K for it).

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use crate::layers::{last_position, Activation, Attention, AttentionConfig, CResult, KvCache, Mlp, RopeStyle};
use crate::weights::{embed, Weights};
use crate::Architecture;

struct Block {
    attn_norm: RmsNorm,
    attn: Attention,
    ffn_norm: RmsNorm,
    mlp: Mlp,
}

pub struct Llama {
    embd: Arc<QTensor>,
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: QMatMul,
}

impl Llama {
    pub fn load(w: &mut Weights, context_length: usize) -> CResult<Self> {
        let n_head = w.hparam("attention.head_count")?;
        let n_kv_head = w.hparam("attention.head_count_kv").unwrap_or(n_head);
        let hidden = w.hparam("embedding_length")?;
        let eps = w.hparam_f("attention.layer_norm_rms_epsilon").unwrap_or(1e-5);
        let rope_base = w.hparam_f("rope.freq_base").unwrap_or(10_000.0) as f32;
        let head_dim = w.hparam("rope.dimension_count").unwrap_or(hidden / n_head);
        crate::check_heads(n_head, n_kv_head)?;
        let (embd, output) = w.embedding_and_output()?;
        let mut blocks = Vec::new();
        for i in 0..w.hparam("block_count")? {
            let p = format!("blk.{i}");
            let cfg = AttentionConfig {
                n_head,
                n_kv_head,
                head_dim,
                rope_base,
                rope_style: RopeStyle::Interleaved,
                scale: 1.0 / (head_dim as f64).sqrt(),
                sliding_window: None,
            };
            blocks.push(Block {
                attn_norm: w.rms_norm(&format!("{p}.attn_norm.weight"), eps)?,
                attn: Attention::load(w, &p, cfg, None, context_length)?,
                ffn_norm: w.rms_norm(&format!("{p}.ffn_norm.weight"), eps)?,
                mlp: Mlp::load(w, &p, Activation::Silu)?,
            });
        }
        let norm = w.rms_norm("output_norm.weight", eps)?;
        Ok(Llama {
            embd,
            blocks,
            norm,
            output,
        })
    }
}

impl Architecture for Llama {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> CResult<Tensor> {
        let mut x = embed(&self.embd, ids)?;
        for b in &mut self.blocks {
            let h = (b.attn.forward(&b.attn_norm.forward(&x)?, pos)? + &x)?;
            x = (b.mlp.forward(&b.ffn_norm.forward(&h)?)? + h)?;
        }
        self.output.forward(&self.norm.forward(&last_position(&x)?)?)
    }

    fn attention_layers(&mut self) -> Vec<&mut Attention> {
        self.blocks.iter_mut().map(|b| &mut b.attn).collect()
    }

    fn caches(&self) -> Vec<&KvCache> {
        self.blocks.iter().map(|b| &b.attn.cache).collect()
    }
}
