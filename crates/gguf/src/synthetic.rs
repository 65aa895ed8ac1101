//! Writes a random-weight GGUF of a synthetic shape (`parallax_core::synthetic`), with a real
//! tokenizer copied from another GGUF, laid out as llama.cpp's converter lays out the family
//! (stacked experts, f32 norms and router; GPT-OSS's experts in MXFP4, its biases and sinks),
//! so both engines load it as they load a real file.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};

use crate::write::RawTensor;
use candle_core::{Device, Tensor};
use parallax_core::synthetic::{Shape, ShapeArch, ShapeQuant};
use parallax_core::{Error, Result};

/// xorshift64*: a fixed seed, so a shape always writes the same bytes.
struct Rng(u64);

impl Rng {
    /// Uniform in `[-a, a)`.
    fn next(&mut self, a: f32) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        (bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }
}

/// The candle type of a shape's quantization, and its ggml type id.
fn dtype(q: ShapeQuant) -> (GgmlDType, u32) {
    match q {
        ShapeQuant::Q4_0 => (GgmlDType::Q4_0, 2),
        ShapeQuant::Q4_1 => (GgmlDType::Q4_1, 3),
        ShapeQuant::Q8_0 => (GgmlDType::Q8_0, 8),
    }
}

const F32: u32 = 0;
const MXFP4: u32 = 39;

fn err(path: &Path) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::InvalidModel {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes `shape` to `out` with the tokenizer of `tokenizer_from` (whose vocabulary size the
/// shape takes).
pub fn write(shape: &Shape, tokenizer_from: &Path, out: &Path) -> Result<Shape> {
    let mut src = File::open(tokenizer_from).map_err(|e| Error::Io {
        path: tokenizer_from.to_path_buf(),
        source: e,
    })?;
    let content = gguf_file::Content::read(&mut src).map_err(err(tokenizer_from))?;
    let mut meta: Vec<(String, Value)> = content
        .metadata
        .into_iter()
        .filter(|(k, _)| k.starts_with("tokenizer."))
        .collect();
    let vocab = match meta.iter().find(|(k, _)| k == "tokenizer.ggml.tokens") {
        Some((_, Value::Array(tokens))) => tokens.len(),
        _ => {
            return Err(Error::InvalidModel {
                path: tokenizer_from.to_path_buf(),
                reason: "no tokenizer.ggml.tokens to copy".into(),
            })
        }
    };
    let shape = Shape { vocab, ..shape.clone() };
    let arch = match shape.arch {
        ShapeArch::Llama => "llama",
        ShapeArch::Qwen3Moe => "qwen3moe",
        ShapeArch::GptOss => "gpt-oss",
    };
    let u32v = |n: usize| Value::U32(n as u32);
    let mut keys: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (
            "general.name".into(),
            Value::String(format!("parallax-synthetic-{}", shape.name)),
        ),
        (format!("{arch}.context_length"), u32v(32_768)),
        (format!("{arch}.embedding_length"), u32v(shape.hidden)),
        (format!("{arch}.block_count"), u32v(shape.layers)),
        (format!("{arch}.feed_forward_length"), u32v(shape.ff)),
        (format!("{arch}.attention.head_count"), u32v(shape.heads)),
        (format!("{arch}.attention.head_count_kv"), u32v(shape.kv_heads)),
        (format!("{arch}.attention.key_length"), u32v(shape.head_dim)),
        (format!("{arch}.attention.value_length"), u32v(shape.head_dim)),
        (format!("{arch}.rope.dimension_count"), u32v(shape.head_dim)),
        (format!("{arch}.attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
        (format!("{arch}.rope.freq_base"), Value::F32(1e6)),
    ];
    if shape.experts > 0 {
        keys.push((format!("{arch}.expert_count"), u32v(shape.experts)));
        keys.push((format!("{arch}.expert_used_count"), u32v(shape.experts_used)));
        keys.push((format!("{arch}.expert_feed_forward_length"), u32v(shape.ff)));
    }
    if shape.arch == ShapeArch::GptOss {
        keys.push((format!("{arch}.attention.sliding_window"), u32v(GPT_OSS_WINDOW)));
    }
    keys.append(&mut meta);

    let tensors = tensors(&shape).map_err(err(out))?;
    let io = |e: std::io::Error| Error::Io {
        path: out.to_path_buf(),
        source: e,
    };
    let mut w = BufWriter::new(File::create(out).map_err(io)?);
    crate::write::write(&mut w, &keys, &tensors).map_err(io)?;
    std::io::Write::flush(&mut w).map_err(io)?;
    Ok(shape)
}

/// GPT-OSS's window on its sliding layers.
const GPT_OSS_WINDOW: usize = 128;

/// A tensor of row-major `dims` (ggml lists them reversed).
fn raw(name: String, dims: &[usize], ggml_type: u32, bytes: Vec<u8>) -> RawTensor {
    RawTensor {
        name,
        dims: dims.iter().rev().copied().collect(),
        ggml_type,
        bytes,
    }
}

fn tensors(s: &Shape) -> candle_core::Result<Vec<RawTensor>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (q, q_id) = dtype(s.quant);
    let (h, qd, kvd) = (s.hidden, s.heads * s.head_dim, s.kv_heads * s.head_dim);
    let gpt = s.arch == ShapeArch::GptOss;
    // Uniform with the variance of N(0, 1/fan_in), so activations keep their scale.
    let mut matrix =
        |name: String, dims: &[usize], quant: Option<(GgmlDType, u32)>| -> candle_core::Result<RawTensor> {
            let fan_in = *dims.last().unwrap_or(&1) as f32;
            let a = (3.0 / fan_in).sqrt();
            let n: usize = dims.iter().product();
            if quant.is_none() && dims.len() > 2 {
                // MXFP4 (GPT-OSS's experts): random codes under one scale that gives the same spread.
                return Ok(raw(name, dims, MXFP4, mxfp4_blocks(&mut rng, n, a)));
            }
            let v: Vec<f32> = (0..n).map(|_| rng.next(a)).collect();
            let (dtype, id) = quant.unwrap_or((GgmlDType::F32, F32));
            let t = QTensor::quantize(&Tensor::from_vec(v, dims, &Device::Cpu)?, dtype)?;
            Ok(raw(name, dims, id, t.data()?.into_owned()))
        };
    let floats = |name: String, v: Vec<f32>| {
        let n = v.len();
        raw(name, &[n], F32, v.into_iter().flat_map(f32::to_le_bytes).collect())
    };
    let ones = |name: String, n: usize| floats(name, vec![1.0; n]);
    let mut t = vec![
        matrix("token_embd.weight".into(), &[s.vocab, h], Some((q, q_id)))?,
        ones("output_norm.weight".into(), h),
    ];
    let dense = Some((q, q_id));
    let experts = if gpt { None } else { dense };
    for i in 0..s.layers {
        let p = |name: &str| format!("blk.{i}.{name}.weight");
        let b = |name: &str| format!("blk.{i}.{name}.bias");
        t.push(ones(p("attn_norm"), h));
        t.push(ones(p(if gpt { "post_attention_norm" } else { "ffn_norm" }), h));
        t.push(matrix(p("attn_q"), &[qd, h], dense)?);
        t.push(matrix(p("attn_k"), &[kvd, h], dense)?);
        t.push(matrix(p("attn_v"), &[kvd, h], dense)?);
        t.push(matrix(p("attn_output"), &[h, qd], dense)?);
        if s.arch == ShapeArch::Qwen3Moe {
            t.push(ones(p("attn_q_norm"), s.head_dim));
            t.push(ones(p("attn_k_norm"), s.head_dim));
        }
        if gpt {
            for (name, n) in [("attn_q", qd), ("attn_k", kvd), ("attn_v", kvd), ("attn_output", h)] {
                t.push(floats(b(name), vec![0.0; n]));
            }
            t.push(floats(p("attn_sinks"), vec![0.0; s.heads]));
            t.push(floats(b("ffn_gate_inp"), vec![0.0; s.experts]));
            for (name, n) in [("ffn_gate_exps", s.ff), ("ffn_up_exps", s.ff), ("ffn_down_exps", h)] {
                t.push(raw(b(name), &[s.experts, n], F32, vec![0u8; 4 * s.experts * n]));
            }
        }
        match s.experts {
            0 => {
                t.push(matrix(p("ffn_gate"), &[s.ff, h], dense)?);
                t.push(matrix(p("ffn_up"), &[s.ff, h], dense)?);
                t.push(matrix(p("ffn_down"), &[h, s.ff], dense)?);
            }
            e => {
                t.push(matrix(p("ffn_gate_inp"), &[e, h], None)?);
                t.push(matrix(p("ffn_gate_exps"), &[e, s.ff, h], experts)?);
                t.push(matrix(p("ffn_up_exps"), &[e, s.ff, h], experts)?);
                t.push(matrix(p("ffn_down_exps"), &[e, h, s.ff], experts)?);
            }
        }
    }
    Ok(t)
}

/// `n` random MXFP4 weights: uniform codes (RMS ≈ 2.93 over E2M1's magnitudes) under the E8M0
/// scale nearest to `a / √3 / 2.93`, the spread of uniform weights in `[-a, a)`.
fn mxfp4_blocks(rng: &mut Rng, n: usize, a: f32) -> Vec<u8> {
    let scale = a / 3f32.sqrt() / 2.93;
    let e = (scale.log2().round() as i32 + 127).clamp(1, 254) as u8;
    let mut out = Vec::with_capacity(n / 32 * 17);
    for _ in 0..n / 32 {
        out.push(e);
        for _ in 0..16 {
            let byte = ((rng.next(1.0) + 1.0) * 128.0) as u32;
            out.push(byte.min(255) as u8);
        }
    }
    out
}
