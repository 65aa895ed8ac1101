//! The one decoder on MLX, built from the core's `ModelDesc` for every family, on HF-named
//! tensors (mlx-lm's layout): embeddings (√hidden for Gemma), pre-norm attention and gated MLP
//! with Gemma's post-norms where the family has them, final norm, output projection (tied or
//! not) and Gemma 2's final soft-cap.

use mlx_rs::Array;
use parallax_core::arch::{EmbedScale, Family, ModelDesc, NormStyle};
use parallax_core::{Result, RoutingLog};

use crate::experts::Moe;
use crate::nn::{
    load_attention, output_logits, rms_norm, Attention, AttentionConfig, AttentionParts, KvCache, Linear, MResult, Mlp,
    Rope, Segment,
};
use crate::tensors::Tensors;

struct Block {
    input_norm: Array,
    attn: Attention,
    post_attn_norm: Option<Array>,
    ffn_norm: Array,
    ffn: Ffn,
    post_ffn_norm: Option<Array>,
}

/// A block's feed-forward: one gated MLP, or a mixture of experts.
enum Ffn {
    Dense(Mlp),
    Experts(Box<Moe>),
}

pub struct Model {
    embed: Linear,
    embed_scale: Option<f32>,
    blocks: Vec<Block>,
    norm: Array,
    lm_head: Option<Linear>,
    eps: f32,
    final_softcap: Option<f32>,
    /// Where the experts each token went to are recorded, while recording is on.
    pub routing: Option<RoutingLog>,
    experts: Option<(usize, usize)>,
}

/// Round-to-nearest-even to bfloat16, kept as f32.
fn round_to_bf16(x: f32) -> f32 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1));
    f32::from_bits(rounded & 0xFFFF_0000)
}

/// A norm weight as the block multiplies by it: Gemma stores offsets from 1.
fn norm_weight(t: &mut Tensors, name: &str, len: usize, style: NormStyle) -> Result<Array> {
    let w = t.vector(name, len)?;
    match style {
        NormStyle::Rms => Ok(w),
        NormStyle::RmsPlusOne => w
            .add(Array::from_f32(1.0))
            .map_err(|e| t.invalid(format!("{name}: {e}"))),
    }
}

/// MLX `fast::rope` frequencies for scaled RoPE: `base^(2i/d) · divisorᵢ`.
fn rope_freqs(divisors: &[f32], dims: usize, base: f32) -> Array {
    let f: Vec<f32> = divisors
        .iter()
        .enumerate()
        .map(|(i, d)| base.powf(2.0 * i as f32 / dims as f32) * d)
        .collect();
    Array::from_slice(&f, &[f.len() as i32])
}

/// The per-dimension multiplier of q and k before rotation: `magnitude` over the rotated
/// dimensions, 1 over the rest; `None` when it is 1 everywhere.
fn rope_magnitude(magnitude: f32, dims: usize, head_dim: usize) -> Option<Array> {
    (magnitude != 1.0).then(|| {
        let m: Vec<f32> = (0..head_dim).map(|i| if i < dims { magnitude } else { 1.0 }).collect();
        Array::from_slice(&m, &[head_dim as i32])
    })
}

impl Model {
    pub fn load(t: &mut Tensors, d: &ModelDesc) -> Result<Self> {
        let spec = d.spec();
        let h = d.hidden;
        let norm = |t: &mut Tensors, name: &str, len: usize| norm_weight(t, name, len, spec.norm);
        let act = spec.activation;
        let embed = Linear::load(t, "model.embed_tokens", d.vocab, h)?;
        let mut blocks = Vec::with_capacity(d.n_layers());
        for (i, layer) in d.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            let rotation = d.rope(layer).map_err(|r| t.invalid(r))?;
            let cfg = AttentionConfig {
                n_heads: layer.n_head,
                n_kv_heads: layer.n_kv_head,
                head_dim: d.head_dim,
                scale: d.attn_scale,
                rope: layer.rope.then(|| Rope {
                    dims: d.rope_dims,
                    traditional: spec.hf_rope_interleaved,
                    base: layer.rope_base,
                    freqs: rotation.divisors.map(|v| rope_freqs(&v, d.rope_dims, layer.rope_base)),
                    magnitude: rope_magnitude(rotation.magnitude, d.rope_dims, d.head_dim),
                }),
                softcap: d.attn_softcap,
                reach: layer.reach(),
                unit_qk_norm: (d.qk_unit_norm && layer.rope).then_some(d.norm_eps),
                temperature: d.query_temperature.filter(|_| !layer.rope),
                max_len: d.context_length,
            };
            let parts = AttentionParts {
                fused_qkv: spec.fused_qkv,
                qkv_bias: d.qkv_bias,
                out_bias: spec.attn_out_bias,
                sinks: spec.attn_sinks,
            };
            let mut attn = load_attention(t, &format!("{p}.self_attn"), h, cfg, parts)?;
            if spec.qk_norm {
                attn.qk_norm = Some((
                    norm(t, &format!("{p}.self_attn.q_norm.weight"), d.head_dim)?,
                    norm(t, &format!("{p}.self_attn.k_norm.weight"), d.head_dim)?,
                    d.norm_eps,
                ));
            }
            let (post_attn, pre_ffn) = match spec.sandwich_norms {
                true => ("post_attention_layernorm", "pre_feedforward_layernorm"),
                false => ("", "post_attention_layernorm"),
            };
            let post_attn_norm = match spec.sandwich_norms {
                true => Some(norm(t, &format!("{p}.{post_attn}.weight"), h)?),
                false => None,
            };
            let post_ffn_norm = match spec.sandwich_norms {
                true => Some(norm(t, &format!("{p}.post_feedforward_layernorm.weight"), h)?),
                false => None,
            };
            blocks.push(Block {
                input_norm: norm(t, &format!("{p}.input_layernorm.weight"), h)?,
                attn,
                post_attn_norm,
                ffn_norm: norm(t, &format!("{p}.{pre_ffn}.weight"), h)?,
                ffn: match (d.moe.as_ref().filter(|_| layer.experts), spec.moe) {
                    (Some(m), Some(names)) => Ffn::Experts(Box::new(Moe::load(
                        t,
                        &format!("{p}.{}", names.block),
                        h,
                        m,
                        &names,
                        act,
                    )?)),
                    _ => Ffn::Dense(Mlp::load(
                        t,
                        &format!("{p}.{}", spec.hf_ffn),
                        (h, d.intermediate),
                        spec.fused_gate_up,
                        act,
                    )?),
                },
                post_ffn_norm,
            });
        }
        let final_norm = norm(t, "model.norm.weight", h)?;
        let lm_head = Linear::load_optional(t, "lm_head", d.vocab, h)?;
        if lm_head.is_none() && !d.tied_embeddings {
            return Err(t.invalid("tensor `lm_head.weight` is missing (the config does not tie embeddings)"));
        }
        let embed_scale = match spec.embed_scale {
            EmbedScale::None => None,
            // mlx-lm (like HF) rounds Gemma 3's scale to bf16; its Gemma 2 keeps f32.
            EmbedScale::SqrtHidden if d.family == Family::Gemma3 => Some(round_to_bf16((h as f32).sqrt())),
            EmbedScale::SqrtHidden => Some((h as f32).sqrt()),
        };
        Ok(Model {
            embed,
            embed_scale,
            blocks,
            norm: final_norm,
            lm_head,
            eps: d.norm_eps,
            final_softcap: d.final_softcap,
            routing: None,
            experts: d.moe.as_ref().map(|m| (m.experts, m.experts_used)),
        })
    }

    /// Starts or stops recording routing; `false` for a model without experts.
    pub fn record_routing(&mut self, on: bool) -> bool {
        let Some((experts, used)) = self.experts else {
            return false;
        };
        self.routing = on.then(|| RoutingLog::new(self.blocks.len(), experts, used));
        true
    }

    /// `ids` (`[rows]`, i32): the tokens of `segments` one after the other, each segment one
    /// sequence's next tokens in its own slot. Returns each segment's last logits,
    /// `[segments, vocab]`.
    pub fn forward(&mut self, ids: &Array, segments: &[Segment]) -> MResult<Array> {
        let mut x = self.embed.rows(ids)?.expand_dims(0)?;
        if let Some(s) = self.embed_scale {
            x = x.multiply(Array::from_f32(s))?;
        }
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let r = b.attn.forward(&rms_norm(&x, &b.input_norm, self.eps)?, segments)?;
            let r = match &b.post_attn_norm {
                Some(n) => rms_norm(&r, n, self.eps)?,
                None => r,
            };
            x = x.add(r)?;
            let normed = rms_norm(&x, &b.ffn_norm, self.eps)?;
            let r = match &b.ffn {
                Ffn::Dense(mlp) => mlp.forward(&normed)?,
                Ffn::Experts(moe) => {
                    let (r, chosen) = moe.forward(&normed)?;
                    if let Some(log) = &mut self.routing {
                        // Read back to the host: recording costs a sync per layer.
                        // (A cast copies the partition's strided view into a contiguous array.)
                        let chosen = chosen.as_dtype(mlx_rs::Dtype::Int32)?;
                        chosen.eval()?;
                        let ids = chosen
                            .try_as_slice::<i32>()
                            .map_err(|e| mlx_rs::error::Exception::custom(e.to_string()))?;
                        log.record(i, &ids.iter().map(|&e| e as u32).collect::<Vec<_>>());
                    }
                    r
                }
            };
            let r = match &b.post_ffn_norm {
                Some(n) => rms_norm(&r, n, self.eps)?,
                None => r,
            };
            x = x.add(r)?;
        }
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        let logits = output_logits(&x, segments, &self.norm, self.eps, head)?;
        match self.final_softcap {
            Some(cap) => mlx_rs::ops::tanh(&logits.divide(Array::from_f32(cap))?)?.multiply(Array::from_f32(cap)),
            None => Ok(logits),
        }
    }

    /// Every layer's cache of `slot`.
    pub fn caches(&self, slot: usize) -> impl Iterator<Item = &KvCache> {
        self.blocks.iter().filter_map(move |b| b.attn.caches.get(slot))
    }

    /// Every layer's cache of `slot`, to change.
    pub fn caches_mut(&mut self, slot: usize) -> impl Iterator<Item = &mut KvCache> {
        self.blocks.iter_mut().filter_map(move |b| b.attn.caches.get_mut(slot))
    }

    /// `n` slots in every layer (the first kept as it is).
    pub fn set_slots(&mut self, n: usize) {
        for b in &mut self.blocks {
            b.attn.caches.resize_with(n.max(1), KvCache::default);
        }
    }

    /// Every cache of every slot.
    pub fn all_caches(&self) -> impl Iterator<Item = &KvCache> {
        self.blocks.iter().flat_map(|b| &b.attn.caches)
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
