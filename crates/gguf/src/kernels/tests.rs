//! Our kernels on the same quantized weights as candle's own quantized matmul: every SIMD path
//! equals the scalar reference bit for bit, and both agree with candle up to the activation
//! roundings (we round as llama.cpp's x86 code does, candle as ggml's reference does).

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Module, Tensor};

use super::{Kernel, QLinear};

/// Every format our kernels take.
const OUR_FORMATS: [GgmlDType; 8] = [
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
    GgmlDType::Q4K,
    GgmlDType::Q5K,
    GgmlDType::Q6K,
];

/// Deterministic values in [-1, 1) (an LCG; the test needs no statistics).
pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn run(linear: &QLinear, x: &Tensor) -> Vec<f32> {
    linear
        .forward(x)
        .expect("forward")
        .flatten_all()
        .expect("flat")
        .to_vec1()
        .expect("vec")
}

#[test]
fn our_kernels_match_candle_on_every_format_they_take() {
    // n = 70: tiles of four weight rows and a remainder; m = 5: a group of four and one.
    let (n, k) = (70, 512);
    let dev = Device::Cpu;
    let w = Tensor::from_vec(values(n * k, 1), (n, k), &dev).expect("w");
    for m in [1usize, 5, 8] {
        let x = Tensor::from_vec(values(m * k, 2 + m as u64), (1, m, k), &dev).expect("x");
        for dtype in OUR_FORMATS {
            let q = Arc::new(QTensor::quantize(&w, dtype).expect("quantize"));
            let want = run(&QLinear::with_kernel(q.clone(), Kernel::Candle).expect("candle"), &x);
            // Every SIMD kernel this CPU runs (on a VNNI machine, AVX2 and VNNI both).
            let kernels = Kernel::available().into_iter().skip(2);
            let scalar = run(&QLinear::with_kernel(q.clone(), Kernel::Scalar).expect("scalar"), &x);
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = scalar
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 2e-3 * scale.max(1.0),
                "{dtype:?} scalar m={m}: max |Δ| {worst} from candle (values up to {scale})"
            );
            for kernel in kernels {
                let ours = QLinear::with_kernel(q.clone(), kernel).expect("ours");
                assert!(matches!(ours, QLinear::Ours(_)), "{dtype:?} should take our path");
                let got = run(&ours, &x);
                assert_eq!(
                    got,
                    scalar,
                    "{dtype:?} {} m={m} differs from the scalar reference",
                    kernel.name()
                );
            }
        }
    }
}

#[test]
fn other_formats_stay_with_candle() {
    let w = Tensor::from_vec(values(32 * 256, 3), (32, 256), &Device::Cpu).expect("w");
    for dtype in [GgmlDType::Q2K, GgmlDType::Q3K] {
        let q = Arc::new(QTensor::quantize(&w, dtype).expect("quantize"));
        let l = QLinear::with_kernel(q, Kernel::best()).expect("linear");
        assert!(matches!(l, QLinear::Candle(_)), "{dtype:?}");
    }
}

#[test]
fn q8k_activations_round_as_llama_cpp() {
    use super::kquants::{quantize_row_k, SuperAct, SUPER};
    let mut x = values(SUPER, 9);
    x[17] = 3.0; // the largest magnitude, positive: it becomes −127 and `d` is negative
    let mut act = [SuperAct::ZERO];
    quantize_row_k(&x, &mut act);
    let a = &act[0];
    assert_eq!(a.q[17], -127);
    assert!(a.d < 0.0 && (a.d * -127.0 - 3.0).abs() < 1e-6, "d {}", a.d);
    for (i, run) in a.q.chunks_exact(16).enumerate() {
        assert_eq!(a.bsums[i], run.iter().map(|&q| q as i16).sum::<i16>());
    }
    for (&q, &v) in a.q.iter().zip(&x) {
        assert!((q as f32 * a.d - v).abs() <= a.d.abs() / 2.0 + 1e-6);
    }
    let mut zero = [SuperAct::ZERO];
    quantize_row_k(&[0.0; SUPER], &mut zero);
    assert_eq!((zero[0].d, zero[0].q), (0.0, [0; SUPER]));
}

#[test]
fn a_mismatched_input_is_an_error_not_a_panic() {
    let w = Tensor::from_vec(values(32 * 64, 4), (32, 64), &Device::Cpu).expect("w");
    let q = Arc::new(QTensor::quantize(&w, GgmlDType::Q4_1).expect("quantize"));
    let l = QLinear::with_kernel(q, Kernel::Scalar).expect("linear");
    let x = Tensor::zeros((1, 2, 96), candle_core::DType::F32, &Device::Cpu).expect("x");
    let err = l.forward(&x).expect_err("96 columns against 64").to_string();
    assert!(err.contains("96 columns"), "{err}");
}

#[test]
#[ignore = "timing probe, run by hand"]
fn probe_dot_throughput() {
    use super::blocks::{quantize_row, ActBlock, Format};
    let k = 576;
    let blocks = k / 32;
    let x = values(k, 3);
    let mut act = vec![ActBlock::ZERO; blocks];
    quantize_row(&x, &mut act);
    for total_mb in [1usize, 8, 96] {
        let rows = total_mb * 1_000_000 / (blocks * 20);
        let w: Vec<u8> = (0..rows * blocks * 20).map(|i| (i * 7 % 251) as u8 & 0x3f).collect();
        let mut sum = 0f32;
        let reps = 96 / total_mb;
        let t = std::time::Instant::now();
        for _ in 0..reps.max(1) {
            for r in 0..rows {
                let [[v]] = Kernel::best().tile(Format::Q4_1, [&w[r * blocks * 20..(r + 1) * blocks * 20]], [&act]);
                sum += v;
            }
        }
        let s = t.elapsed().as_secs_f64();
        eprintln!(
            "{total_mb} MB: {:.2} GB/s ({sum})",
            (rows * blocks * 20 * reps.max(1)) as f64 / s / 1e9
        );
    }
}

#[test]
#[ignore = "probe on the real Gemma 3 file, run by hand"]
fn probe_real_k_quant_error() {
    use candle_core::quantized::gguf_file;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/gemma-3-270m-q4_k_m.gguf");
    let mut f = std::fs::File::open(path).expect("model");
    let c = gguf_file::Content::read(&mut f).expect("gguf");
    for name in [
        "blk.0.ffn_down.weight",
        "blk.0.attn_output.weight",
        "blk.3.ffn_down.weight",
    ] {
        let q = Arc::new(c.tensor(&mut f, name, &Device::Cpu).expect("tensor"));
        let (n, k) = q.shape().dims2().expect("2d");
        let wf = q.dequantize(&Device::Cpu).expect("deq");
        // Heavy-tailed activations, as after GELU.
        let xs: Vec<f32> = values(4 * k, 7).iter().map(|v| v * v * v * 8.0).collect();
        let x = Tensor::from_vec(xs, (1, 4, k), &Device::Cpu).expect("x");
        let exact = run_f32(&wf, &x);
        let err = |got: &[f32]| {
            got.iter()
                .zip(&exact)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
                / exact.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt()
        };
        let candle = run(&QLinear::with_kernel(q.clone(), Kernel::Candle).expect("c"), &x);
        let ours = run(&QLinear::with_kernel(q.clone(), Kernel::best()).expect("o"), &x);
        eprintln!(
            "{name} {:?} n={n} k={k}: rel err candle {:.3e} ours {:.3e}",
            q.dtype(),
            err(&candle),
            err(&ours)
        );
    }
}

fn run_f32(w: &Tensor, x: &Tensor) -> Vec<f32> {
    x.broadcast_matmul(&w.t().expect("t"))
        .expect("mm")
        .flatten_all()
        .expect("flat")
        .to_vec1()
        .expect("vec")
}

#[test]
#[ignore = "timing probe, run by hand"]
fn probe_lm_head() {
    let (n, k) = (262144usize, 640usize);
    let w = Tensor::from_vec(values(n * k, 5), (n, k), &Device::Cpu).expect("w");
    let q = Arc::new(QTensor::quantize(&w, GgmlDType::Q8_0).expect("q"));
    let x = Tensor::from_vec(values(k, 6), (1, 1, k), &Device::Cpu).expect("x");
    for kernel in Kernel::available().into_iter().skip(2) {
        let l = QLinear::with_kernel(q.clone(), kernel).expect("l");
        run(&l, &x);
        let t = std::time::Instant::now();
        for _ in 0..10 {
            run(&l, &x);
        }
        eprintln!(
            "{}: {:.1} ms per call",
            kernel.name(),
            t.elapsed().as_secs_f64() * 100.0
        );
    }
}

#[test]
fn fused_projections_equal_the_separate_ones() {
    use super::Projections;
    let k = 512;
    let dev = Device::Cpu;
    // Three formats of both activation kinds, of different heights, over one input.
    let parts = [(GgmlDType::Q5_0, 40), (GgmlDType::Q8_0, 24), (GgmlDType::Q4K, 17)];
    for kernel in Kernel::available().into_iter().skip(1) {
        let linears = || {
            parts
                .iter()
                .enumerate()
                .map(|(i, &(dtype, n))| {
                    let w = Tensor::from_vec(values(n * k, 20 + i as u64), (n, k), &dev).expect("w");
                    let q = Arc::new(QTensor::quantize(&w, dtype).expect("quantize"));
                    QLinear::with_kernel(q, kernel).expect("linear")
                })
                .collect::<Vec<_>>()
        };
        let fused = Projections::new(linears());
        assert_eq!(
            matches!(fused, Projections::Fused(_)),
            kernel != Kernel::Candle,
            "{} fuses exactly when our kernels run every part",
            kernel.name()
        );
        for m in [1usize, 6, 21] {
            let x = Tensor::from_vec(values(m * k, 30 + m as u64), (1, m, k), &dev).expect("x");
            let got = fused.forward(&x).expect("fused");
            for ((linear, got), &(dtype, n)) in linears().iter().zip(&got).zip(&parts) {
                assert_eq!(got.dims(), &[1, m, n]);
                let got = got.flatten_all().expect("flat").to_vec1::<f32>().expect("vec");
                assert_eq!(got, run(linear, &x), "{dtype:?} {} m={m}", kernel.name());
            }
        }
    }
}

#[test]
fn prefill_panels_equal_their_scalar_order_on_every_format() {
    use super::blocks::{quantize_row, ActBlock, BLOCK};
    use super::kquants::{quantize_row_k, SuperAct, SUPER};
    use super::{dot_scalar_k_panel, dot_scalar_panel, WeightFormat, PANEL_MIN_ROWS};
    // The panels of every SIMD kernel this CPU runs (AVX2, and VNNI where present).
    let kernels: Vec<Kernel> = Kernel::available().into_iter().skip(2).collect();
    if kernels.is_empty() {
        eprintln!("no AVX2 on this CPU: the scalar path has no panels");
        return;
    }
    // n = 36: a task of two whole groups of eight, then a task of two and a half groups;
    // m = 19: four tiles of four activation rows and three single rows.
    let (n, k, m) = (36, 512, PANEL_MIN_ROWS + 3);
    let dev = Device::Cpu;
    let w = Tensor::from_vec(values(n * k, 41), (n, k), &dev).expect("w");
    let xs = values(m * k, 42);
    let x = Tensor::from_vec(xs.clone(), (1, m, k), &dev).expect("x");
    for dtype in OUR_FORMATS {
        let q = Arc::new(QTensor::quantize(&w, dtype).expect("quantize"));
        let bytes = q.data().expect("bytes");
        let format = WeightFormat::of(dtype).expect("ours");
        let row_bytes = k / format.block_len() * format.bytes_per_block();
        for kernel in &kernels {
            let got = run(&QLinear::with_kernel(q.clone(), *kernel).expect("ours"), &x);
            for (i, x) in xs.chunks_exact(k).enumerate() {
                for r in 0..n {
                    let row = &bytes[r * row_bytes..(r + 1) * row_bytes];
                    let want = match format {
                        WeightFormat::Blocks(f) => {
                            let mut act = vec![ActBlock::ZERO; k / BLOCK];
                            quantize_row(x, &mut act);
                            dot_scalar_panel(f, row, &act)
                        }
                        WeightFormat::Super(f) => {
                            let mut act = vec![SuperAct::ZERO; k / SUPER];
                            quantize_row_k(x, &mut act);
                            dot_scalar_k_panel(f, row, &act)
                        }
                        WeightFormat::Mxfp4 => unreachable!("candle cannot quantize to MXFP4"),
                    };
                    assert_eq!(
                        got[i * n + r].to_bits(),
                        want.to_bits(),
                        "{dtype:?} {} row {r} of activation row {i}",
                        kernel.name()
                    );
                }
            }
        }
    }
}

#[test]
fn each_matrix_against_its_own_input_equals_the_matmuls_one_by_one() {
    // Decode through several experts: matrices of different formats and widths, each with its
    // own input row, in one pass, bit for bit what each gives alone.
    let dev = Device::Cpu;
    let shapes = [
        (GgmlDType::Q4_0, 40, 256),
        (GgmlDType::Q4K, 24, 512),
        (GgmlDType::Q8_0, 33, 64),
    ];
    let ops: Vec<Arc<super::OurMatMul>> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(dtype, n, k))| {
            let w = Tensor::from_vec(values(n * k, 60 + i as u64), (n, k), &dev).expect("w");
            let q = Arc::new(QTensor::quantize(&w, dtype).expect("quantize"));
            match QLinear::with_kernel(q, Kernel::best()).expect("linear") {
                QLinear::Ours(op) => op,
                QLinear::Candle(_) => panic!("{dtype:?} is one of ours"),
            }
        })
        .collect();
    let xs: Vec<Vec<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(_, _, k))| values(k, 70 + i as u64))
        .collect();
    let refs: Vec<&super::OurMatMul> = ops.iter().map(|o| o.as_ref()).collect();
    let inputs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
    let got = super::matmul_each(&refs, &inputs).expect("matmul_each");
    let mut want = Vec::new();
    for (op, x) in ops.iter().zip(&xs) {
        let x = Tensor::from_vec(x.clone(), (1, op.columns()), &dev).expect("x");
        want.extend(run(&QLinear::Ours(op.clone()), &x));
    }
    assert_eq!(got.len(), want.len());
    assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(super::matmul_each(&refs, &inputs[..2]).is_err(), "one input per matrix");
}
