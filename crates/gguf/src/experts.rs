//! The mixture-of-experts feed-forward (Mixtral, Qwen3-MoE), as llama.cpp's `build_moe_ffn`
//! computes it with softmax gating: router logits, softmax over every expert, the top
//! `experts_used` kept (their weights renormalised to sum to 1), each kept expert's gated MLP,
//! the outputs mixed by weight.
//!
//! Only chosen experts run. The tokens of a batch are grouped by expert, so each expert's
//! weights are read once per batch, as rows of one matmul (the prefill panels apply).

use candle_core::{DType, Device, Module, Tensor};
use parallax_core::arch::{Activation, MoeDesc};

use crate::kernels::QLinear;
use crate::layers::{CResult, Mlp};
use crate::weights::Weights;

pub struct Moe {
    router: QLinear,
    router_bias: Option<Tensor>,
    experts: Vec<Mlp>,
    used: usize,
    norm_topk: bool,
}

/// llama.cpp clamps the kept weights' sum to the smallest normal f16 before dividing.
const MIN_WEIGHT_SUM: f32 = 6.103_515_6e-5;

impl Moe {
    /// Stacked experts (`ffn_gate_exps`, …) or, in older files, one tensor per expert.
    pub fn load(w: &Weights, prefix: &str, m: &MoeDesc, act: Activation) -> CResult<Self> {
        let stacked = |part: &str| w.expert_matmuls(&format!("{prefix}.{part}_exps.weight"));
        let (gates, ups, downs) = match w.has(&format!("{prefix}.ffn_up_exps.weight")) {
            true => (stacked("ffn_gate")?, stacked("ffn_up")?, stacked("ffn_down")?),
            false => {
                let each = |part: &str| {
                    (0..m.experts)
                        .map(|e| w.matmul(&format!("{prefix}.{part}.{e}.weight")))
                        .collect::<CResult<Vec<_>>>()
                };
                (each("ffn_gate")?, each("ffn_up")?, each("ffn_down")?)
            }
        };
        if gates.len() != m.experts || ups.len() != m.experts || downs.len() != m.experts {
            candle_core::bail!("{prefix}: the expert tensors do not hold {} experts", m.experts);
        }
        // Per-expert biases (GPT-OSS): `(experts, n)` tensors, one row per expert.
        let bias_rows = |part: &str| -> CResult<Vec<Tensor>> {
            let b = w
                .qtensor(&format!("{prefix}.{part}_exps.bias"))?
                .dequantize(&Device::Cpu)?;
            (0..m.experts).map(|e| b.get(e)).collect()
        };
        let mut biases: Box<dyn Iterator<Item = Option<[Tensor; 3]>>> = match m.biases {
            true => {
                let (g, u, d) = (bias_rows("ffn_gate")?, bias_rows("ffn_up")?, bias_rows("ffn_down")?);
                Box::new(g.into_iter().zip(u).zip(d).map(|((g, u), d)| Some([g, u, d])))
            }
            false => Box::new(std::iter::repeat_with(|| None)),
        };
        let experts = gates
            .into_iter()
            .zip(ups)
            .zip(downs)
            .map(|((g, u), d)| Mlp::from_parts(g, u, d, act, biases.next().flatten()))
            .collect();
        Ok(Moe {
            router_bias: m
                .biases
                .then(|| w.bias(&format!("{prefix}.ffn_gate_inp")))
                .transpose()?,
            router: w.matmul(&format!("{prefix}.ffn_gate_inp.weight"))?,
            experts,
            used: m.experts_used,
            norm_topk: m.norm_topk,
        })
    }

    /// `x` is `(1, seq, hidden)`; returns the mixed outputs and, per token, the chosen experts
    /// (highest weight first).
    pub fn forward(&self, x: &Tensor) -> CResult<(Tensor, Vec<u32>)> {
        let (_, seq, hidden) = x.dims3()?;
        let x = x.reshape((seq, hidden))?;
        let logits = self.router.forward(&x)?;
        let logits = match &self.router_bias {
            Some(b) => logits.broadcast_add(b)?,
            None => logits,
        };
        let logits = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let mut chosen = Vec::with_capacity(seq * self.used);
        let mut by_expert: Vec<Vec<(u32, f32)>> = vec![Vec::new(); self.experts.len()];
        for (token, row) in logits.iter().enumerate() {
            for (e, weight) in self.route(row) {
                chosen.push(e as u32);
                by_expert[e].push((token as u32, weight));
            }
        }
        let mut out = vec![0f32; seq * hidden];
        for (expert, tokens) in self.experts.iter().zip(&by_expert) {
            if tokens.is_empty() {
                continue;
            }
            let ids: Vec<u32> = tokens.iter().map(|&(t, _)| t).collect();
            let rows = x.index_select(&Tensor::new(ids.as_slice(), x.device())?, 0)?;
            let y = expert.forward(&rows)?.flatten_all()?.to_vec1::<f32>()?;
            for (&(t, weight), y) in tokens.iter().zip(y.chunks_exact(hidden)) {
                let o = &mut out[t as usize * hidden..(t as usize + 1) * hidden];
                for (o, &y) in o.iter_mut().zip(y) {
                    *o += y * weight;
                }
            }
        }
        Ok((Tensor::from_vec(out, (1, seq, hidden), x.device())?, chosen))
    }

    /// The kept experts of one token and their weights, highest first.
    fn route(&self, logits: &[f32]) -> Vec<(usize, f32)> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
        let sum: f64 = exp.iter().map(|&e| e as f64).sum();
        let scale = (1.0 / sum) as f32;
        let mut order: Vec<usize> = (0..exp.len()).collect();
        order.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]).then(a.cmp(&b)));
        order.truncate(self.used);
        let mut kept: Vec<(usize, f32)> = order.into_iter().map(|e| (e, exp[e] * scale)).collect();
        if self.norm_topk {
            let total: f32 = kept.iter().map(|&(_, w)| w).sum::<f32>().max(MIN_WEIGHT_SUM);
            for (_, w) in &mut kept {
                *w /= total;
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moe(used: usize, norm_topk: bool) -> Moe {
        Moe {
            router: QLinear::Candle(candle_core::quantized::QMatMul::Tensor(
                Tensor::zeros((4, 2), DType::F32, &candle_core::Device::Cpu).expect("zeros"),
            )),
            router_bias: None,
            experts: Vec::new(),
            used,
            norm_topk,
        }
    }

    #[test]
    fn routing_keeps_the_top_experts_by_softmax_and_renormalises() {
        let logits = [0.0f32, 2.0, 1.0, -1.0];
        let kept = moe(2, true).route(&logits);
        assert_eq!(kept.iter().map(|&(e, _)| e).collect::<Vec<_>>(), vec![1, 2]);
        // Renormalised: softmax over the kept logits alone.
        let (a, b) = (2f32.exp(), 1f32.exp());
        assert!((kept[0].1 - a / (a + b)).abs() < 1e-6, "{kept:?}");
        assert!((kept[0].1 + kept[1].1 - 1.0).abs() < 1e-6);
        // Without renormalising, the weights are the full softmax's.
        let raw = moe(2, false).route(&logits);
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        assert!((raw[0].1 - a / z).abs() < 1e-6, "{raw:?}");
    }
}
