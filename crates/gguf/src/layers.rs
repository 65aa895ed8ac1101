//! The pieces of the one decoder block: a growable KV cache, RoPE (interleaved or halves,
//! partial, with frequency divisors), grouped-query attention with optional biases, fused QKV,
//! Q/K norms, soft-capping and a sliding window, and the gated MLP (optionally fused).

use crate::attention::Attend;
use crate::kernels::{Projections, QLinear};
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use parallax_core::arch::{Activation, QueryTemperature, Reach, RopeFreqs};

use crate::weights::Weights;

pub type CResult<T> = candle_core::Result<T>;

/// KV cache of one layer, `(1, n_kv_heads, rows, head_dim)`, grown as it fills so a short
/// chat does not pay for the whole context up front: by a quarter at a time (in steps of
/// `KV_STEP` positions), not by doubling, which left up to half of a long context's cache
/// allocated and unused (SmolLM2 at 4,224 positions held 8,192: 94 MB of f16 for nothing).
/// Held as f16 by default, as llama.cpp does (`KvCacheType`).
///
/// A sliding-window layer drops the keys no query can see any more when it would otherwise
/// grow, so it holds at most the window plus one batch (llama.cpp's SWA cache is sized the
/// same way): Gemma 3's 15 local layers keep ~1k positions, not the whole context. Its rows
/// then start at position `first`.
pub struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    /// Position of the first row held.
    first: usize,
    /// Rows held: positions `first..first + rows`.
    rows: usize,
    max_len: usize,
    dtype: DType,
    reach: Reach,
}

const KV_STEP: usize = 256;

impl KvCache {
    /// An empty cache of the same size, type and reach (another slot's).
    pub fn empty_like(&self) -> Self {
        KvCache::new(self.max_len, self.dtype, self.reach)
    }

    pub fn new(max_len: usize, dtype: DType, reach: Reach) -> Self {
        KvCache {
            k: None,
            v: None,
            first: 0,
            rows: 0,
            max_len,
            dtype,
            reach,
        }
    }

    /// Positions seen since the last reset.
    pub fn len(&self) -> usize {
        self.first + self.rows
    }

    /// Position of the first row held.
    pub fn first(&self) -> usize {
        self.first
    }

    pub fn reset(&mut self) {
        self.k = None;
        self.v = None;
        self.first = 0;
        self.rows = 0;
    }

    /// Whether positions `0..len` can be kept exactly: the next query (at `len`) must find
    /// every key its window reaches.
    pub fn can_keep(&self, len: usize) -> bool {
        len >= self.len() || self.first <= self.reach.first_visible(len)
    }

    /// Keeps positions `0..len` (the caller checked [`Self::can_keep`]); the rest is
    /// overwritten by the next append.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() && self.can_keep(len) {
            self.rows = len - self.first;
        }
    }

    /// Bytes allocated for keys and values.
    pub fn bytes(&self) -> u64 {
        [&self.k, &self.v]
            .iter()
            .filter_map(|t| t.as_ref())
            .map(|t| (t.elem_count() * t.dtype().size_in_bytes()) as u64)
            .sum()
    }

    /// Appends `(1, h, n, d)` keys and values; returns views of every row held (positions
    /// `first()..len()`).
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> CResult<(Tensor, Tensor)> {
        let n = k.dim(2)?;
        if self.len() + n > self.max_len {
            candle_core::bail!("KV cache full: {} positions > context {}", self.len() + n, self.max_len);
        }
        let capacity = self.k.as_ref().map(|t| t.dim(2)).transpose()?.unwrap_or(0);
        if self.reach != Reach::All && self.rows + n > capacity {
            // No new query looks back past the first one's window (or chunk).
            self.drop_before(self.reach.first_visible(self.len()))?;
        }
        let needed = self.rows + n;
        if needed > capacity {
            let new_cap = (capacity + capacity / 4)
                .max(needed)
                .next_multiple_of(KV_STEP)
                .min(self.max_len);
            self.k = Some(grow(self.k.take(), k, self.dtype, new_cap, self.rows)?);
            self.v = Some(grow(self.v.take(), v, self.dtype, new_cap, self.rows)?);
        }
        let (kc, vc) = match (&self.k, &self.v) {
            (Some(kc), Some(vc)) => (kc, vc),
            _ => candle_core::bail!("KV cache not allocated"),
        };
        #[cfg(feature = "cuda")]
        let stored = match crate::cuda::ours_on(kc.device()) {
            true => {
                crate::cuda::store_rows(kc, k, self.rows)?;
                crate::cuda::store_rows(vc, v, self.rows)?;
                true
            }
            false => false,
        };
        #[cfg(not(feature = "cuda"))]
        let stored = false;
        if !stored {
            kc.slice_set(&k.to_dtype(self.dtype)?.contiguous()?, 2, self.rows)?;
            vc.slice_set(&v.to_dtype(self.dtype)?.contiguous()?, 2, self.rows)?;
        }
        self.rows = needed;
        Ok((kc.narrow(2, 0, self.rows)?, vc.narrow(2, 0, self.rows)?))
    }

    /// Forgets the rows before position `pos`, moving the rest to the front.
    fn drop_before(&mut self, pos: usize) -> CResult<()> {
        let drop = pos.saturating_sub(self.first).min(self.rows);
        if drop == 0 {
            return Ok(());
        }
        let keep = self.rows - drop;
        for t in [&self.k, &self.v].into_iter().flatten() {
            if keep > 0 {
                t.slice_set(&t.narrow(2, drop, keep)?.force_contiguous()?, 2, 0)?;
            }
        }
        self.first += drop;
        self.rows = keep;
        Ok(())
    }
}

fn grow(old: Option<Tensor>, like: &Tensor, dtype: DType, cap: usize, len: usize) -> CResult<Tensor> {
    let (b, h, _, d) = like.dims4()?;
    let fresh = Tensor::zeros((b, h, cap, d), dtype, like.device())?;
    if let Some(old) = old {
        if len > 0 {
            fresh.slice_set(&old.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
        }
    }
    Ok(fresh)
}

/// RoPE tables for positions `start..start+n` over `dims` rotated dimensions, computed the
/// way ggml does (angle multiplied by the per-dimension scale step by step in f32, then divided
/// by the frequency's divisor when the model scales RoPE, cos and sin times the magnitude), so
/// results track llama.cpp closely.
pub fn rope_tables(start: usize, n: usize, rope: &RopeConfig, device: &Device) -> CResult<(Tensor, Tensor)> {
    let half = rope.dims / 2;
    let scale = rope.base.powf(-2.0 / rope.dims as f32);
    let mut cos = Vec::with_capacity(n * half);
    let mut sin = Vec::with_capacity(n * half);
    for p in start..start + n {
        let mut theta = p as f32;
        for i in 0..half {
            let t = match &rope.freqs.divisors {
                Some(d) => theta / d[i],
                None => theta,
            };
            cos.push(t.cos() * rope.freqs.magnitude);
            sin.push(t.sin() * rope.freqs.magnitude);
            theta *= scale;
        }
    }
    Ok((
        Tensor::from_vec(cos, (n, half), device)?,
        Tensor::from_vec(sin, (n, half), device)?,
    ))
}

/// How query/key pairs are rotated: GGUF llama weights are permuted for the interleaved form,
/// every other family uses the split-halves ("neox") form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    Interleaved,
    Halves,
}

#[derive(Clone)]
pub struct RopeConfig {
    pub style: RopeStyle,
    /// Rotated dimensions (the first `dims` of each head; the rest pass through).
    pub dims: usize,
    pub base: f32,
    /// Per-frequency divisors and the cos/sin magnitude (scaled RoPE).
    pub freqs: RopeFreqs,
    /// On a GPU, the tables of every position, computed once at load and shared by the layers
    /// of one configuration: each step narrows them instead of uploading new ones per layer.
    pub on_device: Option<Arc<(Tensor, Tensor)>>,
}

impl RopeConfig {
    /// The cos and sin tables of positions `start..start + n`.
    fn tables(&self, start: usize, n: usize, device: &Device) -> CResult<(Tensor, Tensor)> {
        match &self.on_device {
            Some(t) => Ok((t.0.narrow(0, start, n)?, t.1.narrow(0, start, n)?)),
            None => rope_tables(start, n, self, device),
        }
    }

    /// Whether `other` computes the same tables (the rotation style only applies them).
    pub fn same_tables(&self, other: &RopeConfig) -> bool {
        self.base == other.base && self.dims == other.dims && self.freqs == other.freqs
    }

    /// Rotates `x` `(b, h, seq, head_dim)` with the tables of its positions.
    fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> CResult<Tensor> {
        let rope = match self.style {
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i,
            RopeStyle::Halves => candle_nn::rotary_emb::rope,
        };
        let head_dim = x.dim(3)?;
        if self.dims == head_dim {
            return rope(x, cos, sin);
        }
        let rotated = rope(&x.narrow(3, 0, self.dims)?.contiguous()?, cos, sin)?;
        let kept = x.narrow(3, self.dims, head_dim - self.dims)?;
        Tensor::cat(&[&rotated, &kept], 3)?.contiguous()
    }
}

pub struct AttentionConfig {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rope: RopeConfig,
    pub scale: f64,
    /// `cap · tanh(score / cap)` before the mask (Gemma 2).
    pub softcap: Option<f64>,
    /// Which earlier positions a query sees.
    pub reach: Reach,
    /// Queries and keys are rotated (not on Llama 4's NoPE layers).
    pub rotate: bool,
    /// Unweighted RMS norms on queries and keys after RoPE, with this eps (Llama 4).
    pub unit_qk_norm: Option<f64>,
    /// Queries multiplied by their position's temperature (Llama 4's NoPE layers).
    pub temperature: Option<QueryTemperature>,
}

/// A projection with an optional bias (Qwen2's Q/K/V).
pub struct Linear {
    w: QLinear,
    b: Option<Tensor>,
}

impl Linear {
    pub fn load(w: &Weights, module: &str, bias: bool) -> CResult<Self> {
        let b = match bias {
            true => Some(w.bias(module)?),
            false => None,
        };
        Ok(Linear {
            w: w.matmul(&format!("{module}.weight"))?,
            b,
        })
    }

    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let y = self.w.forward(x)?;
        match &self.b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// Q, K and V as three projections (one op where our kernels run all three) with optional
/// biases, or one fused `attn_qkv` (Phi-3) split by rows.
enum QkvProjection {
    Separate {
        qkv: Projections,
        bias: Option<[Tensor; 3]>,
    },
    Fused(Linear),
}

pub struct Attention {
    qkv: QkvProjection,
    wo: QLinear,
    wo_bias: Option<Tensor>,
    sinks: Option<std::sync::Arc<[f32]>>,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    /// The unit weight and eps of `cfg.unit_qk_norm`, made once.
    unit_norm: Option<(Tensor, f32)>,
    cfg: AttentionConfig,
    /// One KV cache per engine slot (sequence).
    pub caches: Vec<KvCache>,
}

/// A run of consecutive rows of a batched input that belong to one sequence: `len` tokens
/// at positions `pos..pos + len` of slot `slot`'s cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub slot: usize,
    pub pos: usize,
    pub len: usize,
}

/// What a layer's attention is made of, beyond its sizes.
pub struct AttentionParts {
    pub fused_qkv: bool,
    pub qkv_bias: bool,
    pub qk_norm_eps: Option<f64>,
    pub out_bias: bool,
    pub sinks: bool,
}

impl Attention {
    pub fn load(
        w: &Weights,
        prefix: &str,
        cfg: AttentionConfig,
        parts: AttentionParts,
        cache: KvCache,
    ) -> CResult<Self> {
        let (q_norm, k_norm) = match parts.qk_norm_eps {
            Some(eps) => (
                Some(w.rms_norm(&format!("{prefix}.attn_q_norm.weight"), eps)?),
                Some(w.rms_norm(&format!("{prefix}.attn_k_norm.weight"), eps)?),
            ),
            None => (None, None),
        };
        let qkv = match parts.fused_qkv {
            true => QkvProjection::Fused(Linear::load(w, &format!("{prefix}.attn_qkv"), parts.qkv_bias)?),
            false => {
                let names = ["attn_q", "attn_k", "attn_v"].map(|m| format!("{prefix}.{m}"));
                let weights = names.each_ref().map(|m| format!("{m}.weight"));
                let bias = match parts.qkv_bias {
                    true => {
                        let [q, k, v] = &names;
                        Some([w.bias(q)?, w.bias(k)?, w.bias(v)?])
                    }
                    false => None,
                };
                QkvProjection::Separate {
                    qkv: w.projections(&weights)?,
                    bias,
                }
            }
        };
        let sinks = match parts.sinks {
            true => {
                let s = w.dense(&format!("{prefix}.attn_sinks.weight"))?.to_vec1::<f32>()?;
                if s.len() != cfg.n_head {
                    candle_core::bail!(
                        "{prefix}.attn_sinks.weight holds {} sinks for {} heads",
                        s.len(),
                        cfg.n_head
                    );
                }
                Some(s.into())
            }
            false => None,
        };
        let unit_norm = match cfg.unit_qk_norm {
            Some(eps) => Some((Tensor::ones(cfg.head_dim, DType::F32, &w.device)?, eps as f32)),
            None => None,
        };
        Ok(Attention {
            unit_norm,
            qkv,
            wo: w.matmul(&format!("{prefix}.attn_output.weight"))?,
            wo_bias: parts
                .out_bias
                .then(|| w.bias(&format!("{prefix}.attn_output")))
                .transpose()?,
            sinks,
            q_norm,
            k_norm,
            cfg,
            caches: vec![cache],
        })
    }

    fn project(&self, x: &Tensor) -> CResult<(Tensor, Tensor, Tensor)> {
        match &self.qkv {
            QkvProjection::Separate { qkv, bias } => {
                let Ok::<[Tensor; 3], _>([q, k, v]) = qkv.forward(x)?.try_into() else {
                    candle_core::bail!("three projections gave another number of outputs");
                };
                match bias {
                    Some([bq, bk, bv]) => Ok((q.broadcast_add(bq)?, k.broadcast_add(bk)?, v.broadcast_add(bv)?)),
                    None => Ok((q, k, v)),
                }
            }
            QkvProjection::Fused(qkv) => {
                let y = qkv.forward(x)?;
                let (q_dim, kv_dim) = (
                    self.cfg.n_head * self.cfg.head_dim,
                    self.cfg.n_kv_head * self.cfg.head_dim,
                );
                Ok((
                    y.narrow(2, 0, q_dim)?,
                    y.narrow(2, q_dim, kv_dim)?,
                    y.narrow(2, q_dim + kv_dim, kv_dim)?,
                ))
            }
        }
    }

    /// `x` is `(1, rows, hidden)`, the rows of `segments` one after the other; every row's keys
    /// and values go to its segment's cache. The projections run over all rows at once (one
    /// weight read for every sequence); attention runs per segment, against its own cache.
    /// Returns `(1, rows, hidden)`, or with `only_last` each segment's last row (the other
    /// queries are not computed).
    pub fn forward(&mut self, x: &Tensor, segments: &[Segment], only_last: bool) -> CResult<Tensor> {
        let (q, k, v) = self.project(x)?;
        let mut ys = Vec::with_capacity(segments.len());
        let mut at = 0;
        for s in segments {
            let part = |t: &Tensor| t.narrow(1, at, s.len);
            ys.push(self.attend(part(&q)?, part(&k)?, part(&v)?, *s, only_last)?);
            at += s.len;
        }
        let y = match ys.len() {
            1 => ys.remove(0),
            _ => Tensor::cat(&ys, 1)?,
        };
        let y = self.wo.forward(&y)?;
        match &self.wo_bias {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }

    /// One sequence's queries, keys and values `(1, seq, ·)` at `s.pos..`: returns the attention
    /// output `(1, seq or 1, n_head · head_dim)` before the output projection.
    fn attend(&mut self, q: Tensor, k: Tensor, v: Tensor, s: Segment, only_last: bool) -> CResult<Tensor> {
        let c = &self.cfg;
        let (b, seq, pos) = (1, s.len, s.pos);
        let heads = |t: Tensor, n: usize| t.reshape((b, seq, n, c.head_dim))?.transpose(1, 2)?.contiguous();
        let mut q = heads(q, c.n_head)?;
        let mut k = heads(k, c.n_kv_head)?;
        let v = heads(v, c.n_kv_head)?;
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            q = qn.forward(&q)?;
            k = kn.forward(&k)?;
        }
        if c.rotate {
            let (cos, sin) = c.rope.tables(pos, seq, q.device())?;
            q = c.rope.apply(&q, &cos, &sin)?;
            k = c.rope.apply(&k, &cos, &sin)?;
        }
        if let Some((ones, eps)) = &self.unit_norm {
            q = candle_nn::ops::rms_norm(&q, ones, *eps)?;
            k = candle_nn::ops::rms_norm(&k, ones, *eps)?;
        }
        if let Some(t) = c.temperature {
            let scales: Vec<f32> = (pos..pos + seq).map(|p| t.at(p)).collect();
            q = q.broadcast_mul(&Tensor::from_vec(scales, (1, 1, seq, 1), q.device())?)?;
        }
        let Some(cache) = self.caches.get_mut(s.slot) else {
            candle_core::bail!("slot {} does not exist ({} slots)", s.slot, self.caches.len());
        };
        let (k, v) = cache.append(&k, &v)?;
        let (q, seq, pos) = match only_last {
            true => (q.narrow(2, seq - 1, 1)?, 1, pos + seq - 1),
            false => (q, seq, pos),
        };
        let attend = Attend {
            n_head: c.n_head,
            n_kv_head: c.n_kv_head,
            head_dim: c.head_dim,
            scale: c.scale as f32,
            softcap: c.softcap.map(|cap| cap as f32),
            reach: c.reach,
            pos,
            first: cache.first(),
            sinks: self.sinks.clone(),
        };
        attend
            .forward(&q, &k, &v)?
            .reshape((b, c.n_head, seq, c.head_dim))?
            .transpose(1, 2)?
            .reshape((b, seq, c.n_head * c.head_dim))
    }
}

/// Gate and up as two projections (one op where our kernels run both), or one fused `ffn_up`
/// holding gate rows then up rows (Phi-3).
enum GateUp {
    Separate(Projections),
    Fused { gate_up: QLinear, inner: usize },
}

pub struct Mlp {
    gate_up: GateUp,
    down: QLinear,
    act: Activation,
    /// Gate, up and down biases (GPT-OSS's experts).
    biases: Option<[Tensor; 3]>,
}

impl Mlp {
    /// One expert of a mixture: its gate, up and down projections.
    pub fn from_parts(gate: QLinear, up: QLinear, down: QLinear, act: Activation, biases: Option<[Tensor; 3]>) -> Self {
        Mlp {
            gate_up: GateUp::Separate(Projections::new(vec![gate, up])),
            down,
            act,
            biases,
        }
    }

    /// The gate, up and down biases as plain rows (`None` without biases).
    pub fn bias_rows(&self) -> CResult<Option<[Vec<f32>; 3]>> {
        let Some([g, u, d]) = &self.biases else {
            return Ok(None);
        };
        Ok(Some([g.to_vec1()?, u.to_vec1()?, d.to_vec1()?]))
    }

    pub fn load(w: &Weights, prefix: &str, act: Activation, fused: Option<usize>) -> CResult<Self> {
        let gate_up = match fused {
            Some(inner) => GateUp::Fused {
                gate_up: w.matmul(&format!("{prefix}.ffn_up.weight"))?,
                inner,
            },
            None => GateUp::Separate(w.projections(&["ffn_gate", "ffn_up"].map(|m| format!("{prefix}.{m}.weight")))?),
        };
        Ok(Mlp {
            gate_up,
            down: w.matmul(&format!("{prefix}.ffn_down.weight"))?,
            act,
            biases: None,
        })
    }

    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let (gate, up) = match &self.gate_up {
            GateUp::Separate(gate_up) => {
                let Ok::<[Tensor; 2], _>([gate, up]) = gate_up.forward(x)?.try_into() else {
                    candle_core::bail!("two projections gave another number of outputs");
                };
                (gate, up)
            }
            GateUp::Fused { gate_up, inner } => {
                let y = gate_up.forward(x)?;
                let last = y.rank() - 1;
                (y.narrow(last, 0, *inner)?, y.narrow(last, *inner, *inner)?)
            }
        };
        let Some([bg, bu, bd]) = &self.biases else {
            return self.down.forward(&crate::gated::gated(self.act, &gate, &up)?);
        };
        let (gate, up) = (gate.broadcast_add(bg)?, up.broadcast_add(bu)?);
        self.down
            .forward(&crate::gated::gated(self.act, &gate, &up)?)?
            .broadcast_add(bd)
    }
}

/// Logits of the last position, as a flat `Vec<f32>`.
#[cfg(test)]
mod tests {
    use super::*;

    /// `(1, 1, n, 1)` keys whose values are their positions.
    fn positions(from: usize, n: usize) -> Tensor {
        let v: Vec<f32> = (from..from + n).map(|p| p as f32).collect();
        Tensor::from_vec(v, (1, 1, n, 1), &Device::Cpu).expect("tensor")
    }

    fn held(view: &Tensor) -> Vec<f32> {
        view.flatten_all().expect("flat").to_vec1().expect("vec")
    }

    #[test]
    fn a_sliding_window_cache_drops_only_keys_no_query_sees() {
        let mut c = KvCache::new(4096, DType::F32, Reach::Window(4));
        let (k, _) = c.append(&positions(0, 200), &positions(0, 200)).expect("append");
        assert_eq!(held(&k), (0..200).map(|p| p as f32).collect::<Vec<_>>());
        // Past the first allocation: the keys before position 200 + 1 − 4 go.
        let (k, v) = c.append(&positions(200, 200), &positions(200, 200)).expect("append");
        assert_eq!((c.first(), c.len()), (197, 400));
        let want: Vec<f32> = (197..400).map(|p| p as f32).collect();
        assert_eq!((held(&k), held(&v)), (want.clone(), want));
        assert!(c.can_keep(398) && c.can_keep(200) && c.can_keep(400) && c.can_keep(1000));
        assert!(
            !c.can_keep(199),
            "position 199's window reaches back to 196, which was dropped"
        );
        c.truncate(300);
        assert_eq!(c.len(), 300);
        let (k, _) = c.append(&positions(300, 1), &positions(300, 1)).expect("append");
        assert_eq!(held(&k).last(), Some(&300.0));
        assert_eq!(held(&k).len(), 104);
        c.reset();
        assert_eq!((c.first(), c.len()), (0, 0));
    }

    #[test]
    fn a_global_cache_keeps_every_position() {
        let mut c = KvCache::new(4096, DType::F32, Reach::All);
        c.append(&positions(0, 200), &positions(0, 200)).expect("append");
        let (k, _) = c.append(&positions(200, 200), &positions(200, 200)).expect("append");
        assert_eq!((c.first(), held(&k).len()), (0, 400));
        assert!(c.can_keep(0) && c.can_keep(1));
    }
}
