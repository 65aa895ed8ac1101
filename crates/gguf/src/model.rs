//! The one decoder, built from the core's `ModelDesc` for every family: embeddings (scaled by
//! √hidden for Gemma), blocks of pre-norm attention and gated MLP (with Gemma's post-norms where
//! the family has them), the final norm and the output projection (tied or not, soft-capped
//! for Gemma 2). GGUF norm weights already carry Gemma's `+1`, so every norm is plain RMS.

use crate::kernels::QLinear;
use std::sync::Arc;

use candle_core::{DType, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use parallax_core::arch::{EmbedScale, ModelDesc, MoeDesc};
use parallax_core::RoutingLog;

use crate::experts::Moe;

use crate::layers::{
    rope_tables, Attention, AttentionConfig, AttentionParts, CResult, KvCache, Mlp, RopeConfig, RopeStyle, Segment,
};
use crate::weights::{Embedding, Weights};

struct Block {
    attn_norm: RmsNorm,
    attn: Attention,
    post_attn_norm: Option<RmsNorm>,
    ffn_norm: RmsNorm,
    ffn: Ffn,
    post_ffn_norm: Option<RmsNorm>,
}

/// A block's feed-forward: one gated MLP, or a mixture of experts.
enum Ffn {
    Dense(Mlp),
    Experts(Moe),
}

pub struct Model {
    embd: Embedding,
    embd_scale: Option<f64>,
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: QLinear,
    final_softcap: Option<f64>,
    moe: Option<MoeDesc>,
    /// Where the experts each token went to are recorded, while recording is on.
    pub routing: Option<RoutingLog>,
}

/// The RoPE tables of every position on `device`, computed once per distinct configuration:
/// an earlier layer's whose configuration makes the same tables is shared.
fn shared_tables(
    earlier: &[RopeConfig],
    rope: &RopeConfig,
    context: usize,
    device: &candle_core::Device,
) -> CResult<Arc<(Tensor, Tensor)>> {
    let same = earlier.iter().find(|r| r.same_tables(rope));
    match same.and_then(|r| r.on_device.clone()) {
        Some(t) => Ok(t),
        None => Ok(Arc::new(rope_tables(0, context, rope, device)?)),
    }
}

impl Model {
    pub fn load(w: &Weights, d: &ModelDesc, kv: DType) -> CResult<Self> {
        let spec = d.spec();
        let eps = d.norm_eps as f64;
        let (embd, output) = w.embedding_and_output()?;
        // llama.cpp's "normal" RoPE rotates consecutive pairs: the llama family's Q/K rows were
        // permuted for it, and Llama 4's HF weights already rotate that way.
        let style = match spec.gguf_qk_permuted || spec.hf_rope_interleaved {
            true => RopeStyle::Interleaved,
            false => RopeStyle::Halves,
        };
        let mut blocks = Vec::with_capacity(d.n_layers());
        let mut ropes_on_device: Vec<RopeConfig> = Vec::new();
        for (i, layer) in d.layers.iter().enumerate() {
            let p = format!("blk.{i}");
            let freqs = d.rope(layer).map_err(candle_core::Error::msg)?;
            let mut cfg = AttentionConfig {
                n_head: layer.n_head,
                n_kv_head: layer.n_kv_head,
                head_dim: d.head_dim,
                rope: RopeConfig {
                    style,
                    dims: d.rope_dims,
                    base: layer.rope_base,
                    freqs,
                    on_device: None,
                },
                scale: d.attn_scale as f64,
                softcap: d.attn_softcap.map(f64::from),
                reach: layer.reach(),
                rotate: layer.rope,
                unit_qk_norm: (d.qk_unit_norm && layer.rope).then_some(eps),
                temperature: d.query_temperature.filter(|_| !layer.rope),
            };
            if !w.device.is_cpu() && layer.rope {
                cfg.rope.on_device = Some(shared_tables(&ropes_on_device, &cfg.rope, d.context_length, &w.device)?);
                ropes_on_device.push(cfg.rope.clone());
            }
            let parts = AttentionParts {
                fused_qkv: spec.fused_qkv,
                qkv_bias: d.qkv_bias,
                qk_norm_eps: spec.qk_norm.then_some(eps),
                out_bias: spec.attn_out_bias,
                sinks: spec.attn_sinks,
            };
            let sandwich = |w: &Weights, name: &str| -> CResult<Option<RmsNorm>> {
                spec.sandwich_norms
                    .then(|| w.rms_norm(&format!("{p}.{name}.weight"), eps))
                    .transpose()
            };
            blocks.push(Block {
                attn_norm: w.rms_norm(&format!("{p}.attn_norm.weight"), eps)?,
                attn: Attention::load(w, &p, cfg, parts, KvCache::new(d.context_length, kv, layer.reach()))?,
                post_attn_norm: sandwich(w, "post_attention_norm")?,
                ffn_norm: w.rms_norm(&format!("{p}.{}.weight", spec.gguf_ffn_norm), eps)?,
                ffn: match (d.moe.as_ref().filter(|_| layer.experts), &spec.moe) {
                    (Some(m), Some(names)) => Ffn::Experts(Moe::load(w, &p, m, names, spec.activation)?),
                    _ => Ffn::Dense(Mlp::load(
                        w,
                        &p,
                        spec.activation,
                        spec.fused_gate_up.then_some(d.intermediate),
                    )?),
                },
                post_ffn_norm: sandwich(w, "post_ffw_norm")?,
            });
        }
        Ok(Model {
            embd,
            embd_scale: match spec.embed_scale {
                EmbedScale::SqrtHidden => Some((d.hidden as f64).sqrt()),
                EmbedScale::None => None,
            },
            blocks,
            norm: w.rms_norm("output_norm.weight", eps)?,
            output,
            final_softcap: d.final_softcap.map(f64::from),
            moe: d.moe.clone(),
            routing: None,
        })
    }

    /// Starts or stops recording routing; `false` for a model without experts.
    pub fn record_routing(&mut self, on: bool) -> bool {
        let Some(m) = &self.moe else {
            return false;
        };
        self.routing = on.then(|| RoutingLog::new(self.blocks.len(), m.experts, m.experts_used));
        true
    }

    /// `ids` is `(1, rows)`: the tokens of `segments` one after the other, each segment one
    /// sequence's next tokens in its own slot. Returns each segment's last logits, `(segments,
    /// vocab)`.
    pub fn forward(&mut self, ids: &Tensor, segments: &[Segment]) -> CResult<Tensor> {
        let mut x = self.embd.forward(ids)?;
        if let Some(s) = self.embd_scale {
            x = (x * s)?;
        }
        let rows = x.dim(1)?;
        let last = self.blocks.len().saturating_sub(1);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            // Only each sequence's last logits are asked for, so the last block's outputs
            // matter there alone (llama.cpp's `inp_out_ids`): its attention still caches every
            // position's keys and values, but its queries, output projection, residual and MLP
            // run on one row per sequence.
            // (Not while routing is recorded: every position's experts are wanted then.)
            let only_last = i == last && rows > segments.len() && self.routing.is_none();
            let a = b.attn.forward(&b.attn_norm.forward(&x)?, segments, only_last)?;
            let a = match &b.post_attn_norm {
                Some(n) => n.forward(&a)?,
                None => a,
            };
            if only_last {
                x = segment_ends(&x, segments)?;
            }
            let h = (a + &x)?;
            let normed = b.ffn_norm.forward(&h)?;
            let m = match &b.ffn {
                Ffn::Dense(mlp) => mlp.forward(&normed)?,
                Ffn::Experts(moe) => {
                    let (m, chosen) = moe.forward(&normed)?;
                    if let Some(log) = &mut self.routing {
                        log.record(i, &chosen);
                    }
                    m
                }
            };
            let m = match &b.post_ffn_norm {
                Some(n) => n.forward(&m)?,
                None => m,
            };
            x = (m + h)?;
        }
        if x.dim(1)? > segments.len() {
            x = segment_ends(&x, segments)?;
        }
        let logits = self.output.forward(&self.norm.forward(&x.squeeze(0)?)?)?;
        match self.final_softcap {
            Some(cap) => (logits / cap)?.tanh()? * cap,
            None => Ok(logits),
        }
    }

    /// Keeps every slot's cache the same (`n` slots, the first kept as they are).
    pub fn set_slots(&mut self, n: usize) {
        for a in self.attention_layers() {
            let fresh = a.caches[0].empty_like();
            a.caches.resize_with(n.max(1), || fresh.empty_like());
        }
    }

    pub fn attention_layers(&mut self) -> impl Iterator<Item = &mut Attention> {
        self.blocks.iter_mut().map(|b| &mut b.attn)
    }

    /// Every layer's cache of `slot`.
    pub fn caches(&self, slot: usize) -> impl Iterator<Item = &KvCache> {
        self.blocks.iter().filter_map(move |b| b.attn.caches.get(slot))
    }

    /// Every cache of every slot.
    pub fn all_caches(&self) -> impl Iterator<Item = &KvCache> {
        self.blocks.iter().flat_map(|b| &b.attn.caches)
    }
}

/// The last row of each segment of `x` `(1, rows, hidden)`: `(1, segments, hidden)`.
fn segment_ends(x: &Tensor, segments: &[Segment]) -> CResult<Tensor> {
    if let [s] = segments {
        return x.narrow(1, s.len - 1, 1);
    }
    let mut at = 0u32;
    let ends: Vec<u32> = segments
        .iter()
        .map(|s| {
            at += s.len as u32;
            at - 1
        })
        .collect();
    x.index_select(&Tensor::new(ends, x.device())?, 1)
}
