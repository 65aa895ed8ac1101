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

/// Embedding rows are multiplied by √hidden (Gemma).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedScale {
    None,
    SqrtHidden,
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
        }
    }

    /// The family of a GGUF `general.architecture` (Mistral files say `llama`).
    pub fn from_gguf_arch(arch: &str) -> Option<Family> {
        FAMILIES.iter().find(|f| f.gguf_arch == arch).map(|f| f.family)
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
    let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.gguf_arch).collect();
    names.dedup();
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
