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
    supported_gguf_archs, supported_hf_types, Activation, EmbedScale, Family, FamilySpec, MoeNames, NormStyle,
    SlidingLayers, FAMILIES,
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
    /// Every layer's feed-forward is a mixture of experts.
    pub moe: Option<MoeDesc>,
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
    /// for a dense model; for a mixture of experts, `experts_used` against `experts` gated MLPs
    /// (plus the router).
    pub fn ffn_params(&self) -> (u64, u64) {
        let h = self.hidden as u64;
        let per_layer = |n: u64, ff: u64| 3 * h * ff * n;
        let (active, total) = match &self.moe {
            None => {
                let p = per_layer(1, self.intermediate as u64);
                (p, p)
            }
            Some(m) => {
                let router = h * m.experts as u64;
                let ff = m.expert_ff as u64;
                (
                    per_layer(m.experts_used as u64, ff) + router,
                    per_layer(m.experts as u64, ff) + router,
                )
            }
        };
        let n = self.n_layers() as u64;
        (active * n, total * n)
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

    /// KV-cache bytes per position as our engines hold it (K and V, f32, every layer).
    pub fn kv_bytes_per_token(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| 2 * l.n_kv_head as u64 * self.head_dim as u64 * 4)
            .sum()
    }

    /// Which layers slide, given the model's window.
    fn sliding_window_of(spec: &FamilySpec, layer: usize, window: Option<usize>) -> Option<usize> {
        let window = window?;
        match spec.sliding {
            SlidingLayers::None => None,
            SlidingLayers::All => Some(window),
            SlidingLayers::AllButEvery(n) => (layer % n < n - 1).then_some(window),
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
