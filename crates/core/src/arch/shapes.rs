//! The GGUF tensors a description needs, with their shapes (ggml order: row length first),
//! checked before any engine allocates: a missing tensor or a wrong shape is an error that
//! names the tensor (and both shapes), never a failure deep inside a matmul.

use super::ModelDesc;
use crate::error::Result;
use crate::gguf_meta::GgufHeader;

impl ModelDesc {
    /// Every tensor this model reads from a GGUF, with its expected dims.
    pub fn gguf_tensors(&self) -> Vec<(String, Vec<u64>)> {
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
            add("ffn_norm.weight", vec![h]);
            add("attn_output.weight", vec![q, h]);
            add("ffn_down.weight", vec![ff, h]);
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
            if spec.fused_gate_up {
                add("ffn_up.weight", vec![h, 2 * ff]);
            } else {
                add("ffn_gate.weight", vec![h, ff]);
                add("ffn_up.weight", vec![h, ff]);
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

    /// Checks that `header` holds every tensor this model reads, each with its shape.
    pub fn check_gguf_tensors(&self, header: &GgufHeader) -> Result<()> {
        for (name, dims) in self.gguf_tensors() {
            let Some(found) = header.tensors.iter().find(|t| t.name == name) else {
                return Err(header.invalid(format!("required tensor `{name}` is missing")));
            };
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
