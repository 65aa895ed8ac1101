//! Reads a model into one form — a `ModelDesc` plus tensors under Hugging Face names — from
//! either an MLX model directory or a GGUF file. The engine and `parallax convert` both start here.
//!
//! GGUF files whose tensors are all Q4_0, Q4_1, Q8_0 or float go through MLX's own GGUF loader,
//! which turns each quantized tensor into an MLX affine-quantized triple (packed u32 weight, f16
//! scales and biases) with bit-exact values: both engines then run the very same weights. Other
//! types (K-quants) are dequantized with candle and requantized with MLX, with a warning.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use mlx_rs::io::GgufFile;
use mlx_rs::{Array, Dtype};
use parallax_core::arch::{gguf_to_hf_module, NormStyle};
use parallax_core::{Error, GgufHeader, ModelDesc, Result};

use crate::config::QuantSpec;

/// A model read from disk, not yet built into an architecture.
pub struct Checkpoint {
    pub desc: ModelDesc,
    /// Hugging Face names: `model.layers.0.self_attn.q_proj.weight` (+ `.scales`, `.biases`).
    pub tensors: HashMap<String, Array>,
    /// e.g. "GGUF Q4_1 → MLX affine 4-bit g32 (bit-exact)" or "MLX 4-bit g64".
    pub weight_format: String,
    pub weight_bytes: u64,
    pub warnings: Vec<String>,
}

/// GGUF tensor types MLX's GGUF loader reads exactly.
const MLX_NATIVE_TYPES: &[&str] = &["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0"];

fn mlx_err(path: &Path) -> impl Fn(mlx_rs::error::Exception) -> Error + '_ {
    move |e| Error::InvalidModel {
        path: path.to_path_buf(),
        reason: e.what().to_owned(),
    }
}

pub fn total_bytes(tensors: &HashMap<String, Array>) -> u64 {
    tensors.values().map(|a| a.nbytes() as u64).sum()
}

// ---------------------------------------------------------------- MLX directories

pub fn read_dir(dir: &Path) -> Result<Checkpoint> {
    let invalid = |reason: String| Error::InvalidModel {
        path: dir.to_path_buf(),
        reason,
    };
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| invalid(format!("cannot read config.json: {e}")))?;
    let desc = ModelDesc::from_hf_config(dir, &text)?;
    let mut tensors = HashMap::new();
    for file in weight_files(dir)? {
        let arrays = Array::load_safetensors(&file).map_err(|e| {
            invalid(format!(
                "{}: {e}",
                file.file_name().unwrap_or_default().to_string_lossy()
            ))
        })?;
        tensors.extend(arrays);
    }
    let mut tensors = text_model_names(tensors);
    crate::experts::stack_experts(&mut tensors, &desc, invalid)?;
    let weight_format = match quant_in_config(&text) {
        Some((_, Some(mode))) => format!("MLX {mode}"),
        Some((q, None)) => format!("MLX {}-bit g{}", q.bits, q.group_size),
        None => "MLX (unquantized)".to_owned(),
    };
    Ok(Checkpoint {
        desc,
        weight_bytes: total_bytes(&tensors),
        tensors,
        weight_format,
        warnings: vec![],
    })
}

/// A multimodal checkpoint (Gemma 3's `Gemma3ForConditionalGeneration`) keeps its language model
/// under `language_model.` (transformers < 4.52) or `model.language_model.`; the text model reads
/// those under plain HF names and leaves the vision tower and projector out, as mlx-lm does.
fn text_model_names<T>(tensors: HashMap<String, T>) -> HashMap<String, T> {
    let vision = [
        "vision_model.",
        "vision_tower.",
        "multi_modal_projector.",
        "model.vision_tower.",
        "model.multi_modal_projector.",
    ];
    tensors
        .into_iter()
        .filter(|(k, _)| !vision.iter().any(|v| k.starts_with(v)))
        .map(|(k, v)| {
            let k = if let Some(rest) = k.strip_prefix("language_model.") {
                rest.to_owned()
            } else if let Some(rest) = k.strip_prefix("model.language_model.") {
                format!("model.{rest}")
            } else {
                k
            };
            (k, v)
        })
        .collect()
}

/// The config's default quantization, and its mode where it is not MLX's affine one
/// (`mxfp4`, whose tensors `Linear` tells by their u8 scales).
fn quant_in_config(text: &str) -> Option<(QuantSpec, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let q = v.get("quantization")?;
    let mode = q["mode"].as_str().filter(|m| *m != "affine").map(str::to_owned);
    Some((serde_json::from_value(q.clone()).ok()?, mode))
}

/// `model.safetensors`, or the shards that `model.safetensors.index.json` lists.
fn weight_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let invalid = |reason: String| Error::InvalidModel {
        path: dir.to_path_buf(),
        reason,
    };
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| invalid(format!("index: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(format!("index: {e}")))?;
        let map = v["weight_map"]
            .as_object()
            .ok_or_else(|| invalid("index has no weight_map".into()))?;
        let shards: BTreeSet<&str> = map.values().filter_map(|s| s.as_str()).collect();
        let files: Vec<_> = shards.into_iter().map(|s| dir.join(s)).collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(invalid(format!("shard {} is missing", missing.display())));
        }
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(invalid("no model.safetensors or model.safetensors.index.json".into()))
}

// ---------------------------------------------------------------- GGUF files

pub fn read_gguf(header: &GgufHeader) -> Result<Checkpoint> {
    let desc = ModelDesc::from_gguf(header)?;
    desc.check_gguf_tensors(header)?;
    if header.tensors.iter().any(|t| t.ggml_type.name == "MXFP4") {
        return read_gguf_with_mxfp4(header, desc);
    }
    let foreign: BTreeSet<&str> = header
        .tensors
        .iter()
        .map(|t| t.ggml_type.name)
        .filter(|t| !MLX_NATIVE_TYPES.contains(t))
        .collect();
    let (raw, weight_format, warnings) = if foreign.is_empty() {
        let mut raw = HashMap::new();
        for part in &header.parts {
            let file = GgufFile::load(&part.path).map_err(|e| header.invalid(format!("MLX could not load it: {e}")))?;
            raw.extend(file.arrays().map_err(|e| header.invalid(e.to_string()))?);
        }
        let dominant = header.dominant_type();
        let format = match native_spec(dominant) {
            Some(q) => format!(
                "GGUF {dominant} → MLX affine {}-bit g{} (bit-exact)",
                q.bits, q.group_size
            ),
            None => format!("GGUF {dominant}"),
        };
        (raw, format, vec![])
    } else {
        let (raw, n, types) = crate::requant::read(header)?;
        let types = types.into_iter().collect::<Vec<_>>().join(", ");
        let warning = format!(
            "MLX cannot load {} exactly: {n} tensors of type {types} were dequantized and requantized to \
             MLX affine 4-bit (8-bit for 5/6/8-bit types), group 32: close to the file's weights, not bit-exact",
            foreign.into_iter().collect::<Vec<_>>().join(", ")
        );
        (
            raw,
            format!("GGUF {} → MLX affine requantized", header.dominant_type()),
            vec![warning],
        )
    };
    gguf_checkpoint(raw, desc, header, weight_format, warnings)
}

/// GGUF-named arrays as a checkpoint under HF names, per-expert tensors stacked.
fn gguf_checkpoint(
    raw: HashMap<String, Array>,
    desc: ModelDesc,
    header: &GgufHeader,
    weight_format: String,
    warnings: Vec<String>,
) -> Result<Checkpoint> {
    let mut tensors = to_hf_names(raw, &desc, header)?;
    crate::experts::stack_experts(&mut tensors, &desc, |r| header.invalid(r))?;
    Ok(Checkpoint {
        desc,
        weight_bytes: total_bytes(&tensors),
        tensors,
        weight_format,
        warnings,
    })
}

/// A file with MXFP4 tensors, which MLX's loader cannot read: every tensor through our own
/// reader, MXFP4 into MLX's `mxfp4` mode (bit-exact).
fn read_gguf_with_mxfp4(header: &GgufHeader, desc: ModelDesc) -> Result<Checkpoint> {
    let (raw, requantized) = crate::gguf_tensors::read(header)?;
    let mut warnings = vec![];
    if !requantized.is_empty() {
        warnings.push(format!(
            "MLX cannot load {} exactly: those tensors were dequantized and requantized to MLX affine \
             (4-bit, 8-bit for 5/6/8-bit types), group 32: close to the file's weights, not bit-exact",
            requantized.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let weight_format = format!("GGUF {} → MLX (MXFP4 as MLX mxfp4, bit-exact)", header.dominant_type());
    gguf_checkpoint(raw, desc, header, weight_format, warnings)
}

fn native_spec(ggml_type: &str) -> Option<QuantSpec> {
    match ggml_type {
        "Q4_0" | "Q4_1" => Some(QuantSpec {
            bits: 4,
            group_size: 32,
        }),
        "Q8_0" => Some(QuantSpec {
            bits: 8,
            group_size: 32,
        }),
        _ => None,
    }
}

/// Renames to HF names (the core's table) and undoes what llama.cpp's converter did to the HF
/// weights, as the family's description says:
/// - llama family: Q and K rows (and biases) were permuted for llama.cpp's interleaved RoPE; the
///   inverse permutation restores HF's split-halves layout (rows only, so quantized groups stay
///   intact). Other families were not permuted and are left alone;
/// - Gemma: norm weights were stored as `1 + w`; HF (and mlx-lm) store `w`.
fn to_hf_names(raw: HashMap<String, Array>, d: &ModelDesc, header: &GgufHeader) -> Result<HashMap<String, Array>> {
    let spec = d.spec();
    let mut out = HashMap::with_capacity(raw.len());
    for (name, array) in raw {
        let Some((module, suffix)) = name.rsplit_once('.') else {
            continue;
        };
        let Some(hf) = gguf_to_hf_module(module, spec) else {
            continue;
        };
        let err = |e: mlx_rs::error::Exception| header.invalid(format!("{name}: {e}"));
        let heads = |kv: bool| {
            let layer = layer_index(module)
                .and_then(|i| d.layers.get(i))
                .unwrap_or(&d.layers[0]);
            if kv {
                layer.n_kv_head
            } else {
                layer.n_head
            }
        };
        let array = if spec.gguf_qk_permuted && hf.ends_with("q_proj") {
            array
                .take_axis(unpermute_rows(heads(false), d.head_dim), 0)
                .map_err(err)?
        } else if spec.gguf_qk_permuted && hf.ends_with("k_proj") {
            array
                .take_axis(unpermute_rows(heads(true), d.head_dim), 0)
                .map_err(err)?
        } else if spec.norm == NormStyle::RmsPlusOne && hf.ends_with("norm") {
            array.subtract(Array::from_f32(1.0)).map_err(err)?
        } else {
            array
        };
        out.insert(format!("{hf}.{suffix}"), array);
    }
    Ok(out)
}

fn layer_index(gguf_module: &str) -> Option<usize> {
    gguf_module.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// Row order that maps llama.cpp's permuted Q/K rows back to HF's: within each head, GGUF row
/// `2j + t` holds HF row `t·d/2 + j`.
fn unpermute_rows(heads: usize, head_dim: usize) -> Array {
    let half = head_dim / 2;
    let idx: Vec<u32> = (0..heads)
        .flat_map(|h| (0..2).flat_map(move |t| (0..half).map(move |j| (h * head_dim + 2 * j + t) as u32)))
        .collect();
    Array::from_slice(&idx, &[idx.len() as i32])
}

/// Casts f16/bf16 tensors to f32: on an x86 CPU half-precision arithmetic is emulated (~40×
/// slower). Exact: every f16 value is an f32 value.
pub fn widen_half_floats(tensors: &mut HashMap<String, Array>, path: &Path) -> Result<()> {
    for a in tensors.values_mut() {
        if matches!(a.dtype(), Dtype::Float16 | Dtype::Bfloat16) {
            *a = a.as_dtype(Dtype::Float32).map_err(mlx_err(path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multimodal_checkpoint_is_read_for_its_text_model() {
        let names = |keys: &[&str]| {
            let map: HashMap<String, ()> = keys.iter().map(|k| ((*k).to_owned(), ())).collect();
            let mut out: Vec<String> = text_model_names(map).into_keys().collect();
            out.sort();
            out
        };
        assert_eq!(
            names(&[
                "language_model.model.layers.0.mlp.up_proj.weight",
                "language_model.lm_head.weight",
                "vision_tower.x"
            ]),
            ["lm_head.weight", "model.layers.0.mlp.up_proj.weight"]
        );
        assert_eq!(
            names(&["model.language_model.norm.weight", "model.multi_modal_projector.w"]),
            ["model.norm.weight"]
        );
    }

    #[test]
    fn unpermuting_inverts_llama_cpps_rope_permutation() {
        // llama.cpp: w.reshape(h, 2, d/2, in).swapaxes(1, 2) — HF row (h, t, j) lands at (h, j, t).
        let (heads, d) = (2usize, 4usize);
        let permuted: Vec<usize> = (0..heads)
            .flat_map(|h| (0..d / 2).flat_map(move |j| (0..2).map(move |t| h * d + t * d / 2 + j)))
            .collect();
        let idx = unpermute_rows(heads, d);
        let back: Vec<usize> = idx.as_slice::<u32>().iter().map(|&i| permuted[i as usize]).collect();
        assert_eq!(back, (0..heads * d).collect::<Vec<_>>());
    }
}
