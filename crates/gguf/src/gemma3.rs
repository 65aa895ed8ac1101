//! `gemma3` (GGUF `general.architecture`): Gemma 3 text models.
//! Sandwich norms (pre and post each sub-block), Q/K RMS norms, GELU-tanh gated MLP, embeddings
//! scaled by √hidden, split-halves RoPE with a local base on sliding-window layers and a global
//! base on every sixth layer. GGUF norm weights already include Gemma's `+1`.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use crate::layers::{last_position, Activation, Attention, AttentionConfig, CResult, KvCache, Mlp, RopeStyle};
use crate::weights::{embed, Weights};
use crate::Architecture;

/// Every `SLIDING_PATTERN`-th layer attends globally (llama.cpp `set_swa_pattern(6)`).
const SLIDING_PATTERN: usize = 6;
const DEFAULT_LOCAL_ROPE_BASE: f64 = 10_000.0;
const DEFAULT_GLOBAL_ROPE_BASE: f64 = 1_000_000.0;

struct Block {
    attn_norm: RmsNorm,
    attn: Attention,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    mlp: Mlp,
    post_ffn_norm: RmsNorm,
}

pub struct Gemma3 {
    embd: Arc<QTensor>,
    embd_scale: f64,
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: QMatMul,
}

impl Gemma3 {
    pub fn load(w: &mut Weights, context_length: usize) -> CResult<Self> {
        let n_head = w.hparam("attention.head_count")?;
        let n_kv_head = w.hparam("attention.head_count_kv").unwrap_or(n_head);
        let hidden = w.hparam("embedding_length")?;
        let head_dim = w.hparam("attention.key_length").unwrap_or(hidden / n_head);
        let eps = w.hparam_f("attention.layer_norm_rms_epsilon").unwrap_or(1e-6);
        let window = w.hparam("attention.sliding_window")?;
        let global_base = w.hparam_f("rope.freq_base").unwrap_or(DEFAULT_GLOBAL_ROPE_BASE);
        let local_base = w.hparam_f("rope.local_freq_base").unwrap_or(DEFAULT_LOCAL_ROPE_BASE);
        crate::check_heads(n_head, n_kv_head)?;
        let (embd, output) = w.embedding_and_output()?;
        let mut blocks = Vec::new();
        for i in 0..w.hparam("block_count")? {
            let p = format!("blk.{i}");
            let sliding = (i + 1) % SLIDING_PATTERN != 0;
            let cfg = AttentionConfig {
                n_head,
                n_kv_head,
                head_dim,
                rope_base: if sliding { local_base } else { global_base } as f32,
                rope_style: RopeStyle::Halves,
                // query_pre_attn_scalar = head_dim for the Gemma 3 sizes llama.cpp supports.
                scale: 1.0 / (head_dim as f64).sqrt(),
                sliding_window: sliding.then_some(window),
            };
            blocks.push(Block {
                attn_norm: w.rms_norm(&format!("{p}.attn_norm.weight"), eps)?,
                attn: Attention::load(w, &p, cfg, Some(eps), context_length)?,
                post_attn_norm: w.rms_norm(&format!("{p}.post_attention_norm.weight"), eps)?,
                ffn_norm: w.rms_norm(&format!("{p}.ffn_norm.weight"), eps)?,
                mlp: Mlp::load(w, &p, Activation::GeluTanh)?,
                post_ffn_norm: w.rms_norm(&format!("{p}.post_ffw_norm.weight"), eps)?,
            });
        }
        let norm = w.rms_norm("output_norm.weight", eps)?;
        Ok(Gemma3 {
            embd,
            embd_scale: (hidden as f64).sqrt(),
            blocks,
            norm,
            output,
        })
    }
}

impl Architecture for Gemma3 {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> CResult<Tensor> {
        let mut x = (embed(&self.embd, ids)? * self.embd_scale)?;
        for b in &mut self.blocks {
            let a = b.attn.forward(&b.attn_norm.forward(&x)?, pos)?;
            let h = (b.post_attn_norm.forward(&a)? + &x)?;
            let m = b.mlp.forward(&b.ffn_norm.forward(&h)?)?;
            x = (b.post_ffn_norm.forward(&m)? + h)?;
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
