//! The gated feed-forward activation `act(gate) · up` in one pass over both (one op, not an
//! activation, then a multiply and a temporary), split over candle's barrier pool.
//!
//! GELU (tanh form) is computed as llama.cpp's CPU backend does, which Gemma's parity with it
//! depends on: the gate rounded to f16, looked up in a table of `gelu(x)` rounded to f16 for
//! every f16 `x`, with `gelu(x) = 0` below −10 and `x` above 10. SiLU is candle's formula
//! `x / (1 + e^−x)`, so its values do not change.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use half::f16;
use parallax_core::arch::Activation;

use crate::kernels::Out;
use crate::layers::CResult;

/// `act(gate) · up` for two tensors of one shape.
pub fn gated(act: Activation, gate: &Tensor, up: &Tensor) -> CResult<Tensor> {
    if !gate.device().is_cpu() {
        return gated_by_tensor_ops(act, gate, up);
    }
    gate.contiguous()?.apply_op2_no_bwd(&up.contiguous()?, &Gated(act))
}

/// The same function for a GPU device: SiLU by our CUDA kernel (`cuda::silu_mul`), else from
/// candle's tensor ops, and GELU computed directly (not through llama.cpp's CPU f16 table, which
/// its CUDA backend does not use either).
fn gated_by_tensor_ops(act: Activation, gate: &Tensor, up: &Tensor) -> CResult<Tensor> {
    match act {
        #[cfg(feature = "cuda")]
        Activation::Silu if crate::cuda::ours_on(gate.device()) && gate.dtype() == candle_core::DType::F32 => {
            crate::cuda::silu_mul(gate, up)
        }
        Activation::Silu => candle_nn::ops::silu(gate)? * up,
        Activation::GeluTanh => gate.gelu()? * up,
        Activation::SwigluClamped => {
            const ALPHA: f64 = 1.702;
            const LIMIT: f32 = 7.0;
            let x = gate.minimum(LIMIT)?;
            let y = up.clamp(-LIMIT, LIMIT)?;
            let sig = candle_nn::ops::sigmoid(&(&x * ALPHA)?)?;
            (x * sig)? * (y + 1.0)?
        }
    }
}

struct Gated(Activation);

/// Elements per task of the pool.
const PER_TASK: usize = 16 * 1024;

impl CustomOp2 for Gated {
    fn name(&self) -> &'static str {
        "parallax-gated"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (CpuStorage::F32(gate), CpuStorage::F32(up)) = (s1, s2) else {
            candle_core::bail!("parallax-gated takes f32 tensors");
        };
        let (Some((g0, g1)), Some((u0, u1))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            candle_core::bail!("parallax-gated takes contiguous tensors");
        };
        if l1.shape() != l2.shape() {
            candle_core::bail!("parallax-gated: gate {:?} and up {:?} differ", l1.shape(), l2.shape());
        }
        let (gate, up) = (&gate[g0..g1], &up[u0..u1]);
        let mut y = vec![0f32; gate.len()];
        let out = Out(y.as_mut_ptr());
        let act = self.0;
        let run = |tasks: std::ops::Range<usize>| {
            let out = &out;
            let span = tasks.start * PER_TASK..(tasks.end * PER_TASK).min(gate.len());
            // SAFETY: the spans of different tasks do not overlap and lie inside `y`.
            let y = unsafe { std::slice::from_raw_parts_mut(out.0.add(span.start), span.len()) };
            apply(act, &gate[span.clone()], &up[span], y);
        };
        let tasks = gate.len().div_ceil(PER_TASK);
        if tasks > 1 {
            candle_core::utils::barrier_pool().execute_chunked(tasks, run);
        } else {
            run(0..tasks);
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }
}

/// `y = act(gate) · up`, element by element.
pub(crate) fn apply(act: Activation, gate: &[f32], up: &[f32], y: &mut [f32]) {
    match act {
        Activation::Silu => {
            for ((y, &g), &u) in y.iter_mut().zip(gate).zip(up) {
                *y = g / (1.0 + (-g).exp()) * u;
            }
        }
        Activation::GeluTanh => {
            let table = gelu_table();
            for ((y, &g), &u) in y.iter_mut().zip(gate).zip(up) {
                *y = gelu_by_table(table, g) * u;
            }
        }
        Activation::SwigluClamped => {
            for ((y, &g), &u) in y.iter_mut().zip(gate).zip(up) {
                *y = swiglu_clamped(g, u);
            }
        }
    }
}

/// GPT-OSS's gated activation as llama.cpp's `swiglu_oai` computes it.
fn swiglu_clamped(gate: f32, up: f32) -> f32 {
    const ALPHA: f32 = 1.702;
    const LIMIT: f32 = 7.0;
    let x = gate.min(LIMIT);
    let y = up.clamp(-LIMIT, LIMIT);
    x / (1.0 + (ALPHA * -x).exp()) * (y + 1.0)
}

/// `gelu(x)` as llama.cpp's CPU backend computes it (`GGML_GELU_FP16`).
#[inline(always)]
fn gelu_by_table(table: &[f32], x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        table[f16::from_f32(x).to_bits() as usize]
    }
}

/// `gelu(x)` rounded to f16, for every f16 bit pattern `x`, widened to f32.
fn gelu_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| f16::from_f32(gelu_tanh(f16::from_bits(bits).to_f32())).to_f32())
            .collect()
    })
}

/// `0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))`.
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044715 * x * x)).tanh())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn run(act: Activation, gate: Vec<f32>, up: Vec<f32>) -> Vec<f32> {
        let n = gate.len();
        let g = Tensor::from_vec(gate, (1, n), &Device::Cpu).expect("gate");
        let u = Tensor::from_vec(up, (1, n), &Device::Cpu).expect("up");
        gated(act, &g, &u)
            .expect("gated")
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("vec")
    }

    #[test]
    fn silu_is_candles_silu_times_up() {
        let gate: Vec<f32> = crate::kernels::tests::values(40_000, 11)
            .iter()
            .map(|v| v * 8.0)
            .collect();
        let up = crate::kernels::tests::values(40_000, 12);
        let g = Tensor::from_vec(gate.clone(), 40_000, &Device::Cpu).expect("g");
        let u = Tensor::from_vec(up.clone(), 40_000, &Device::Cpu).expect("u");
        let want: Vec<f32> = (candle_nn::ops::silu(&g).expect("silu") * u)
            .expect("mul")
            .to_vec1()
            .expect("v");
        assert_eq!(run(Activation::Silu, gate, up), want);
    }

    #[test]
    fn gelu_follows_llama_cpp_f16_table() {
        let xs = [-12.0f32, -10.0, -3.1, -0.5, 0.0, 0.3337, 1.0, 2.5, 9.99, 10.0, 15.0];
        let got = run(Activation::GeluTanh, xs.to_vec(), vec![2.0; xs.len()]);
        for (&x, &y) in xs.iter().zip(&got) {
            let want = if x <= -10.0 {
                0.0
            } else if x >= 10.0 {
                x
            } else {
                f16::from_f32(gelu_tanh(f16::from_f32(x).to_f32())).to_f32()
            };
            assert_eq!(y, 2.0 * want, "gelu({x})");
            // And close to the exact function: within f16 rounding.
            assert!(
                (y / 2.0 - gelu_tanh(x)).abs() <= 4e-3 * x.abs().max(1.0),
                "gelu({x}) = {}",
                y / 2.0
            );
        }
    }

    #[test]
    fn the_clamped_swiglu_clamps_both_inputs() {
        let got = run(Activation::SwigluClamped, vec![1.0, 9.0, -2.0], vec![0.5, 20.0, -9.0]);
        let want = |x: f32, y: f32| x / (1.0 + (-1.702 * x).exp()) * (y + 1.0);
        assert_eq!(got, vec![want(1.0, 0.5), want(7.0, 7.0), want(-2.0, -7.0)]);
    }

    #[test]
    fn the_tensor_op_form_a_gpu_runs_computes_the_same_function() {
        let gate: Vec<f32> = crate::kernels::tests::values(4_000, 21)
            .iter()
            .map(|v| v * 12.0)
            .collect();
        let up: Vec<f32> = crate::kernels::tests::values(4_000, 22)
            .iter()
            .map(|v| v * 12.0)
            .collect();
        let g = Tensor::from_vec(gate.clone(), 4_000, &Device::Cpu).expect("g");
        let u = Tensor::from_vec(up.clone(), 4_000, &Device::Cpu).expect("u");
        for act in [Activation::Silu, Activation::GeluTanh, Activation::SwigluClamped] {
            let want = run(act, gate.clone(), up.clone());
            let got: Vec<f32> = gated_by_tensor_ops(act, &g, &u).expect("ops").to_vec1().expect("v");
            // GELU: the CPU op's f16 table rounds; the direct formula does not.
            let tol = if act == Activation::GeluTanh { 4e-3 } else { 1e-5 };
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= tol * b.abs().max(1.0) * up[i].abs().max(1.0),
                    "{act:?} at {i}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let g = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).expect("g");
        let u = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu).expect("u");
        assert!(gated(Activation::Silu, &g, &u).is_err());
    }
}
