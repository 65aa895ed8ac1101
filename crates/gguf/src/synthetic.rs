//! Writes a random-weight GGUF of a synthetic shape (`parallax_core::synthetic`), with a real
//! tokenizer copied from another GGUF, laid out as llama.cpp's converter lays out the family
//! (stacked experts, f32 norms and router), so both engines load it as they load a real file.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
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

fn dtype(q: ShapeQuant) -> GgmlDType {
    match q {
        ShapeQuant::Q4_0 => GgmlDType::Q4_0,
        ShapeQuant::Q4_1 => GgmlDType::Q4_1,
        ShapeQuant::Q8_0 => GgmlDType::Q8_0,
    }
}

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
    keys.append(&mut meta);

    let tensors = tensors(&shape).map_err(err(out))?;
    let file = File::create(out).map_err(|e| Error::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    let mut w = BufWriter::new(file);
    let keys: Vec<(&str, &Value)> = keys.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut w, &keys, &tensors).map_err(err(out))?;
    Ok(shape)
}

fn tensors(s: &Shape) -> candle_core::Result<Vec<(String, QTensor)>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let q = dtype(s.quant);
    let (h, qd, kvd) = (s.hidden, s.heads * s.head_dim, s.kv_heads * s.head_dim);
    // Uniform with the variance of N(0, 1/fan_in), so activations keep their scale.
    let mut matrix = |dims: &[usize], dtype: GgmlDType| -> candle_core::Result<QTensor> {
        let fan_in = *dims.last().unwrap_or(&1) as f32;
        let a = (3.0 / fan_in).sqrt();
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.next(a)).collect();
        QTensor::quantize(&Tensor::from_vec(v, dims, &Device::Cpu)?, dtype)
    };
    let ones = |n: usize| QTensor::quantize(&Tensor::ones(n, candle_core::DType::F32, &Device::Cpu)?, GgmlDType::F32);
    let mut t = vec![
        ("token_embd.weight".to_owned(), matrix(&[s.vocab, h], q)?),
        ("output_norm.weight".to_owned(), ones(h)?),
    ];
    for i in 0..s.layers {
        let p = |name: &str| format!("blk.{i}.{name}.weight");
        t.push((p("attn_norm"), ones(h)?));
        t.push((p("ffn_norm"), ones(h)?));
        t.push((p("attn_q"), matrix(&[qd, h], q)?));
        t.push((p("attn_k"), matrix(&[kvd, h], q)?));
        t.push((p("attn_v"), matrix(&[kvd, h], q)?));
        t.push((p("attn_output"), matrix(&[h, qd], q)?));
        if s.arch == ShapeArch::Qwen3Moe {
            t.push((p("attn_q_norm"), ones(s.head_dim)?));
            t.push((p("attn_k_norm"), ones(s.head_dim)?));
        }
        match s.experts {
            0 => {
                t.push((p("ffn_gate"), matrix(&[s.ff, h], q)?));
                t.push((p("ffn_up"), matrix(&[s.ff, h], q)?));
                t.push((p("ffn_down"), matrix(&[h, s.ff], q)?));
            }
            e => {
                t.push((p("ffn_gate_inp"), matrix(&[e, h], GgmlDType::F32)?));
                t.push((p("ffn_gate_exps"), matrix(&[e, s.ff, h], q)?));
                t.push((p("ffn_up_exps"), matrix(&[e, s.ff, h], q)?));
                t.push((p("ffn_down_exps"), matrix(&[e, h, s.ff], q)?));
            }
        }
    }
    Ok(t)
}
