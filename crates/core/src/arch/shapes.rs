//! The GGUF tensors a description needs, with their shapes (ggml order: row length first),
//! checked before any engine allocates: a missing tensor or a wrong shape is an error that
//! names the tensor (and both shapes), never a failure deep inside a matmul.

use super::ModelDesc;
use crate::error::Result;
use crate::gguf_meta::GgufHeader;

impl ModelDesc {
    /// Every tensor this model reads from a GGUF, with its expected dims. Experts are stacked
    /// (`ffn_gate_exps`, expert last in ggml order), or with `per_expert`, one tensor each
    /// (`ffn_gate.{e}`, the older layout).
    pub fn gguf_tensors(&self, per_expert: bool) -> Vec<(String, Vec<u64>)> {
        let spec = self.spec();
        let (h, hd, ff, v) = (
            self.hidden as u64,
            self.head_dim as u64,
            self.intermediate as u64,
            self.vocab as u64,
        );
        let mut t = vec![
            ("token_embd.weight".to_owned(), vec![h, v]),
            ("output_norm.weight".to_owned(), vec![h]),
        ];
        if !self.tied_embeddings {
            t.push(("output.weight".into(), vec![h, v]));
        }
        for (i, l) in self.layers.iter().enumerate() {
            let (q, kv) = (l.n_head as u64 * hd, l.n_kv_head as u64 * hd);
            let mut add = |name: &str, dims: Vec<u64>| t.push((format!("blk.{i}.{name}"), dims));
            add("attn_norm.weight", vec![h]);
            add(&format!("{}.weight", spec.gguf_ffn_norm), vec![h]);
            add("attn_output.weight", vec![q, h]);
            if spec.attn_out_bias {
                add("attn_output.bias", vec![h]);
            }
            if spec.attn_sinks {
                add("attn_sinks.weight", vec![l.n_head as u64]);
            }
            if spec.fused_qkv {
                add("attn_qkv.weight", vec![h, q + 2 * kv]);
            } else {
                add("attn_q.weight", vec![h, q]);
                add("attn_k.weight", vec![h, kv]);
                add("attn_v.weight", vec![h, kv]);
            }
            if self.qkv_bias && !spec.fused_qkv {
                add("attn_q.bias", vec![q]);
                add("attn_k.bias", vec![kv]);
                add("attn_v.bias", vec![kv]);
            }
            match self.moe.as_ref().filter(|_| l.experts) {
                Some(m) => {
                    let (n, eff) = (m.experts as u64, m.expert_ff as u64);
                    add("ffn_gate_inp.weight", vec![h, n]);
                    if per_expert {
                        for e in 0..m.experts {
                            add(&format!("ffn_gate.{e}.weight"), vec![h, eff]);
                            add(&format!("ffn_up.{e}.weight"), vec![h, eff]);
                            add(&format!("ffn_down.{e}.weight"), vec![eff, h]);
                        }
                    } else {
                        add("ffn_gate_exps.weight", vec![h, eff, n]);
                        add("ffn_up_exps.weight", vec![h, eff, n]);
                        add("ffn_down_exps.weight", vec![eff, h, n]);
                    }
                    if spec.moe.is_some_and(|names| names.biases) {
                        add("ffn_gate_inp.bias", vec![n]);
                        add("ffn_gate_exps.bias", vec![eff, n]);
                        add("ffn_up_exps.bias", vec![eff, n]);
                        add("ffn_down_exps.bias", vec![h, n]);
                    }
                    if spec.moe.is_some_and(|names| names.shared.is_some()) {
                        add("ffn_gate_shexp.weight", vec![h, eff]);
                        add("ffn_up_shexp.weight", vec![h, eff]);
                        add("ffn_down_shexp.weight", vec![eff, h]);
                    }
                }
                None if spec.fused_gate_up => {
                    add("ffn_up.weight", vec![h, 2 * ff]);
                    add("ffn_down.weight", vec![ff, h]);
                }
                None => {
                    add("ffn_gate.weight", vec![h, ff]);
                    add("ffn_up.weight", vec![h, ff]);
                    add("ffn_down.weight", vec![ff, h]);
                }
            }
            if spec.qk_norm {
                add("attn_q_norm.weight", vec![hd]);
                add("attn_k_norm.weight", vec![hd]);
            }
            if spec.sandwich_norms {
                add("post_attention_norm.weight", vec![h]);
                add("post_ffw_norm.weight", vec![h]);
            }
        }
        t
    }

    /// Whether the file stores one tensor per expert (`blk.0.ffn_gate.0.weight`), the layout
    /// llama.cpp's converter wrote before it stacked them.
    pub fn gguf_per_expert(header: &GgufHeader) -> bool {
        header.tensors.iter().any(|t| t.name == "blk.0.ffn_up.0.weight")
    }

    /// Checks that `header` holds every tensor this model reads, each with its shape.
    pub fn check_gguf_tensors(&self, header: &GgufHeader) -> Result<()> {
        for (name, dims) in self.gguf_tensors(Self::gguf_per_expert(header)) {
            let Some(found) = header.tensors.iter().find(|t| t.name == name) else {
                return Err(header.invalid(format!("required tensor `{name}` is missing")));
            };
            // The router and the stacked experts have the expert count as their last dim.
            let counts_experts = name.contains("ffn_gate_inp") || name.contains("_exps");
            if let (Some(m), true) = (&self.moe, counts_experts && found.dims.len() == dims.len()) {
                if found.dims.last() != dims.last() {
                    return Err(header.invalid(format!(
                        "tensor `{name}` holds {} experts, but `expert_count` says {}",
                        found.dims.last().copied().unwrap_or(0),
                        m.experts
                    )));
                }
            }
            if found.dims != dims {
                return Err(header.invalid(format!(
                    "tensor `{name}` has shape {:?}, expected {dims:?} for this {} model",
                    found.dims,
                    self.family.name()
                )));
            }
        }
        Ok(())
    }
}
