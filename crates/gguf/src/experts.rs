//! The mixture-of-experts feed-forward (Mixtral, Qwen3-MoE, GPT-OSS, Llama 4), as llama.cpp's
//! `build_moe_ffn` computes it. Softmax gating: router logits (plus GPT-OSS's router bias),
//! softmax over every expert, the top `experts_used` kept (their weights renormalised to sum to
//! 1), each kept expert's gated MLP (with GPT-OSS's biases), the outputs mixed by weight.
//! Llama 4's sigmoid gating: the top logits kept, each kept expert's input scaled by its
//! logit's sigmoid, the outputs summed, plus a shared expert every token runs.
//!
//! Only chosen experts run. The tokens of a batch are grouped by expert, so each expert's
//! weights are read once per batch, as rows of one matmul (the prefill panels apply).

use candle_core::{DType, Module, Tensor};
use parallax_core::arch::{Activation, Gating, MoeDesc, MoeNames};

use std::sync::Arc;

use crate::kernels::{matmul_each, matmul_side_by_side, OurMatMul, QLinear};
use crate::layers::{CResult, Mlp};
use crate::weights::Weights;

pub struct Moe {
    router: QLinear,
    router_bias: Option<Tensor>,
    experts: Vec<Mlp>,
    /// The same experts for decode, where our kernels run them all.
    decode: Option<DecodeExperts>,
    used: usize,
    norm_topk: bool,
    gating: Gating,
    shared: Option<Mlp>,
}

/// Every expert's gate, up and down in our kernels' form, and its biases as plain rows: one
/// token's kept experts then run in two passes over the pool (gate and up of all of them
/// against the one input, then each down against its own input), not three ops per expert.
struct DecodeExperts {
    weights: Vec<[Arc<OurMatMul>; 3]>,
    biases: Option<Vec<[Vec<f32>; 3]>>,
    act: Activation,
}

/// llama.cpp clamps the kept weights' sum to the smallest normal f16 before dividing.
const MIN_WEIGHT_SUM: f32 = 6.103_515_6e-5;

impl Moe {
    /// Stacked experts (`ffn_gate_exps`, …) or, in older files, one tensor per expert.
    pub fn load(w: &Weights, prefix: &str, m: &MoeDesc, names: &MoeNames, act: Activation) -> CResult<Self> {
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
        let mut biases: Vec<Option<[Tensor; 3]>> = vec![None; m.experts];
        if names.biases {
            let [g, u, d] = ["ffn_gate", "ffn_up", "ffn_down"].map(|part| w.bias(&format!("{prefix}.{part}_exps")));
            let (g, u, d) = (g?, u?, d?);
            for (e, b) in biases.iter_mut().enumerate() {
                *b = Some([g.get(e)?, u.get(e)?, d.get(e)?]);
            }
        }
        let ours = |q: &QLinear| match q {
            QLinear::Ours(op) => Some(op.clone()),
            QLinear::Candle(_) => None,
        };
        let weights: Option<Vec<[Arc<OurMatMul>; 3]>> = (0..m.experts)
            .map(|e| Some([ours(&gates[e])?, ours(&ups[e])?, ours(&downs[e])?]))
            .collect();
        let experts: Vec<Mlp> = gates
            .into_iter()
            .zip(ups)
            .zip(downs)
            .zip(biases)
            .map(|(((g, u), d), b)| Mlp::from_parts(g, u, d, act, b))
            .collect();
        let decode = match weights {
            Some(weights) => Some(DecodeExperts {
                biases: {
                    let rows: Vec<Option<[Vec<f32>; 3]>> =
                        experts.iter().map(Mlp::bias_rows).collect::<CResult<_>>()?;
                    rows.into_iter().collect::<Option<Vec<_>>>()
                },
                weights,
                act,
            }),
            None => None,
        };
        let shared = match names.shared {
            Some(_) => {
                let part = |p: &str| w.matmul(&format!("{prefix}.{p}_shexp.weight"));
                Some(Mlp::from_parts(
                    part("ffn_gate")?,
                    part("ffn_up")?,
                    part("ffn_down")?,
                    act,
                    None,
                ))
            }
            None => None,
        };
        Ok(Moe {
            gating: names.gating,
            shared,
            router_bias: names
                .biases
                .then(|| w.bias(&format!("{prefix}.ffn_gate_inp")))
                .transpose()?,
            router: w.matmul(&format!("{prefix}.ffn_gate_inp.weight"))?,
            experts,
            decode,
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
        let (y, chosen) = self.routed(&x, &logits)?;
        let y = match &self.shared {
            Some(mlp) => (y + mlp.forward(&x.unsqueeze(0)?)?)?,
            None => y,
        };
        Ok((y, chosen))
    }

    /// The kept experts' mixed outputs `(1, seq, hidden)` for rows `x` `(seq, hidden)`.
    fn routed(&self, x: &Tensor, logits: &[Vec<f32>]) -> CResult<(Tensor, Vec<u32>)> {
        let (seq, hidden) = x.dims2()?;
        let decode = self.decode.as_ref().filter(|_| seq == 1);
        if let Some(decode) = decode {
            let mut kept = self.route(&logits[0]);
            let chosen = kept.iter().map(|&(e, _)| e as u32).collect();
            let mut row = x.flatten_all()?.to_vec1::<f32>()?;
            match (self.gating, kept.as_mut_slice()) {
                (Gating::Softmax, _) => {}
                // One expert: its input scaled, its output taken as it is.
                (Gating::SigmoidScalesInput, [(_, w)]) => {
                    row.iter_mut().for_each(|v| *v *= *w);
                    *w = 1.0;
                }
                (Gating::SigmoidScalesInput, _) => return self.grouped(x, logits),
            }
            let y = decode.forward(&row, &kept)?;
            return Ok((Tensor::from_vec(y, (1, 1, hidden), x.device())?, chosen));
        }
        self.grouped(x, logits)
    }

    /// Every token's kept experts, the batch grouped by expert: one matmul per used expert.
    fn grouped(&self, x: &Tensor, logits: &[Vec<f32>]) -> CResult<(Tensor, Vec<u32>)> {
        let (seq, hidden) = x.dims2()?;
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
            let (rows, weights) = match self.gating {
                Gating::Softmax => (rows, tokens.clone()),
                Gating::SigmoidScalesInput => {
                    let w: Vec<f32> = tokens.iter().map(|&(_, w)| w).collect();
                    let scale = Tensor::from_vec(w, (tokens.len(), 1), x.device())?;
                    (
                        rows.broadcast_mul(&scale)?,
                        tokens.iter().map(|&(t, _)| (t, 1.0)).collect(),
                    )
                }
            };
            let y = expert.forward(&rows)?.flatten_all()?.to_vec1::<f32>()?;
            for (&(t, weight), y) in weights.iter().zip(y.chunks_exact(hidden)) {
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
        if self.gating == Gating::SigmoidScalesInput {
            let mut order: Vec<usize> = (0..logits.len()).collect();
            order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
            order.truncate(self.used);
            return order
                .into_iter()
                .map(|e| (e, 1.0 / (1.0 + (-logits[e]).exp())))
                .collect();
        }
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

impl DecodeExperts {
    /// One token `x` through its kept experts, mixed by weight in the order they were kept
    /// (as llama.cpp sums them).
    fn forward(&self, x: &[f32], kept: &[(usize, f32)]) -> CResult<Vec<f32>> {
        let gate_up: Vec<&OurMatMul> = kept
            .iter()
            .flat_map(|&(e, _)| [self.weights[e][0].as_ref(), self.weights[e][1].as_ref()])
            .collect();
        let gu = matmul_side_by_side(&gate_up, x, 1)?;
        let mut acts: Vec<Vec<f32>> = Vec::with_capacity(kept.len());
        let mut at = 0;
        for &(e, _) in kept {
            let ff = self.weights[e][0].rows();
            let (mut gate, mut up) = (gu[at..at + ff].to_vec(), gu[at + ff..at + 2 * ff].to_vec());
            at += 2 * ff;
            if let Some(b) = &self.biases {
                add(&mut gate, &b[e][0]);
                add(&mut up, &b[e][1]);
            }
            let mut y = vec![0f32; ff];
            crate::gated::apply(self.act, &gate, &up, &mut y);
            acts.push(y);
        }
        let downs: Vec<&OurMatMul> = kept.iter().map(|&(e, _)| self.weights[e][2].as_ref()).collect();
        let inputs: Vec<&[f32]> = acts.iter().map(Vec::as_slice).collect();
        let ys = matmul_each(&downs, &inputs)?;
        let hidden = x.len();
        let mut out = vec![0f32; hidden];
        for (i, &(e, weight)) in kept.iter().enumerate() {
            let mut y = ys[i * hidden..(i + 1) * hidden].to_vec();
            if let Some(b) = &self.biases {
                add(&mut y, &b[e][2]);
            }
            for (o, y) in out.iter_mut().zip(y) {
                *o += y * weight;
            }
        }
        Ok(out)
    }
}

fn add(y: &mut [f32], b: &[f32]) {
    for (y, b) in y.iter_mut().zip(b) {
        *y += b;
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
            decode: None,
            used,
            norm_topk,
            gating: Gating::Softmax,
            shared: None,
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
