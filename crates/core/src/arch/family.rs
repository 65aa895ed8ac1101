//! The families Parallax runs, as data: what each one's decoder block is made of and what
//! llama.cpp's converter did to its weights. A new llama-like family is one entry here.

/// A model family. Several HF `model_type`s and GGUF architectures can map to one family
/// (Mistral GGUFs say `llama`; Gemma 3 has a text-only and a multimodal `model_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Phi3,
    Gemma2,
    Gemma3,
    Mixtral,
    Qwen3Moe,
    GptOss,
    Llama4,
}

/// How a normalisation weight is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormStyle {
    /// `x / rms(x) · w`.
    Rms,
    /// Gemma: HF stores `w` and computes `x / rms(x) · (1 + w)`; llama.cpp's converter stores
    /// `1 + w`, so on GGUF weights this is plain `Rms`.
    RmsPlusOne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Silu,
    /// GELU with the tanh approximation (`gelu_pytorch_tanh`).
    GeluTanh,
    /// GPT-OSS's clamped SwiGLU: `g = min(gate, 7)`, `u = clamp(up, −7, 7)`,
    /// `g·σ(1.702·g)·(u + 1)` (its `swiglu_limit` and α, fixed in llama.cpp and mlx-lm).
    SwigluClamped,
}

/// Which layers attend through a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlidingLayers {
    /// No layer, whatever the config says: llama.cpp forces Phi-3's window off and mlx-lm
    /// ignores it, so both references attend to the whole context.
    None,
    /// Every layer, when the model sets a window (Mistral, Phi-3).
    All,
    /// Every `n`-th layer is global, the others slide (llama.cpp `set_swa_pattern(n)`:
    /// layer `i` slides when `i % n < n - 1`). Gemma 2: 2, Gemma 3: 6.
    AllButEvery(usize),
}

/// What the local layers of an `AllButEvery` pattern do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalAttention {
    /// A window sliding with the query (Gemma, GPT-OSS).
    Sliding,
    /// Fixed chunks: a query sees the earlier keys of its own chunk only (Llama 4's
    /// `attention_chunk_size`); the global layers run without RoPE (NoPE), with the query
    /// temperature where the model tunes it.
    ChunkedWithNopeGlobals,
}

/// How the router's logits become the kept experts' weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gating {
    /// Softmax over every expert, the top ones kept, their weights mixing the outputs
    /// (llama.cpp `LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX`).
    Softmax,
    /// The top logits kept, their sigmoids scaling each expert's *input* (Llama 4; llama.cpp's
    /// `weight_before_ffn`).
    SigmoidScalesInput,
}

/// Embedding rows are multiplied by √hidden (Gemma).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedScale {
    None,
    SqrtHidden,
}

/// Where a mixture-of-experts family keeps its experts, in HF names. Routing is softmax over
/// every expert, then the top `experts_used` (Mixtral, Qwen3-MoE: llama.cpp's
/// `LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeNames {
    /// The block's module: it holds the router and the stacked experts (mlx-lm's layout).
    pub block: &'static str,
    /// One expert's gate, up and down projections as HF checkpoints store them, under
    /// `{block}.experts.{e}.`.
    pub expert_parts: [&'static str; 3],
    /// `config.json` keys: the expert count and one expert's inner size.
    pub count_key: &'static str,
    pub ff_key: &'static str,
    /// Biases on the router and on every expert's projections (GPT-OSS).
    pub biases: bool,
    /// The router's module in the block (`gate`; GPT-OSS: `router`).
    pub router: &'static str,
    /// The stacked experts' module in the block (mlx-lm's `switch_mlp`; GPT-OSS: `experts`).
    pub stacked: &'static str,
    pub gating: Gating,
    /// A dense gated MLP every token runs beside its experts, of the experts' inner size
    /// (Llama 4's `shared_expert`), as its module in the block.
    pub shared: Option<&'static str>,
    /// `config.json` key of the interleave step: every `step`-th layer has experts, the others
    /// a dense MLP (Llama 4's `interleave_moe_layer_step`; GGUF `interleave_moe_layer_step`).
    pub step_key: Option<&'static str>,
}

/// One family's block options and converter quirks.
#[derive(Debug, Clone, Copy)]
pub struct FamilySpec {
    pub family: Family,
    /// GGUF `general.architecture`.
    pub gguf_arch: &'static str,
    /// HF `model_type`s; the first is the one `parallax convert` writes.
    pub hf_types: &'static [&'static str],
    /// HF `architectures[0]` written by `parallax convert`.
    pub hf_class: &'static str,
    pub norm: NormStyle,
    pub activation: Activation,
    /// Biases on the Q, K and V projections (Qwen2); Llama reads `attention_bias`.
    pub qkv_bias: bool,
    /// Per-head RMS norms on queries and keys, before RoPE (Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// One `qkv_proj` (Q rows, then K, then V) instead of three projections (Phi-3).
    pub fused_qkv: bool,
    /// One `gate_up_proj` (gate rows, then up) instead of two (Phi-3).
    pub fused_gate_up: bool,
    /// Norms after attention and after the MLP, before each residual add (Gemma 2 and 3).
    pub sandwich_norms: bool,
    pub embed_scale: EmbedScale,
    pub sliding: SlidingLayers,
    /// llama.cpp's converter permutes Q/K rows of llama-family models for its interleaved
    /// ("normal") RoPE; every other family keeps HF's layout and runs NeoX RoPE.
    pub gguf_qk_permuted: bool,
    /// Default RMS epsilon where neither file states one.
    pub default_eps: f32,
    /// Default RoPE base where neither file states one.
    pub default_rope_base: f32,
    /// The feed-forward is a mixture of experts (every layer).
    pub moe: Option<MoeNames>,
    /// A bias on the attention's output projection (GPT-OSS).
    pub attn_out_bias: bool,
    /// A learned logit per head that joins every attention softmax (GPT-OSS's sinks).
    pub attn_sinks: bool,
    /// The GGUF name of the norm before the feed-forward (`post_attention_norm` for GPT-OSS).
    pub gguf_ffn_norm: &'static str,
    /// What the local layers of the `sliding` pattern do.
    pub local: LocalAttention,
    /// HF checkpoints already rotate consecutive pairs (Llama 4: mlx-lm's `traditional=True`),
    /// so llama.cpp runs its interleaved RoPE without permuting them.
    pub hf_rope_interleaved: bool,
    /// The feed-forward's module in HF names (`mlp`; Llama 4: `feed_forward`).
    pub hf_ffn: &'static str,
    /// `config.json` key of a dense layer's inner size (Llama 4: `intermediate_size_mlp`).
    pub hf_dense_ff_key: &'static str,
}

const LLAMA_LIKE: FamilySpec = FamilySpec {
    family: Family::Llama,
    gguf_arch: "llama",
    hf_types: &["llama"],
    hf_class: "LlamaForCausalLM",
    norm: NormStyle::Rms,
    activation: Activation::Silu,
    qkv_bias: false,
    qk_norm: false,
    fused_qkv: false,
    fused_gate_up: false,
    sandwich_norms: false,
    embed_scale: EmbedScale::None,
    sliding: SlidingLayers::All,
    gguf_qk_permuted: true,
    default_eps: 1e-5,
    default_rope_base: 10_000.0,
    moe: None,
    attn_out_bias: false,
    attn_sinks: false,
    gguf_ffn_norm: "ffn_norm",
    local: LocalAttention::Sliding,
    hf_rope_interleaved: false,
    hf_ffn: "mlp",
    hf_dense_ff_key: "intermediate_size",
};

const GEMMA_LIKE: FamilySpec = FamilySpec {
    norm: NormStyle::RmsPlusOne,
    activation: Activation::GeluTanh,
    sandwich_norms: true,
    embed_scale: EmbedScale::SqrtHidden,
    gguf_qk_permuted: false,
    default_eps: 1e-6,
    ..LLAMA_LIKE
};

/// Every family, in the order `parallax models` and errors list them.
pub const FAMILIES: &[FamilySpec] = &[
    LLAMA_LIKE,
    FamilySpec {
        family: Family::Mistral,
        hf_types: &["mistral"],
        hf_class: "MistralForCausalLM",
        ..LLAMA_LIKE
    },
    FamilySpec {
        family: Family::Qwen2,
        gguf_arch: "qwen2",
        hf_types: &["qwen2"],
        hf_class: "Qwen2ForCausalLM",
        qkv_bias: true,
        gguf_qk_permuted: false,
        default_eps: 1e-6,
        ..LLAMA_LIKE
    },
    FamilySpec {
        family: Family::Qwen3,
        gguf_arch: "qwen3",
        hf_types: &["qwen3"],
        hf_class: "Qwen3ForCausalLM",
        qk_norm: true,
        gguf_qk_permuted: false,
        default_eps: 1e-6,
        ..LLAMA_LIKE
    },
    FamilySpec {
        family: Family::Phi3,
        gguf_arch: "phi3",
        hf_types: &["phi3"],
        hf_class: "Phi3ForCausalLM",
        fused_qkv: true,
        fused_gate_up: true,
        sliding: SlidingLayers::None,
        gguf_qk_permuted: false,
        ..LLAMA_LIKE
    },
    FamilySpec {
        family: Family::Gemma2,
        gguf_arch: "gemma2",
        hf_types: &["gemma2"],
        hf_class: "Gemma2ForCausalLM",
        sliding: SlidingLayers::AllButEvery(2),
        ..GEMMA_LIKE
    },
    FamilySpec {
        family: Family::Gemma3,
        gguf_arch: "gemma3",
        hf_types: &["gemma3_text", "gemma3"],
        hf_class: "Gemma3ForCausalLM",
        qk_norm: true,
        sliding: SlidingLayers::AllButEvery(6),
        default_rope_base: 1_000_000.0,
        ..GEMMA_LIKE
    },
    // Mixtral GGUFs say `llama`; their experts tell them apart (`Family::from_gguf_arch`).
    FamilySpec {
        family: Family::Mixtral,
        hf_types: &["mixtral"],
        hf_class: "MixtralForCausalLM",
        default_rope_base: 1_000_000.0,
        moe: Some(MoeNames {
            block: "block_sparse_moe",
            expert_parts: ["w1", "w3", "w2"],
            count_key: "num_local_experts",
            ff_key: "intermediate_size",
            biases: false,
            router: "gate",
            stacked: "switch_mlp",
            gating: Gating::Softmax,
            shared: None,
            step_key: None,
        }),
        ..LLAMA_LIKE
    },
    FamilySpec {
        family: Family::Qwen3Moe,
        gguf_arch: "qwen3moe",
        hf_types: &["qwen3_moe"],
        hf_class: "Qwen3MoeForCausalLM",
        qk_norm: true,
        gguf_qk_permuted: false,
        default_eps: 1e-6,
        moe: Some(MoeNames {
            block: "mlp",
            expert_parts: ["gate_proj", "up_proj", "down_proj"],
            count_key: "num_experts",
            ff_key: "moe_intermediate_size",
            biases: false,
            router: "gate",
            stacked: "switch_mlp",
            gating: Gating::Softmax,
            shared: None,
            step_key: None,
        }),
        ..LLAMA_LIKE
    },
    // GPT-OSS: biased attention with sinks, every other layer a 128-token sliding window,
    // YaRN, and biased top-4 experts with the clamped SwiGLU (experts usually MXFP4, which
    // only the GGUF engine runs so far).
    FamilySpec {
        family: Family::GptOss,
        gguf_arch: "gpt-oss",
        hf_types: &["gpt_oss"],
        hf_class: "GptOssForCausalLM",
        activation: Activation::SwigluClamped,
        qkv_bias: true,
        sliding: SlidingLayers::AllButEvery(2),
        gguf_qk_permuted: false,
        moe: Some(MoeNames {
            block: "mlp",
            expert_parts: ["gate_proj", "up_proj", "down_proj"],
            count_key: "num_local_experts",
            ff_key: "intermediate_size",
            biases: true,
            router: "router",
            stacked: "experts",
            gating: Gating::Softmax,
            shared: None,
            step_key: None,
        }),
        attn_out_bias: true,
        attn_sinks: true,
        gguf_ffn_norm: "post_attention_norm",
        ..LLAMA_LIKE
    },
    // Llama 4 (text): three chunked-attention layers with RoPE and unit-norm Q/K, then one
    // global layer without RoPE (query temperature); experts every `interleave_moe_layer_step`
    // layers, top-1 by sigmoid with a shared expert; HF weights already in interleaved-pair
    // order, so llama.cpp's converter does not permute them.
    FamilySpec {
        family: Family::Llama4,
        gguf_arch: "llama4",
        hf_types: &["llama4"],
        hf_class: "Llama4ForConditionalGeneration",
        sliding: SlidingLayers::AllButEvery(4),
        gguf_qk_permuted: false,
        default_rope_base: 500_000.0,
        moe: Some(MoeNames {
            block: "feed_forward",
            expert_parts: ["gate_proj", "up_proj", "down_proj"],
            count_key: "num_local_experts",
            ff_key: "intermediate_size",
            biases: false,
            router: "router",
            stacked: "experts",
            gating: Gating::SigmoidScalesInput,
            shared: Some("shared_expert"),
            step_key: Some("interleave_moe_layer_step"),
        }),
        local: LocalAttention::ChunkedWithNopeGlobals,
        hf_rope_interleaved: true,
        hf_ffn: "feed_forward",
        hf_dense_ff_key: "intermediate_size_mlp",
        ..LLAMA_LIKE
    },
];

impl Family {
    pub fn spec(self) -> &'static FamilySpec {
        FAMILIES
            .iter()
            .find(|f| f.family == self)
            .expect("every Family variant has an entry in FAMILIES")
    }

    /// The family's short name, as `parallax models` and `ModelInfo.architecture` show it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Phi3 => "phi3",
            Family::Gemma2 => "gemma2",
            Family::Gemma3 => "gemma3",
            Family::Mixtral => "mixtral",
            Family::Qwen3Moe => "qwen3moe",
            Family::GptOss => "gpt-oss",
            Family::Llama4 => "llama4",
        }
    }

    /// The family of a GGUF `general.architecture` (Mistral files say `llama`); a file with
    /// experts (`{arch}.expert_count` > 0) is the architecture's mixture-of-experts family
    /// where it has one (Mixtral files say `llama` too).
    pub fn from_gguf_arch(arch: &str, has_experts: bool) -> Option<Family> {
        let mut of_arch = FAMILIES.iter().filter(|f| f.gguf_arch == arch);
        let first = of_arch.clone().next()?;
        Some(of_arch.find(|f| f.moe.is_some() == has_experts).unwrap_or(first).family)
    }

    pub fn from_hf_type(model_type: &str) -> Option<Family> {
        FAMILIES
            .iter()
            .find(|f| f.hf_types.contains(&model_type))
            .map(|f| f.family)
    }
}

/// "llama, qwen2, …": the GGUF architectures we run, for error messages.
pub fn supported_gguf_archs() -> String {
    let mut names: Vec<&str> = Vec::new();
    for f in FAMILIES {
        if !names.contains(&f.gguf_arch) {
            names.push(f.gguf_arch);
        }
    }
    names.join(", ")
}

/// The HF `model_type`s we run, for error messages.
pub fn supported_hf_types() -> String {
    FAMILIES
        .iter()
        .flat_map(|f| f.hf_types.iter().copied())
        .collect::<Vec<_>>()
        .join(", ")
}
