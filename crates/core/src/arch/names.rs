//! The GGUF (llama.cpp `LLM_TENSOR_NAMES`) ↔ Hugging Face module-name table. Names are modules,
//! without the `.weight` / `.bias` / `.scales` suffix.

use super::FamilySpec;

/// When a row of the table applies.
#[derive(Clone, Copy)]
enum When {
    Always,
    Sandwich,
    NotSandwich,
    FusedGateUp,
    NotFusedGateUp,
    /// GPT-OSS keeps its pre-feed-forward norm as `post_attention_norm`.
    PostAttentionFfnNorm,
}

/// Per-layer names: `blk.N.<gguf>` ↔ `model.layers.N.<hf>`.
const LAYER_NAMES: &[(&str, &str, When)] = &[
    ("attn_norm", "input_layernorm", When::Always),
    ("attn_q", "self_attn.q_proj", When::Always),
    ("attn_k", "self_attn.k_proj", When::Always),
    ("attn_v", "self_attn.v_proj", When::Always),
    ("attn_qkv", "self_attn.qkv_proj", When::Always),
    ("attn_output", "self_attn.o_proj", When::Always),
    ("attn_q_norm", "self_attn.q_norm", When::Always),
    ("attn_k_norm", "self_attn.k_norm", When::Always),
    ("ffn_gate", "mlp.gate_proj", When::Always),
    ("ffn_up", "mlp.up_proj", When::NotFusedGateUp),
    // llama.cpp keeps Phi-3's fused gate+up under the `ffn_up` name.
    ("ffn_up", "mlp.gate_up_proj", When::FusedGateUp),
    ("ffn_down", "mlp.down_proj", When::Always),
    ("ffn_norm", "post_attention_layernorm", When::NotSandwich),
    ("ffn_norm", "pre_feedforward_layernorm", When::Sandwich),
    ("post_attention_norm", "post_attention_layernorm", When::Sandwich),
    (
        "post_attention_norm",
        "post_attention_layernorm",
        When::PostAttentionFfnNorm,
    ),
    ("attn_sinks", "self_attn.sinks", When::Always),
    ("post_ffw_norm", "post_feedforward_layernorm", When::Sandwich),
];

const TOP_NAMES: &[(&str, &str)] = &[
    ("token_embd", "model.embed_tokens"),
    ("output_norm", "model.norm"),
    ("output", "lm_head"),
];

fn applies(when: When, spec: &FamilySpec) -> bool {
    match when {
        When::Always => true,
        When::Sandwich => spec.sandwich_norms,
        When::NotSandwich => !spec.sandwich_norms && spec.gguf_ffn_norm == "ffn_norm",
        When::PostAttentionFfnNorm => spec.gguf_ffn_norm == "post_attention_norm",
        When::FusedGateUp => spec.fused_gate_up,
        When::NotFusedGateUp => !spec.fused_gate_up,
    }
}

/// The router and the stacked experts (mlx-lm's `switch_mlp` layout), within the family's
/// expert block.
const MOE_NAMES: &[(&str, &str)] = &[
    ("ffn_gate_exps", "gate_proj"),
    ("ffn_up_exps", "up_proj"),
    ("ffn_down_exps", "down_proj"),
];

/// The GGUF names of one expert's gate, up and down projections in the per-expert layout
/// (`ffn_gate.{e}`), in the order of `MoeNames::expert_parts`.
const PER_EXPERT: [&str; 3] = ["ffn_gate", "ffn_up", "ffn_down"];

/// A shared expert's projections (Llama 4), within its module.
const SHARED_NAMES: &[(&str, &str)] = &[
    ("ffn_gate_shexp", "gate_proj"),
    ("ffn_up_shexp", "up_proj"),
    ("ffn_down_shexp", "down_proj"),
];

/// A layer's MoE tensor, GGUF part → HF part.
fn moe_to_hf(part: &str, spec: &FamilySpec) -> Option<String> {
    let moe = spec.moe?;
    if part == "ffn_gate_inp" {
        return Some(format!("{}.{}", moe.block, moe.router));
    }
    if let (Some(shared), Some((_, hf))) = (moe.shared, SHARED_NAMES.iter().find(|(g, _)| *g == part)) {
        return Some(format!("{}.{shared}.{hf}", moe.block));
    }
    if let Some((_, hf)) = MOE_NAMES.iter().find(|(g, _)| *g == part) {
        return Some(format!("{}.{}.{hf}", moe.block, moe.stacked));
    }
    let (name, expert) = part.split_once('.')?;
    let expert: usize = expert.parse().ok()?;
    let i = PER_EXPERT.iter().position(|g| *g == name)?;
    Some(format!("{}.experts.{expert}.{}", moe.block, moe.expert_parts[i]))
}

/// A layer's MoE tensor, HF part → GGUF part.
fn moe_to_gguf(part: &str, spec: &FamilySpec) -> Option<String> {
    let moe = spec.moe?;
    let inner = part.strip_prefix(moe.block)?.strip_prefix('.')?;
    if inner == moe.router {
        return Some("ffn_gate_inp".to_owned());
    }
    let shared = moe
        .shared
        .and_then(|s| inner.strip_prefix(s))
        .and_then(|p| p.strip_prefix('.'));
    if let Some((g, _)) = shared.and_then(|p| SHARED_NAMES.iter().find(|(_, h)| *h == p)) {
        return Some((*g).to_owned());
    }
    let stacked = inner.strip_prefix(moe.stacked).and_then(|s| s.strip_prefix('.'));
    if let Some((g, _)) = stacked.and_then(|p| MOE_NAMES.iter().find(|(_, h)| *h == p)) {
        return Some((*g).to_owned());
    }
    let (expert, name) = inner.strip_prefix("experts.")?.split_once('.')?;
    let expert: usize = expert.parse().ok()?;
    let i = moe.expert_parts.iter().position(|h| *h == name)?;
    Some(format!("{}.{expert}", PER_EXPERT[i]))
}

/// `blk.3.ffn_norm` → `model.layers.3.post_attention_layernorm` (for this family), or `None`
/// for tensors that have no HF counterpart (e.g. `rope_freqs`).
pub fn gguf_to_hf_module(gguf: &str, spec: &FamilySpec) -> Option<String> {
    if let Some((_, hf)) = TOP_NAMES.iter().find(|(g, _)| *g == gguf) {
        return Some((*hf).to_owned());
    }
    let (layer, part) = gguf.strip_prefix("blk.")?.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    if let Some(hf) = moe_to_hf(part, spec) {
        return Some(format!("model.layers.{layer}.{hf}"));
    }
    let (_, hf, _) = LAYER_NAMES
        .iter()
        .find(|(g, _, when)| *g == part && applies(*when, spec))?;
    // The table says `mlp.`; Llama 4 calls its feed-forward `feed_forward.`.
    let hf = match hf.strip_prefix("mlp.") {
        Some(rest) => format!("{}.{rest}", spec.hf_ffn),
        None => (*hf).to_owned(),
    };
    Some(format!("model.layers.{layer}.{hf}"))
}

/// The inverse of [`gguf_to_hf_module`].
pub fn hf_to_gguf_module(hf: &str, spec: &FamilySpec) -> Option<String> {
    if let Some((g, _)) = TOP_NAMES.iter().find(|(_, h)| *h == hf) {
        return Some((*g).to_owned());
    }
    let (layer, part) = hf.strip_prefix("model.layers.")?.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    if let Some(g) = moe_to_gguf(part, spec) {
        return Some(format!("blk.{layer}.{g}"));
    }
    let part = match part.strip_prefix(spec.hf_ffn).and_then(|p| p.strip_prefix('.')) {
        Some(rest) => format!("mlp.{rest}"),
        None if spec.hf_ffn != "mlp" && part.starts_with("mlp.") => return None,
        None => part.to_owned(),
    };
    let (g, _, _) = LAYER_NAMES
        .iter()
        .find(|(_, h, when)| *h == part && applies(*when, spec))?;
    Some(format!("blk.{layer}.{g}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Family, FAMILIES};

    #[test]
    fn norms_map_by_block_shape() {
        let llama = Family::Llama.spec();
        let gemma = Family::Gemma2.spec();
        assert_eq!(
            gguf_to_hf_module("blk.3.ffn_norm", llama).as_deref(),
            Some("model.layers.3.post_attention_layernorm")
        );
        assert_eq!(
            gguf_to_hf_module("blk.3.ffn_norm", gemma).as_deref(),
            Some("model.layers.3.pre_feedforward_layernorm")
        );
        assert_eq!(
            gguf_to_hf_module("blk.0.ffn_up", Family::Phi3.spec()).as_deref(),
            Some("model.layers.0.mlp.gate_up_proj")
        );
        assert_eq!(gguf_to_hf_module("rope_freqs", llama), None);
        assert_eq!(gguf_to_hf_module("blk.x.attn_q", llama), None);
    }

    #[test]
    fn experts_map_to_the_familys_block_in_both_layouts() {
        let mixtral = Family::Mixtral.spec();
        let qwen = Family::Qwen3Moe.spec();
        let cases = [
            (mixtral, "blk.2.ffn_gate_inp", "model.layers.2.block_sparse_moe.gate"),
            (
                mixtral,
                "blk.2.ffn_down_exps",
                "model.layers.2.block_sparse_moe.switch_mlp.down_proj",
            ),
            (
                mixtral,
                "blk.2.ffn_up.5",
                "model.layers.2.block_sparse_moe.experts.5.w3",
            ),
            (qwen, "blk.0.ffn_gate_inp", "model.layers.0.mlp.gate"),
            (qwen, "blk.0.ffn_gate_exps", "model.layers.0.mlp.switch_mlp.gate_proj"),
            (qwen, "blk.0.ffn_gate.7", "model.layers.0.mlp.experts.7.gate_proj"),
        ];
        for (spec, gguf, hf) in cases {
            assert_eq!(gguf_to_hf_module(gguf, spec).as_deref(), Some(hf));
            assert_eq!(hf_to_gguf_module(hf, spec).as_deref(), Some(gguf));
        }
        let gpt = Family::GptOss.spec();
        assert_eq!(
            gguf_to_hf_module("blk.1.ffn_gate_inp", gpt).as_deref(),
            Some("model.layers.1.mlp.router")
        );
        assert_eq!(
            gguf_to_hf_module("blk.1.ffn_up_exps", gpt).as_deref(),
            Some("model.layers.1.mlp.experts.up_proj")
        );
        assert_eq!(
            hf_to_gguf_module("model.layers.1.post_attention_layernorm", gpt).as_deref(),
            Some("blk.1.post_attention_norm")
        );
        let llama4 = Family::Llama4.spec();
        for (gguf, hf) in [
            ("blk.1.ffn_gate_inp", "model.layers.1.feed_forward.router"),
            ("blk.1.ffn_up_exps", "model.layers.1.feed_forward.experts.up_proj"),
            (
                "blk.1.ffn_down_shexp",
                "model.layers.1.feed_forward.shared_expert.down_proj",
            ),
            ("blk.0.ffn_gate", "model.layers.0.feed_forward.gate_proj"),
            ("blk.0.ffn_norm", "model.layers.0.post_attention_layernorm"),
        ] {
            assert_eq!(gguf_to_hf_module(gguf, llama4).as_deref(), Some(hf));
            assert_eq!(hf_to_gguf_module(hf, llama4).as_deref(), Some(gguf));
        }
        assert_eq!(hf_to_gguf_module("model.layers.0.mlp.gate_proj", llama4), None);
        // A dense family has no experts to map.
        assert_eq!(gguf_to_hf_module("blk.0.ffn_gate_inp", Family::Qwen3.spec()), None);
    }

    #[test]
    fn the_table_round_trips_for_every_family() {
        for spec in FAMILIES {
            for (g, _, _) in LAYER_NAMES.iter().filter(|(_, _, w)| applies(*w, spec)) {
                let gguf = format!("blk.7.{g}");
                let hf = gguf_to_hf_module(&gguf, spec).expect("maps");
                assert_eq!(
                    hf_to_gguf_module(&hf, spec).as_deref(),
                    Some(gguf.as_str()),
                    "{:?}",
                    spec.family
                );
            }
        }
    }
}
