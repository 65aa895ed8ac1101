//! One architecture description, read once from a GGUF header or an HF `config.json`, that
//! both engines build their forward pass from, and that the KV-memory estimate and
//! `parallax convert` read too. See `family.rs` for the per-family data and `names.rs` for
//! the GGUF ↔ HF tensor-name table.

mod family;
mod from_gguf;
mod from_hf;
mod names;
mod rope;
mod shapes;

pub use family::{
    supported_gguf_archs, supported_hf_types, Activation, EmbedScale, Family, FamilySpec, Gating, LocalAttention,
    MoeNames, NormStyle, SlidingLayers, FAMILIES,
};
pub use names::{gguf_to_hf_module, hf_to_gguf_module};
pub use rope::{longrope_magnitude, yarn_magnitude, RopeFreqs, RopeScaling};

/// Sizes and options of one layer where layers may differ.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDesc {
    pub n_head: usize,
    pub n_kv_head: usize,
    /// Keys further back than this many positions are not attended to.
    pub sliding_window: Option<usize>,
    pub rope_base: f32,
    /// Whether the model's RoPE scaling applies to this layer.
    pub rope_scaled: bool,
    /// Queries and keys are rotated (Llama 4's global layers are not: NoPE).
    pub rope: bool,
    /// A query sees the earlier keys of its own chunk of this many positions only (Llama 4).
    pub attention_chunk: Option<usize>,
    /// The feed-forward is the model's mixture of experts (else a dense MLP).
    pub experts: bool,
}

/// Which earlier positions a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    #[default]
    All,
    /// The last `n` positions, itself included.
    Window(usize),
    /// The positions of its own `n`-position chunk up to itself.
    Chunk(usize),
}

impl Reach {
    /// The first position a query at `p` sees.
    pub fn first_visible(self, p: usize) -> usize {
        match self {
            Reach::All => 0,
            Reach::Window(w) => (p + 1).saturating_sub(w),
            Reach::Chunk(c) => p - p % c.max(1),
        }
    }
}

/// Llama 4's query temperature on its NoPE layers: a query at position `p` is multiplied by
/// `ln(⌊(p + 1) / floor⌋ + 1) · scale + 1` (llama.cpp `f_attn_temp_scale`, mlx-lm `attn_scale`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryTemperature {
    pub floor: usize,
    pub scale: f32,
}

impl QueryTemperature {
    pub fn at(self, p: usize) -> f32 {
        (((p + 1) / self.floor.max(1)) as f32 + 1.0).ln() * self.scale + 1.0
    }
}

impl LayerDesc {
    /// A layer's RoPE follows its window: with a local base (Gemma 3), sliding layers use it and
    /// are not scaled (llama.cpp `freq_scale_swa = 1`); every other layer uses the global base.
    fn new(n_head: usize, n_kv_head: usize, sliding_window: Option<usize>, base: f32, local_base: Option<f32>) -> Self {
        let local = sliding_window.and(local_base);
        LayerDesc {
            n_head,
            n_kv_head,
            sliding_window,
            rope_base: local.unwrap_or(base),
            rope_scaled: local.is_none(),
            rope: true,
            attention_chunk: None,
            experts: false,
        }
    }

    pub fn reach(&self) -> Reach {
        match (self.sliding_window, self.attention_chunk) {
            (Some(w), _) => Reach::Window(w),
            (None, Some(c)) => Reach::Chunk(c),
            (None, None) => Reach::All,
        }
    }
}

/// A mixture-of-experts feed-forward: a router picks `experts_used` of `experts` gated MLPs
/// per token (softmax over all experts, the top ones kept) and mixes their outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct MoeDesc {
    pub experts: usize,
    pub experts_used: usize,
    /// One expert's inner size.
    pub expert_ff: usize,
    /// The kept experts' weights are renormalised to sum to 1 (llama.cpp always does this for
    /// these families; Qwen3-MoE's config says `norm_topk_prob`). GPT-OSS's softmax over the
    /// kept logits is the same thing.
    pub norm_topk: bool,
}

/// A decoder-only transformer as both engines build it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDesc {
    pub family: Family,
    pub hidden: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub context_length: usize,
    pub head_dim: usize,
    pub layers: Vec<LayerDesc>,
    pub norm_eps: f32,
    /// Rotated dimensions per head (fewer than `head_dim` with partial rotary).
    pub rope_dims: usize,
    pub rope_scaling: RopeScaling,
    /// Multiplier of `q·k` (1/√head_dim, or Gemma's `query_pre_attn_scalar`^-½).
    pub attn_scale: f32,
    /// `cap · tanh(x / cap)` on attention scores / final logits (Gemma 2).
    pub attn_softcap: Option<f32>,
    pub final_softcap: Option<f32>,
    pub qkv_bias: bool,
    pub tied_embeddings: bool,
    /// Gemma 3 local layers' RoPE base (kept for `parallax convert`).
    pub rope_local_base: Option<f32>,
    /// `query_pre_attn_scalar` as the config states it (Gemma), for `parallax convert`.
    pub query_pre_attn_scalar: Option<f32>,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    /// The mixture of experts of the layers that have one (`LayerDesc::experts`).
    pub moe: Option<MoeDesc>,
    /// Unweighted RMS norms on the rotated layers' queries and keys, after RoPE (Llama 4's
    /// `use_qk_norm`, its L2 norm).
    pub qk_unit_norm: bool,
    /// The query temperature of the layers without RoPE (Llama 4).
    pub query_temperature: Option<QueryTemperature>,
}

impl ModelDesc {
    pub fn spec(&self) -> &'static FamilySpec {
        self.family.spec()
    }

    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Weight parameters one token reads, and the model's total: attention, feed-forward and
    /// the output projection (the embedding counts once more in the total when untied).
    pub fn params(&self) -> (u64, u64) {
        let h = self.hidden as u64;
        let attn: u64 = self
            .layers
            .iter()
            .map(|l| 2 * h * (l.n_head * self.head_dim) as u64 + 2 * h * (l.n_kv_head * self.head_dim) as u64)
            .sum();
        let (ffn_active, ffn_total) = self.ffn_params();
        let output = h * self.vocab as u64;
        let embedding = if self.tied_embeddings { 0 } else { output };
        (attn + ffn_active + output, attn + ffn_total + output + embedding)
    }

    /// For a mixture of experts, the share of a file's `size_bytes` one token reads (by
    /// parameter count); `None` for a dense model.
    pub fn active_bytes_estimate(&self, size_bytes: u64) -> Option<u64> {
        self.moe.as_ref()?;
        let (active, total) = self.params();
        Some((size_bytes as f64 * active as f64 / total.max(1) as f64) as u64)
    }

    /// Parameters in the feed-forward that one token reads, and that the model holds: equal
    /// for a dense layer; for a mixture of experts, `experts_used` against `experts` gated MLPs
    /// (plus the router and a shared expert).
    pub fn ffn_params(&self) -> (u64, u64) {
        let h = self.hidden as u64;
        let mlp = |n: u64, ff: u64| 3 * h * ff * n;
        let dense = mlp(1, self.intermediate as u64);
        let shared = self.spec().moe.is_some_and(|n| n.shared.is_some());
        let (mut active, mut total) = (0, 0);
        for layer in &self.layers {
            match (&self.moe, layer.experts) {
                (Some(m), true) => {
                    let ff = m.expert_ff as u64;
                    let fixed = h * m.experts as u64 + if shared { mlp(1, ff) } else { 0 };
                    active += mlp(m.experts_used as u64, ff) + fixed;
                    total += mlp(m.experts as u64, ff) + fixed;
                }
                _ => {
                    active += dense;
                    total += dense;
                }
            }
        }
        (active, total)
    }

    /// How `layer` rotates, serving the model's whole context; `Err` says why the stored
    /// scaling cannot be used.
    pub fn rope(&self, layer: &LayerDesc) -> Result<RopeFreqs, String> {
        match layer.rope_scaled {
            true => self
                .rope_scaling
                .frequencies(self.rope_dims, layer.rope_base, self.context_length),
            false => Ok(RopeFreqs::PLAIN),
        }
    }

    /// KV-cache bytes per position with `elem_bytes`-wide elements (K and V, every layer).
    pub fn kv_bytes_per_token(&self, elem_bytes: usize) -> u64 {
        self.layers
            .iter()
            .map(|l| 2 * l.n_kv_head as u64 * self.head_dim as u64 * elem_bytes as u64)
            .sum()
    }

    /// Which layers slide, given the model's window.
    fn sliding_window_of(spec: &FamilySpec, layer: usize, window: Option<usize>) -> Option<usize> {
        let window = window?;
        match spec.sliding {
            SlidingLayers::None => None,
            SlidingLayers::All => Some(window),
            SlidingLayers::AllButEvery(_) => Self::is_local(spec, layer).then_some(window),
        }
    }

    /// Whether `layer` is one of the local layers of an `AllButEvery` pattern.
    fn is_local(spec: &FamilySpec, layer: usize) -> bool {
        match spec.sliding {
            SlidingLayers::AllButEvery(n) => layer % n < n - 1,
            _ => false,
        }
    }

    /// Llama 4's layer pattern: local layers attend within chunks of `chunk` and rotate, the
    /// others run without RoPE; with `experts_every`, every such layer (1-based) has experts.
    fn apply_layer_pattern(&mut self, chunk: Option<usize>, experts_every: usize) {
        let spec = self.spec();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.experts = self.moe.is_some() && (i + 1) % experts_every.max(1) == 0;
            if spec.local == LocalAttention::ChunkedWithNopeGlobals {
                let local = Self::is_local(spec, i);
                layer.sliding_window = None;
                layer.attention_chunk = chunk.filter(|_| local);
                layer.rope = local;
            }
        }
    }

    /// Checks the sizes every engine relies on; the reason names what is wrong.
    fn validate(&self) -> std::result::Result<(), String> {
        if self.hidden == 0 || self.layers.is_empty() || self.vocab == 0 || self.intermediate == 0 {
            return Err(format!(
                "empty sizes: hidden {}, layers {}, vocab {}, intermediate {}",
                self.hidden,
                self.layers.len(),
                self.vocab,
                self.intermediate
            ));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return Err(format!("head dim {} is not a positive even number", self.head_dim));
        }
        if self.rope_dims == 0 || self.rope_dims > self.head_dim || !self.rope_dims.is_multiple_of(2) {
            return Err(format!(
                "{} rotary dims do not fit head dim {}",
                self.rope_dims, self.head_dim
            ));
        }
        if let Some(m) = &self.moe {
            if m.experts == 0 || m.expert_ff == 0 {
                return Err(format!(
                    "mixture of experts with {} experts of inner size {}",
                    m.experts, m.expert_ff
                ));
            }
            if m.experts_used == 0 || m.experts_used > m.experts {
                return Err(format!(
                    "{} experts used per token, but the model has {} experts",
                    m.experts_used, m.experts
                ));
            }
        }
        for (i, l) in self.layers.iter().enumerate() {
            if l.n_head == 0 || l.n_kv_head == 0 || !l.n_head.is_multiple_of(l.n_kv_head) {
                return Err(format!(
                    "layer {i}: head counts {}/{} are inconsistent",
                    l.n_head, l.n_kv_head
                ));
            }
        }
        Ok(())
    }
}
