//! The mixture-of-experts feed-forward on MLX, as mlx-lm's `SwitchGLU` computes it: the router,
//! softmax over every expert, the top `experts_used` kept (renormalised where the model says),
//! and the kept experts' gated MLPs through `gather_mm` / `gather_qmm`, so only chosen experts
//! are read. A batch of many (token, expert) pairs is sorted by expert first, as mlx-lm does.
//!
//! Checkpoints store experts one tensor each (`experts.{e}.w1`, HF) or stacked
//! (`switch_mlp.gate_proj`, mlx-lm and GGUF; GPT-OSS: `experts.gate_proj`), or as Meta's Llama 4
//! does (`experts.gate_up_proj` `[experts, hidden, 2·ff]`, `experts.down_proj` transposed);
//! `stack_experts` turns the others into the stacked form. GPT-OSS adds biases to the router and
//! to every expert. Llama 4 gates by sigmoid, scaling each expert's input, and adds a shared
//! expert every token runs.

use std::collections::HashMap;

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::ops::{self, gather_mm, gather_qmm};
use mlx_rs::Array;
use parallax_core::arch::{Activation, Gating, MoeDesc, MoeNames};
use parallax_core::{Error, ModelDesc, Result};

use crate::nn::{gated, Biased, Linear, MResult, Mlp};
use crate::tensors::Tensors;

/// mlx-lm sorts (token, expert) pairs by expert from this many on.
const SORT_FROM: usize = 64;

/// The switch-MLP projections, in `MoeNames::expert_parts` order.
const SWITCH_PARTS: [&str; 3] = ["gate_proj", "up_proj", "down_proj"];

/// Stacks per-expert tensors (`{block}.experts.{e}.{part}.{weight,scales,biases,bias}`) into
/// `{block}.{stacked}.{proj}.*`, as mlx-lm's `sanitize` does. A missing expert is an error
/// naming the tensor.
pub fn stack_experts(
    tensors: &mut HashMap<String, Array>,
    d: &ModelDesc,
    invalid: impl Fn(String) -> Error,
) -> Result<()> {
    let (Some(m), Some(names)) = (&d.moe, d.spec().moe) else {
        return Ok(());
    };
    for layer in 0..d.n_layers() {
        let block = format!("model.layers.{layer}.{}", names.block);
        unfuse_llama4_experts(tensors, &block, names.stacked, &invalid)?;
        for (part, proj) in names.expert_parts.iter().zip(SWITCH_PARTS) {
            for suffix in ["weight", "scales", "biases", "bias"] {
                let name = |e: usize| format!("{block}.experts.{e}.{part}.{suffix}");
                if !tensors.contains_key(&name(0)) {
                    continue;
                }
                let each = (0..m.experts)
                    .map(|e| {
                        tensors
                            .remove(&name(e))
                            .ok_or_else(|| invalid(format!("tensor `{}` is missing", name(e))))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let stacked = ops::stack(&each, 0).map_err(|e| invalid(format!("{}: {e}", name(0))))?;
                tensors.insert(format!("{block}.{}.{proj}.{suffix}", names.stacked), stacked);
            }
        }
    }
    Ok(())
}

/// Meta's Llama 4 layout, as mlx-lm's `sanitize` reads it: `{block}.experts.gate_up_proj`
/// `[experts, hidden, 2·ff]` (gate columns, then up) and `down_proj` `[experts, ff, hidden]`
/// become stacked `[experts, out, in]` projections.
fn unfuse_llama4_experts(
    tensors: &mut HashMap<String, Array>,
    block: &str,
    stacked: &str,
    invalid: &impl Fn(String) -> Error,
) -> Result<()> {
    let fused = format!("{block}.experts.gate_up_proj");
    let Some(gate_up) = tensors.remove(&fused) else {
        return Ok(());
    };
    let err = |name: String| move |e: mlx_rs::error::Exception| invalid(format!("{name}: {e}"));
    let shape = gate_up.shape().to_vec();
    if shape.len() != 3 || shape[2] % 2 != 0 {
        return Err(invalid(format!(
            "tensor `{fused}` has shape {shape:?}, expected [experts, hidden, 2·ff]"
        )));
    }
    let ff = shape[2] / 2;
    let gate = gate_up
        .index((.., .., ..ff))
        .swap_axes(1, 2)
        .map_err(err(fused.clone()))?;
    let up = gate_up
        .index((.., .., ff..))
        .swap_axes(1, 2)
        .map_err(err(fused.clone()))?;
    tensors.insert(format!("{block}.{stacked}.gate_proj.weight"), gate);
    tensors.insert(format!("{block}.{stacked}.up_proj.weight"), up);
    let down_name = format!("{block}.experts.down_proj");
    let down = tensors
        .remove(&down_name)
        .ok_or_else(|| invalid(format!("tensor `{down_name}` is missing")))?;
    let down = down.swap_axes(1, 2).map_err(err(down_name.clone()))?;
    tensors.insert(format!("{block}.{stacked}.down_proj.weight"), down);
    Ok(())
}

/// One projection of every expert: `[experts, out, in]`, dense or MLX-affine-quantized, with
/// an optional `[experts, out]` bias.
struct SwitchLinear {
    weights: Linear,
    bias: Option<Array>,
}

impl SwitchLinear {
    fn load(t: &mut Tensors, module: &str, experts: usize, out_dim: usize, in_dim: usize, bias: bool) -> Result<Self> {
        let bias = match bias {
            true => {
                let b = t.take(&format!("{module}.bias"))?;
                t.expect_shape(&format!("{module}.bias"), &b, &[experts, out_dim])?;
                Some(b)
            }
            false => None,
        };
        Ok(SwitchLinear {
            weights: Linear::load_stacked(t, module, &[experts], out_dim, in_dim)?,
            bias,
        })
    }

    fn forward(&self, x: &Array, experts: &Array, sorted: bool) -> MResult<Array> {
        let y = match &self.weights {
            Linear::Dense { w } => gather_mm(x, w.swap_axes(-1, -2)?, None, experts, sorted)?,
            Linear::Quantized {
                w,
                scales,
                biases,
                spec,
            } => gather_qmm(
                x,
                w,
                scales,
                biases,
                None,
                experts,
                true,
                spec.group_size,
                spec.bits,
                sorted,
            )?,
            Linear::Mxfp4 { w, scales } => crate::mxfp4::gather_matmul(x, w, scales, experts, sorted)?,
        };
        match &self.bias {
            // One bias row per (token, expert) pair, broadcast over the pair's one row.
            Some(b) => y.add(b.take_axis(experts, 0)?.expand_dims(-2)?),
            None => Ok(y),
        }
    }
}

pub struct Moe {
    router: Biased,
    gate: SwitchLinear,
    up: SwitchLinear,
    down: SwitchLinear,
    experts: usize,
    used: usize,
    norm_topk: bool,
    act: Activation,
    gating: Gating,
    shared: Option<Mlp>,
}

impl Moe {
    pub fn load(
        t: &mut Tensors,
        block: &str,
        hidden: usize,
        m: &MoeDesc,
        names: &MoeNames,
        act: Activation,
    ) -> Result<Self> {
        let (e, ff, b) = (m.experts, m.expert_ff, names.biases);
        let stacked = |proj: &str| format!("{block}.{}.{proj}", names.stacked);
        Ok(Moe {
            router: Biased::load(t, &format!("{block}.{}", names.router), e, hidden, b)?,
            gate: SwitchLinear::load(t, &stacked("gate_proj"), e, ff, hidden, b)?,
            up: SwitchLinear::load(t, &stacked("up_proj"), e, ff, hidden, b)?,
            down: SwitchLinear::load(t, &stacked("down_proj"), e, hidden, ff, b)?,
            experts: e,
            used: m.experts_used,
            norm_topk: m.norm_topk,
            act,
            gating: names.gating,
            shared: match names.shared {
                Some(module) => Some(Mlp::load(t, &format!("{block}.{module}"), (hidden, ff), false, act)?),
                None => None,
            },
        })
    }

    /// `x` is `[1, L, hidden]`; returns the mixed outputs and the chosen experts `[1, L, k]`.
    pub fn forward(&self, x: &Array) -> MResult<(Array, Array)> {
        let shape = x.shape().to_vec();
        let (len, hidden) = (shape[1], shape[2]);
        let k = self.used as i32;
        let logits = self.router.forward(x)?;
        let scores = match self.gating {
            Gating::Softmax => ops::softmax_axis(&logits, -1, true)?,
            Gating::SigmoidScalesInput => logits,
        };
        let first_kept = (self.experts - self.used) as i32;
        let chosen = ops::argpartition_axis(&scores, first_kept, -1)?.index((.., .., first_kept..));
        let mut weights = scores.take_along_axis(&chosen, -1)?;
        if self.gating == Gating::SigmoidScalesInput {
            weights = ops::sigmoid(&weights)?;
        }
        if self.norm_topk {
            weights = weights.divide(weights.sum_axis(-1, true)?)?;
        }
        // Sigmoid gating scales each (token, expert) pair's input and sums the outputs as
        // they are; softmax gating mixes the outputs by weight.
        let scales_input = self.gating == Gating::SigmoidScalesInput;
        let y = match chosen.size() >= SORT_FROM {
            false => {
                let x = match scales_input {
                    true => x
                        .reshape(&[1, len, 1, 1, hidden])?
                        .multiply(weights.reshape(&[1, len, k, 1, 1])?)?,
                    false => x.reshape(&[1, len, 1, 1, hidden])?,
                };
                self.experts_of(&x, &chosen, false)?
            }
            true => {
                // Pairs sorted by expert: each expert's rows are contiguous for the matmul.
                let flat = chosen.flatten(None, None)?;
                let order = ops::argsort_axis(&flat, 0)?;
                let back = ops::argsort_axis(&order, 0)?;
                let mut rows = x
                    .reshape(&[len, 1, hidden])?
                    .take_axis(order.floor_divide(Array::from_int(k))?, 0)?;
                if scales_input {
                    let w = weights.flatten(None, None)?.take_axis(&order, 0)?;
                    rows = rows.multiply(w.reshape(&[-1, 1, 1])?)?;
                }
                let y = self.experts_of(&rows, &flat.take_axis(&order, 0)?, true)?;
                y.take_axis(&back, 0)?.reshape(&[1, len, k, 1, hidden])?
            }
        };
        let y = y.squeeze_axes(&[-2])?;
        let mixed = match scales_input {
            true => y.sum_axis(-2, false)?,
            false => y.multiply(weights.expand_dims(-1)?)?.sum_axis(-2, false)?,
        };
        let mixed = match &self.shared {
            Some(mlp) => mixed.add(mlp.forward(x)?)?,
            None => mixed,
        };
        Ok((mixed, chosen))
    }

    fn experts_of(&self, x: &Array, experts: &Array, sorted: bool) -> MResult<Array> {
        let up = self.up.forward(x, experts, sorted)?;
        let gate = self.gate.forward(x, experts, sorted)?;
        self.down.forward(&gated(self.act, &gate, &up)?, experts, sorted)
    }
}
