//! The pieces of the one decoder block on MLX arrays: (quantized) linear layers and embeddings,
//! RMS norm, activations, the growable KV cache and grouped-query attention (optional biases,
//! fused QKV, Q/K norms, partial and scaled RoPE, soft-capping, sliding window).

use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::ops::indexing::{IndexOp, TryIndexMutOp};
use mlx_rs::ops::{self, dequantize, quantized_matmul};
use mlx_rs::{Array, Dtype};

use crate::config::QuantSpec;
use crate::tensors::Tensors;
use parallax_core::arch::{Activation, QueryTemperature, Reach};

pub type MResult<T> = std::result::Result<T, mlx_rs::error::Exception>;

/// `y = x Wᵀ`, with W dense or MLX-affine-quantized (packed u32 + per-group scales and biases).
pub enum Linear {
    Dense {
        w: Array,
    },
    Quantized {
        w: Array,
        scales: Array,
        biases: Array,
        spec: QuantSpec,
    },
    /// MLX's `mxfp4` mode: packed E2M1 codes and E8M0 scale bytes per 32 weights, no biases.
    Mxfp4 {
        w: Array,
        scales: Array,
    },
}

impl Linear {
    /// Loads `{module}.weight` (and `.scales`/`.biases` when quantized), checking the shapes
    /// against `[out_dim, in_dim]`.
    pub fn load(t: &mut Tensors, module: &str, out_dim: usize, in_dim: usize) -> parallax_core::Result<Self> {
        Self::load_stacked(t, module, &[], out_dim, in_dim)
    }

    /// As [`Linear::load`], for matrices stacked along leading axes `lead` (a mixture's
    /// experts: `[experts, out_dim, in_dim]`).
    pub fn load_stacked(
        t: &mut Tensors,
        module: &str,
        lead: &[usize],
        out_dim: usize,
        in_dim: usize,
    ) -> parallax_core::Result<Self> {
        let w = t.take(&format!("{module}.weight"))?;
        match t.take_optional(&format!("{module}.scales")) {
            None => {
                t.expect_shape(module, &w, &[lead, &[out_dim, in_dim]].concat())?;
                Ok(Linear::Dense { w })
            }
            Some(scales) if scales.dtype() == Dtype::Uint8 => {
                let want = |per: usize| [lead, &[out_dim, in_dim / per]].concat();
                t.expect_shape(module, &w, &want(8))?;
                t.expect_shape(&format!("{module}.scales"), &scales, &want(crate::mxfp4::GROUP))?;
                if !in_dim.is_multiple_of(crate::mxfp4::GROUP) || w.dtype() != Dtype::Uint32 {
                    return Err(t.invalid(format!("MXFP4 `{module}`: {in_dim} columns in u32 words of 8 codes")));
                }
                Ok(Linear::Mxfp4 { w, scales })
            }
            Some(scales) => {
                let biases = t.take(&format!("{module}.biases"))?;
                let shape = shape_usize(&w);
                if shape.len() != lead.len() + 2 || shape[..lead.len()] != *lead {
                    return Err(t.invalid(format!(
                        "`{module}.weight` has shape {shape:?}, expected {} axes starting {lead:?}",
                        lead.len() + 2
                    )));
                }
                let spec = t.infer_quant(module, &w, &scales, out_dim, in_dim)?;
                t.expect_shape(module, &biases, &shape_usize(&scales))?;
                Ok(Linear::Quantized {
                    w,
                    scales,
                    biases,
                    spec,
                })
            }
        }
    }

    /// `{module}` when the checkpoint has it (e.g. an untied `lm_head`).
    pub fn load_optional(
        t: &mut Tensors,
        module: &str,
        out_dim: usize,
        in_dim: usize,
    ) -> parallax_core::Result<Option<Self>> {
        match t.contains(&format!("{module}.weight")) {
            true => Linear::load(t, module, out_dim, in_dim).map(Some),
            false => Ok(None),
        }
    }

    pub fn forward(&self, x: &Array) -> MResult<Array> {
        match self {
            Linear::Dense { w } => ops::matmul(x, w.t()),
            Linear::Quantized {
                w,
                scales,
                biases,
                spec,
            } => quantized_matmul(x, w, scales, biases, true, spec.group_size, spec.bits),
            Linear::Mxfp4 { w, scales } => crate::mxfp4::matmul(x, w, scales),
        }
    }

    /// Rows `ids` of the weight, dequantized: the embedding lookup of a (tied) embedding table.
    pub fn rows(&self, ids: &Array) -> MResult<Array> {
        match self {
            Linear::Dense { w } => w.take_axis(ids, 0),
            Linear::Quantized {
                w,
                scales,
                biases,
                spec,
            } => dequantize(
                w.take_axis(ids, 0)?,
                scales.take_axis(ids, 0)?,
                &biases.take_axis(ids, 0)?,
                spec.group_size,
                spec.bits,
            ),
            Linear::Mxfp4 { w, scales } => crate::mxfp4::dequantize(&w.take_axis(ids, 0)?, &scales.take_axis(ids, 0)?),
        }
    }
}

/// The logits of the last position: final norm, then the output projection (the tied
/// embedding where the model has no `lm_head`).
/// The logits of each segment's last row of `x` (`[1, rows, hidden]`): `[segments, vocab]`.
pub fn output_logits(x: &Array, segments: &[Segment], norm: &Array, eps: f32, head: &Linear) -> MResult<Array> {
    let mut at = 0i32;
    let mut lasts = Vec::with_capacity(segments.len());
    for s in segments {
        at += s.len as i32;
        lasts.push(x.index((.., at - 1, ..)));
    }
    let last = match lasts.len() {
        1 => lasts.remove(0),
        _ => ops::concatenate(&lasts, 0)?,
    };
    head.forward(&rms_norm(&last, norm, eps)?)
}

pub fn shape_usize(a: &Array) -> Vec<usize> {
    a.shape().iter().map(|&d| d as usize).collect()
}

pub fn rms_norm(x: &Array, weight: &Array, eps: f32) -> MResult<Array> {
    fast::rms_norm(x, Some(weight), eps)
}

/// `x·σ(x)`, written out rather than mlx-rs's compiled version: MLX's CPU compiler would build
/// C++ at run time.
pub fn silu(x: &Array) -> MResult<Array> {
    x.multiply(ops::sigmoid(x)?)
}

/// GELU, tanh approximation (MLX `nn.gelu_approx`): `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
pub fn gelu_approx(x: &Array) -> MResult<Array> {
    let c = Array::from_f32((2.0 / std::f32::consts::PI).sqrt());
    let cube = x.multiply(x)?.multiply(x)?;
    let inner = x.add(cube.multiply(Array::from_f32(0.044715))?)?.multiply(&c)?;
    x.multiply(Array::from_f32(0.5))?
        .multiply(ops::tanh(&inner)?.add(Array::from_f32(1.0))?)
}

/// `act(gate) · up`, or GPT-OSS's clamped SwiGLU as mlx-lm's `swiglu_oai` computes it:
/// `g = min(gate, 7)`, `u = clamp(up, −7, 7)`, `g·σ(1.702·g)·(u + 1)`.
pub fn gated(act: Activation, gate: &Array, up: &Array) -> MResult<Array> {
    match act {
        Activation::Silu => silu(gate)?.multiply(up),
        Activation::GeluTanh => gelu_approx(gate)?.multiply(up),
        Activation::SwigluClamped => {
            let g = ops::minimum(gate, Array::from_f32(7.0))?;
            let u = ops::maximum(ops::minimum(up, Array::from_f32(7.0))?, Array::from_f32(-7.0))?;
            g.multiply(ops::sigmoid(&g.multiply(Array::from_f32(1.702))?)?)?
                .multiply(u.add(Array::from_f32(1.0))?)
        }
    }
}

/// A projection with an optional bias (Qwen2's Q/K/V).
pub struct Biased {
    pub lin: Linear,
    pub bias: Option<Array>,
}

impl Biased {
    pub fn load(
        t: &mut Tensors,
        module: &str,
        out_dim: usize,
        in_dim: usize,
        bias: bool,
    ) -> parallax_core::Result<Self> {
        let lin = Linear::load(t, module, out_dim, in_dim)?;
        let bias = match bias {
            true => Some(t.vector(&format!("{module}.bias"), out_dim)?),
            false => None,
        };
        Ok(Biased { lin, bias })
    }

    pub fn forward(&self, x: &Array) -> MResult<Array> {
        let y = self.lin.forward(x)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}

/// Splits the last axis of `y` at `sizes` (cumulative cut points are computed here).
fn split_last(y: &Array, sizes: &[usize]) -> Vec<Array> {
    let mut start = 0i32;
    sizes
        .iter()
        .map(|&n| {
            let end = start + n as i32;
            let part = y.index((.., .., start..end));
            start = end;
            part
        })
        .collect()
}

/// Gate and up as two projections, or one fused `gate_up_proj` (gate rows, then up; Phi-3).
pub enum GateUp {
    Separate { gate: Linear, up: Linear },
    Fused { gate_up: Linear, inner: usize },
}

/// The gated MLP: `down(act(gate(x)) · up(x))`.
pub struct Mlp {
    pub gate_up: GateUp,
    pub down: Linear,
    pub act: Activation,
}

impl Mlp {
    pub fn load(
        t: &mut Tensors,
        prefix: &str,
        (hidden, inner): (usize, usize),
        fused: bool,
        act: Activation,
    ) -> parallax_core::Result<Self> {
        let gate_up = match fused {
            true => GateUp::Fused {
                gate_up: Linear::load(t, &format!("{prefix}.gate_up_proj"), 2 * inner, hidden)?,
                inner,
            },
            false => GateUp::Separate {
                gate: Linear::load(t, &format!("{prefix}.gate_proj"), inner, hidden)?,
                up: Linear::load(t, &format!("{prefix}.up_proj"), inner, hidden)?,
            },
        };
        Ok(Mlp {
            gate_up,
            down: Linear::load(t, &format!("{prefix}.down_proj"), hidden, inner)?,
            act,
        })
    }

    pub fn forward(&self, x: &Array) -> MResult<Array> {
        let (gate, up) = match &self.gate_up {
            GateUp::Separate { gate, up } => (gate.forward(x)?, up.forward(x)?),
            GateUp::Fused { gate_up, inner } => {
                let mut parts = split_last(&gate_up.forward(x)?, &[*inner, *inner]).into_iter();
                match (parts.next(), parts.next()) {
                    (Some(g), Some(u)) => (g, u),
                    _ => unreachable!("split_last returns one part per size"),
                }
            }
        };
        self.down.forward(&gated(self.act, &gate, &up)?)
    }
}

/// Q, K and V as three projections, or one fused `qkv_proj` (Q rows, K rows, V rows; Phi-3).
pub enum QkvProjection {
    Separate { q: Biased, k: Biased, v: Biased },
    Fused(Biased),
}

/// What a layer's attention is made of, beyond its sizes.
pub struct AttentionParts {
    pub fused_qkv: bool,
    pub qkv_bias: bool,
    /// A bias on the output projection (GPT-OSS).
    pub out_bias: bool,
    /// `{prefix}.sinks`: a logit per head that joins each softmax (GPT-OSS).
    pub sinks: bool,
}

/// Loads the projections of an attention layer (`{prefix}.q_proj` … or `{prefix}.qkv_proj`).
pub fn load_attention(
    t: &mut Tensors,
    prefix: &str,
    hidden: usize,
    cfg: AttentionConfig,
    parts: AttentionParts,
) -> parallax_core::Result<Attention> {
    let (q_out, kv_out) = (cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim);
    let bias = parts.qkv_bias;
    let qkv = match parts.fused_qkv {
        true => QkvProjection::Fused(Biased::load(
            t,
            &format!("{prefix}.qkv_proj"),
            q_out + 2 * kv_out,
            hidden,
            bias,
        )?),
        false => QkvProjection::Separate {
            q: Biased::load(t, &format!("{prefix}.q_proj"), q_out, hidden, bias)?,
            k: Biased::load(t, &format!("{prefix}.k_proj"), kv_out, hidden, bias)?,
            v: Biased::load(t, &format!("{prefix}.v_proj"), kv_out, hidden, bias)?,
        },
    };
    // mlx-lm names the parameter `sinks`; from a GGUF (`attn_sinks.weight`) it is `sinks.weight`.
    let sinks = match (parts.sinks, t.contains(&format!("{prefix}.sinks"))) {
        (true, true) => Some(t.vector(&format!("{prefix}.sinks"), cfg.n_heads)?),
        (true, false) => Some(t.vector(&format!("{prefix}.sinks.weight"), cfg.n_heads)?),
        (false, _) => None,
    };
    Ok(Attention {
        qkv,
        o: Biased::load(t, &format!("{prefix}.o_proj"), hidden, q_out, parts.out_bias)?,
        sinks,
        cfg,
        qk_norm: None,
        caches: vec![KvCache::default()],
    })
}

/// Keys and values of one layer, `[1, kv_heads, capacity, head_dim]`, of which the first
/// `len` positions are filled. Capacity doubles (from `MIN_CAPACITY`) up to the context length,
/// so appending costs amortised O(1) copies instead of one full copy per token.
#[derive(Default)]
pub struct KvCache {
    kv: Option<(Array, Array)>,
    len: usize,
}

const MIN_CAPACITY: usize = 256;

impl KvCache {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn capacity(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.shape()[2] as usize)
    }

    pub fn bytes(&self) -> u64 {
        self.kv.as_ref().map_or(0, |(k, v)| (k.nbytes() + v.nbytes()) as u64)
    }

    pub fn clear(&mut self) {
        self.kv = None;
        self.len = 0;
    }

    /// Keeps positions `0..len`; the rest is overwritten by the next append.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Appends `k`, `v` (`[1, kv_heads, n, head_dim]`) and returns every position so far.
    pub fn append(&mut self, k: &Array, v: &Array, max_len: usize) -> MResult<(Array, Array)> {
        let n = k.shape()[2] as usize;
        let end = self.len + n;
        if end > self.capacity() {
            let cap = end.next_power_of_two().max(MIN_CAPACITY).min(max_len.max(end));
            self.kv = Some(self.grown(k, v, cap)?);
        }
        let (keys, values) = self.kv.as_mut().expect("allocated above when too small");
        let (s, e) = (self.len as i32, end as i32);
        keys.try_index_mut((.., .., s..e, ..), k)?;
        values.try_index_mut((.., .., s..e, ..), v)?;
        self.len = end;
        Ok((keys.index((.., .., ..e, ..)), values.index((.., .., ..e, ..))))
    }

    fn grown(&self, k: &Array, v: &Array, cap: usize) -> MResult<(Array, Array)> {
        let grow = |old: Option<&Array>, like: &Array| -> MResult<Array> {
            let mut shape = like.shape().to_vec();
            shape[2] = (cap - self.len) as i32;
            let fresh = ops::zeros_dtype(&shape, like.dtype())?;
            match old {
                Some(old) if self.len > 0 => {
                    let kept = old.index((.., .., ..self.len as i32, ..));
                    ops::concatenate(&[kept, fresh], 2)
                }
                _ => Ok(fresh),
            }
        };
        let old = self.kv.as_ref();
        Ok((grow(old.map(|p| &p.0), k)?, grow(old.map(|p| &p.1), v)?))
    }
}

/// How one layer rotates queries and keys: the first `dims` of each head, split-halves (HF
/// layout) or consecutive pairs (`traditional`, Llama 4), with a base or, when the model scales
/// RoPE, MLX `freqs` (`base^(2i/d) · divisorᵢ`).
pub struct Rope {
    pub dims: usize,
    pub traditional: bool,
    pub base: f32,
    pub freqs: Option<Array>,
    /// `[head_dim]`: the magnitude over the rotated dimensions, 1 over the rest (YaRN,
    /// LongRoPE); `None` when it is 1.
    pub magnitude: Option<Array>,
}

impl Rope {
    fn apply(&self, x: &Array, offset: i32) -> MResult<Array> {
        let dims = self.dims as i32;
        let scaled;
        let x = match &self.magnitude {
            Some(m) => {
                scaled = x.multiply(m)?;
                &scaled
            }
            None => x,
        };
        match &self.freqs {
            Some(f) => fast::rope(x, dims, self.traditional, None, 1.0, offset, f),
            None => fast::rope(x, dims, self.traditional, self.base, 1.0, offset, None),
        }
    }
}

/// Sizes and options of one attention layer.
pub struct AttentionConfig {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub scale: f32,
    /// `None` on a layer without RoPE (Llama 4's global layers).
    pub rope: Option<Rope>,
    /// `cap · tanh(score / cap)` before the mask (Gemma 2).
    pub softcap: Option<f32>,
    /// Which earlier positions a query sees.
    pub reach: Reach,
    /// Unweighted RMS norms on queries and keys after RoPE, with this eps (Llama 4).
    pub unit_qk_norm: Option<f32>,
    /// Queries multiplied by their position's temperature (Llama 4's NoPE layers).
    pub temperature: Option<QueryTemperature>,
    pub max_len: usize,
}

/// Grouped-query attention with RoPE and optional Q/K norms.
pub struct Attention {
    pub cfg: AttentionConfig,
    pub qkv: QkvProjection,
    pub o: Biased,
    /// GPT-OSS's per-head sink logits.
    pub sinks: Option<Array>,
    /// Qwen3, Gemma 3: RMS norms on queries and keys, with their eps.
    pub qk_norm: Option<(Array, Array, f32)>,
    /// One KV cache per engine slot (sequence).
    pub caches: Vec<KvCache>,
}

/// A run of consecutive rows of a batched input that belong to one sequence: `len` tokens
/// appended to slot `slot`'s cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub slot: usize,
    pub len: usize,
}

impl Attention {
    fn project(&self, x: &Array) -> MResult<(Array, Array, Array)> {
        let c = &self.cfg;
        match &self.qkv {
            QkvProjection::Separate { q, k, v } => Ok((q.forward(x)?, k.forward(x)?, v.forward(x)?)),
            QkvProjection::Fused(qkv) => {
                let (q_out, kv_out) = (c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
                let mut parts = split_last(&qkv.forward(x)?, &[q_out, kv_out, kv_out]).into_iter();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(q), Some(k), Some(v)) => Ok((q, k, v)),
                    _ => unreachable!("split_last returns one part per size"),
                }
            }
        }
    }

    /// `x`: `[1, rows, hidden]`, the rows of `segments` one after the other, each at the
    /// positions after its slot's cache. The projections run over all rows at once (one weight
    /// read for every sequence); attention runs per segment against its own cache. Returns
    /// `[1, rows, hidden]`.
    pub fn forward(&mut self, x: &Array, segments: &[Segment]) -> MResult<Array> {
        let (q, k, v) = self.project(x)?;
        let mut outs = Vec::with_capacity(segments.len());
        let mut at = 0i32;
        for s in segments {
            let end = at + s.len as i32;
            let part = |t: &Array| t.index((.., at..end, ..));
            outs.push(self.attend(part(&q), part(&k), part(&v), s.slot)?);
            at = end;
        }
        let out = match outs.len() {
            1 => outs.remove(0),
            _ => ops::concatenate(&outs, 1)?,
        };
        self.o.forward(&out)
    }

    /// One sequence's projected queries, keys and values `[1, n, ·]` against slot `slot`'s
    /// cache; returns `[1, n, heads · head_dim]` before the output projection.
    fn attend(&mut self, q: Array, k: Array, v: Array, slot: usize) -> MResult<Array> {
        let c = &self.cfg;
        let n = q.shape()[1];
        let heads = |y: Array, h: usize| -> MResult<Array> {
            y.reshape(&[1, n, h as i32, c.head_dim as i32])?
                .transpose_axes(&[0, 2, 1, 3])
        };
        let (mut q, mut k, v) = (heads(q, c.n_heads)?, heads(k, c.n_kv_heads)?, heads(v, c.n_kv_heads)?);
        if let Some((qn, kn, eps)) = &self.qk_norm {
            q = rms_norm(&q, qn, *eps)?;
            k = rms_norm(&k, kn, *eps)?;
        }
        let Some(cache) = self.caches.get_mut(slot) else {
            return Err(mlx_rs::error::Exception::custom(format!("slot {slot} does not exist")));
        };
        let offset = cache.len();
        if let Some(rope) = &c.rope {
            q = rope.apply(&q, offset as i32)?;
            k = rope.apply(&k, offset as i32)?;
        }
        if let Some(eps) = c.unit_qk_norm {
            q = fast::rms_norm(&q, None, eps)?;
            k = fast::rms_norm(&k, None, eps)?;
        }
        if let Some(t) = c.temperature {
            let scales: Vec<f32> = (offset..offset + n as usize).map(|p| t.at(p)).collect();
            q = q.multiply(Array::from_slice(&scales, &[n, 1]))?;
        }
        let (keys, values) = cache.append(&k, &v, c.max_len)?;
        let mask = attention_mask(n as usize, cache.len(), c.reach);
        let out = match (c.softcap, &self.sinks) {
            (None, None) => match &mask {
                Mask::None => fast::scaled_dot_product_attention(&q, &keys, &values, c.scale, None, None)?,
                Mask::Causal => fast::scaled_dot_product_attention(
                    &q,
                    &keys,
                    &values,
                    c.scale,
                    ScaledDotProductAttentionMask::Causal,
                    None,
                )?,
                Mask::Array(m) => fast::scaled_dot_product_attention(&q, &keys, &values, c.scale, m, None)?,
            },
            (cap, sinks) => written_out_attention(&q, &keys, &values, c, cap, sinks.as_ref(), &mask)?,
        };
        out.transpose_axes(&[0, 2, 1, 3])?
            .reshape(&[1, n, (c.n_heads * c.head_dim) as i32])
    }
}

/// Attention written out, for Gemma 2's soft-capped scores and GPT-OSS's sinks (MLX's fused
/// kernel in mlx-rs takes neither): query heads sharing a KV head are grouped as
/// `[1, kv, rep, n, d]`, as mlx-lm does. A sink is one more score per head, with no value: it
/// joins the softmax and is dropped after it.
fn written_out_attention(
    q: &Array,
    k: &Array,
    v: &Array,
    c: &AttentionConfig,
    cap: Option<f32>,
    sinks: Option<&Array>,
    mask: &Mask,
) -> MResult<Array> {
    let n = q.shape()[2];
    let total = k.shape()[2];
    let (kv, rep, d) = (
        c.n_kv_heads as i32,
        (c.n_heads / c.n_kv_heads) as i32,
        c.head_dim as i32,
    );
    let q = q.multiply(Array::from_f32(c.scale))?.reshape(&[1, kv, rep, n, d])?;
    let k = k.expand_dims(2)?;
    let v = v.expand_dims(2)?;
    let scores = q.matmul(k.swap_axes(-1, -2)?)?;
    let capped = match cap {
        Some(cap) => ops::tanh(&scores.divide(Array::from_f32(cap))?)?.multiply(Array::from_f32(cap))?,
        None => scores,
    };
    let keep = match mask {
        Mask::None => None,
        Mask::Causal => Some(causal_keep(n as usize, total as usize)),
        Mask::Array(m) => Some(m.clone()),
    };
    let capped = match keep {
        Some(m) => ops::select(&m, &capped, Array::from_f32(f32::MIN))?,
        None => capped,
    };
    let probs = match sinks {
        None => ops::softmax_axis(&capped, -1, true)?,
        Some(s) => {
            let column = ops::broadcast_to(s.reshape(&[1, kv, rep, 1, 1])?, &[1, kv, rep, n, 1])?;
            let with_sinks = ops::concatenate(&[capped, column], -1)?;
            ops::softmax_axis(&with_sinks, -1, true)?.index((.., .., .., .., ..total))
        }
    };
    probs.matmul(&v)?.reshape(&[1, c.n_heads as i32, n, d])
}

/// `[n, total]` booleans: query `i` (at position `total - n + i`) sees keys up to itself.
fn causal_keep(n: usize, total: usize) -> Array {
    let first = total - n;
    let keep: Vec<bool> = (0..n).flat_map(|i| (0..total).map(move |j| j <= first + i)).collect();
    Array::from_slice(&keep, &[n as i32, total as i32])
}

enum Mask {
    None,
    Causal,
    Array(Array),
}

/// The mask for `n` new queries over `total` keys (the last `n` of which are the new ones; key
/// `j` is position `j`). MLX's causal mode aligns queries to the end of the keys; a window or
/// chunk that hides a key needs an explicit mask.
fn attention_mask(n: usize, total: usize, reach: Reach) -> Mask {
    let hides_keys = reach.first_visible(total - 1) > 0;
    match (n, hides_keys) {
        (1, false) => Mask::None,
        (_, false) => Mask::Causal,
        (_, true) => {
            let first = total - n;
            let keep: Vec<bool> = (0..n)
                .flat_map(|i| (0..total).map(move |j| j <= first + i && j >= reach.first_visible(first + i)))
                .collect();
            Mask::Array(Array::from_slice(&keep, &[n as i32, total as i32]))
        }
    }
}

/// `x` as f32 on the host, after evaluation.
pub fn to_f32_vec(x: &Array) -> MResult<Vec<f32>> {
    let x = if x.dtype() == Dtype::Float32 {
        x.clone()
    } else {
        x.as_dtype(Dtype::Float32)?
    };
    x.eval()?;
    x.try_as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .map_err(|e| mlx_rs::error::Exception::custom(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_mask_keeps_only_the_last_w_positions() {
        let Mask::Array(m) = attention_mask(2, 5, Reach::Window(3)) else {
            panic!("expected an explicit mask")
        };
        let keep = m.as_slice::<bool>().to_vec();
        // query 3 sees keys 1..=3; query 4 sees keys 2..=4
        assert_eq!(
            keep,
            vec![false, true, true, true, false, false, false, true, true, true]
        );
    }

    #[test]
    fn a_chunk_mask_keeps_only_the_querys_own_chunk() {
        let Mask::Array(m) = attention_mask(3, 6, Reach::Chunk(4)) else {
            panic!("expected an explicit mask")
        };
        let keep = m.as_slice::<bool>().to_vec();
        // queries 3, 4, 5: chunk 0..4 up to 3, then chunk 4..8 from 4
        let rows: Vec<Vec<bool>> = keep.chunks(6).map(<[bool]>::to_vec).collect();
        assert_eq!(rows[0], vec![true, true, true, true, false, false]);
        assert_eq!(rows[1], vec![false, false, false, false, true, false]);
        assert_eq!(rows[2], vec![false, false, false, false, true, true]);
    }

    #[test]
    fn without_a_reached_window_prefill_is_causal_and_decode_unmasked() {
        assert!(matches!(attention_mask(4, 4, Reach::Window(512)), Mask::Causal));
        assert!(matches!(attention_mask(1, 9, Reach::All), Mask::None));
        assert!(matches!(attention_mask(1, 9, Reach::Chunk(16)), Mask::None));
    }

    #[test]
    fn the_kv_cache_grows_and_keeps_what_it_had() {
        let mut cache = KvCache::default();
        let mut all = Vec::new();
        for step in 0..300 {
            let k = Array::from_slice(&[step as f32, -(step as f32)], &[1, 1, 1, 2]);
            all.extend([step as f32, -(step as f32)]);
            let (keys, _) = cache.append(&k, &k, 4096).expect("append");
            assert_eq!(keys.shape(), &[1, 1, step + 1, 2]);
        }
        assert_eq!(cache.len(), 300);
        assert_eq!(cache.capacity(), 512);
        let (keys, _) = cache
            .append(
                &Array::from_slice(&[0f32, 0.0], &[1, 1, 1, 2]),
                &Array::from_slice(&[0f32, 0.0], &[1, 1, 1, 2]),
                4096,
            )
            .expect("append");
        let got = to_f32_vec(&keys.index((.., .., ..300, ..))).expect("eval");
        assert_eq!(got, all);
    }
}
