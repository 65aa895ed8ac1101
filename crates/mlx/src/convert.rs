//! `parallax convert`: a GGUF file → an MLX model directory that mlx-lm loads and runs
//! (`config.json`, `model.safetensors`, `tokenizer.json`, `tokenizer_config.json`), and the
//! reading of such a directory's tokenizer and chat template.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mlx_rs::{Array, Dtype};
use parallax_core::arch::Family;
use parallax_core::{ChatTemplate, Error, Result, Tokenizer};
use serde::Serialize;
use serde_json::{json, Value};

use crate::checkpoint::Checkpoint;
use parallax_core::ModelDesc;

use crate::config::{to_hf_json, QuantSpec};

/// Target precision of `convert`: keep the source's quantization, or requantize to `bits`
/// (16 = unquantized f16) with `group_size`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConvertOptions {
    pub bits: Option<i32>,
    pub group_size: Option<i32>,
}

#[derive(Debug, Serialize)]
pub struct ConvertReport {
    pub out_dir: PathBuf,
    pub architecture: String,
    pub weight_format: String,
    pub tensors: usize,
    pub bytes: u64,
    pub warnings: Vec<String>,
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidModel {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub fn convert(gguf: &Path, out_dir: &Path, opts: ConvertOptions) -> Result<ConvertReport> {
    if let Some(b) = opts.bits.filter(|b| ![4, 8, 16].contains(b)) {
        return Err(Error::invalid("bits", format!("must be 4, 8 or 16, got {b}")));
    }
    if let Some(g) = opts.group_size.filter(|g| ![32, 64].contains(g)) {
        return Err(Error::invalid("group_size", format!("must be 32 or 64, got {g}")));
    }
    if gguf.is_dir() {
        return Err(Error::invalid(
            "model",
            "convert reads a GGUF file; this is already a directory",
        ));
    }
    let (ckpt, tokenizer, template) = crate::read(gguf)?;
    let Checkpoint {
        desc: config,
        tensors,
        mut weight_format,
        mut warnings,
        ..
    } = ckpt;
    let mlx = |e: mlx_rs::error::Exception| invalid(gguf, e.what().to_owned());
    let (tensors, quant) = requantize(tensors, &config, opts).map_err(mlx)?;
    if opts.bits.is_some() || opts.group_size.is_some() {
        weight_format = format!("{weight_format}, then requantized to {}", describe(&quant));
        if warnings.is_empty() && opts.bits != Some(16) {
            warnings.push("requantized on request: no longer bit-exact with the GGUF file".into());
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| io_err(out_dir, e))?;
    // mlx-lm's Llama 4 is the multimodal class: its text model's tensors (and their
    // quantization entries) live under `language_model.`, which our reader strips again.
    let prefix = match config.family {
        Family::Llama4 => "language_model.",
        _ => "",
    };
    let quant: BTreeMap<String, QuantSpec> = quant.into_iter().map(|(m, q)| (format!("{prefix}{m}"), q)).collect();
    let cfg = to_hf_json(&config, &quant).map_err(|r| invalid(gguf, format!("cannot write config.json: {r}")))?;
    write_json(&out_dir.join("config.json"), &cfg)?;
    let metadata = HashMap::from([("format".to_owned(), "mlx".to_owned())]);
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let saved: Vec<(String, &Array)> = names.iter().map(|n| (format!("{prefix}{n}"), &tensors[*n])).collect();
    Array::save_safetensors(
        saved.iter().map(|(n, a)| (n.as_str(), *a)),
        &metadata,
        out_dir.join("model.safetensors"),
    )
    .map_err(|e| invalid(out_dir, format!("writing model.safetensors: {e}")))?;
    std::fs::write(out_dir.join("tokenizer.json"), tokenizer.to_hf_json()?).map_err(|e| io_err(out_dir, e))?;
    write_json(
        &out_dir.join("tokenizer_config.json"),
        &tokenizer_config(&tokenizer, template.as_ref(), &config),
    )?;
    Ok(ConvertReport {
        out_dir: out_dir.to_path_buf(),
        architecture: config.family.name().to_owned(),
        weight_format,
        tensors: tensors.len(),
        bytes: crate::checkpoint::total_bytes(&tensors),
        warnings,
    })
}

fn describe(quant: &BTreeMap<String, QuantSpec>) -> String {
    match quant.values().next() {
        Some(q) => format!("{}-bit g{}", q.bits, q.group_size),
        None => "f16".into(),
    }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| invalid(path, e.to_string()))?;
    std::fs::write(path, text).map_err(|e| io_err(path, e))
}

/// Input width of each weight matrix, by HF module name.
fn in_dim(module: &str, c: &ModelDesc) -> usize {
    if module.ends_with("o_proj") {
        c.layers[0].n_head * c.head_dim
    } else if module.ends_with("down_proj") {
        // In a layer with experts, every down projection (shared expert too) is an expert's.
        let layer = module
            .strip_prefix("model.layers.")
            .and_then(|rest| rest.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| c.layers.get(i));
        match (&c.moe, layer) {
            (Some(m), Some(l)) if l.experts => m.expert_ff,
            _ => c.intermediate,
        }
    } else {
        c.hidden
    }
}

type Tensors = HashMap<String, Array>;

/// Applies `opts` to every quantized matrix and returns the quantization of each module.
fn requantize(
    mut t: Tensors,
    c: &ModelDesc,
    opts: ConvertOptions,
) -> mlx_rs::error::Result<(Tensors, BTreeMap<String, QuantSpec>)> {
    let modules: Vec<String> = t
        .keys()
        .filter_map(|k| k.strip_suffix(".scales"))
        .map(str::to_owned)
        .collect();
    let mut quant = BTreeMap::new();
    for m in modules {
        if t.get(&format!("{m}.scales")).is_some_and(|s| s.dtype() == Dtype::Uint8) {
            return Err(mlx_rs::error::Exception::custom(format!(
                "`{m}` is MXFP4, which `parallax convert` does not write yet (both engines run the GGUF as it is)"
            )));
        }
        let (w, s, b) = (
            t.remove(&format!("{m}.weight")).ok_or_else(|| missing(&m))?,
            t.remove(&format!("{m}.scales")).ok_or_else(|| missing(&m))?,
            t.remove(&format!("{m}.biases")).ok_or_else(|| missing(&m))?,
        );
        let n = in_dim(&m, c) as i32;
        // The last axis is the packed row (experts stack a leading axis).
        let last = |a: &Array| a.shape().last().copied().unwrap_or(1);
        let have = QuantSpec {
            bits: last(&w) * 32 / n,
            group_size: n / last(&s),
        };
        let want = QuantSpec {
            bits: opts.bits.unwrap_or(have.bits),
            group_size: opts.group_size.unwrap_or(have.group_size),
        };
        if want == have {
            t.extend([
                (format!("{m}.weight"), w),
                (format!("{m}.scales"), s),
                (format!("{m}.biases"), b),
            ]);
            quant.insert(m, have);
            continue;
        }
        let dense = mlx_rs::ops::dequantize(&w, &s, &b, have.group_size, have.bits)?.as_dtype(Dtype::Float32)?;
        if want.bits == 16 {
            t.insert(format!("{m}.weight"), dense.as_dtype(Dtype::Float16)?);
            continue;
        }
        let (w, s, b) = mlx_rs::ops::quantize(&dense, want.group_size, want.bits)?;
        t.extend([
            (format!("{m}.weight"), w),
            (format!("{m}.scales"), s.as_dtype(Dtype::Float16)?),
            (format!("{m}.biases"), b.as_dtype(Dtype::Float16)?),
        ]);
        quant.insert(m, want);
    }
    Ok((t, quant))
}

fn missing(module: &str) -> mlx_rs::error::Exception {
    mlx_rs::error::Exception::custom(format!("incomplete quantized tensor `{module}`"))
}

fn tokenizer_config(tok: &Tokenizer, template: Option<&ChatTemplate>, c: &ModelDesc) -> Value {
    let mut v = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "add_bos_token": tok.add_bos,
        "model_max_length": c.context_length,
        "clean_up_tokenization_spaces": false,
    });
    if let Some(t) = template {
        v["chat_template"] = json!(t.source());
    }
    v
}

/// A special token in `tokenizer_config.json`: a string or `{"content": …}`.
fn special(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v["content"].as_str().map(str::to_owned))
}

/// The tokenizer and chat template of an MLX directory.
pub fn read_dir_tokenizer(dir: &Path) -> Result<(Tokenizer, Option<ChatTemplate>)> {
    let json = std::fs::read_to_string(dir.join("tokenizer.json"))
        .map_err(|e| invalid(dir, format!("cannot read tokenizer.json: {e}")))?;
    let cfg: Value = match std::fs::read_to_string(dir.join("tokenizer_config.json")) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| invalid(dir, format!("tokenizer_config.json: {e}")))?,
        Err(_) => json!({}),
    };
    let (bos, eos) = (special(&cfg["bos_token"]), special(&cfg["eos_token"]));
    let tokenizer = Tokenizer::from_hf_json(&json, bos.as_deref(), eos.as_deref())?;
    let template = match template_source(dir, &cfg["chat_template"]) {
        Some(src) => Some(ChatTemplate::new(
            src,
            bos.as_deref().unwrap_or(""),
            eos.as_deref().unwrap_or(""),
            false,
        )?),
        None => None,
    };
    Ok((tokenizer, template))
}

/// The directory's chat template: `tokenizer_config.json`'s `chat_template` (a string, or the
/// list form `[{"name": "default", "template": …}, …]`), else `chat_template.jinja`, else
/// `chat_template.json` (as newer transformers save them).
fn template_source(dir: &Path, in_config: &Value) -> Option<String> {
    if let Some(s) = in_config.as_str() {
        return Some(s.to_owned());
    }
    if let Some(list) = in_config.as_array() {
        let named = |name: &str| list.iter().find(|t| t["name"] == name);
        let chosen = named("default").or_else(|| list.first())?;
        return chosen["template"].as_str().map(str::to_owned);
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("chat_template.jinja")) {
        return Some(text);
    }
    let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("chat_template.json")).ok()?).ok()?;
    json["chat_template"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[test]
    fn templates_are_found_in_every_form_transformers_saves() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(template_source(dir.path(), &json!("A")).as_deref(), Some("A"));
        let list = json!([{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]);
        assert_eq!(template_source(dir.path(), &list).as_deref(), Some("D"));
        assert_eq!(template_source(dir.path(), &Value::Null), None);
        std::fs::write(dir.path().join("chat_template.json"), r#"{"chat_template": "J"}"#).expect("write");
        assert_eq!(template_source(dir.path(), &Value::Null).as_deref(), Some("J"));
        std::fs::write(dir.path().join("chat_template.jinja"), "F").expect("write");
        assert_eq!(template_source(dir.path(), &Value::Null).as_deref(), Some("F"));
    }
}
