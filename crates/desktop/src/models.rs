//! The model picker's rows: every catalog chat model with its size, format, quantisation and
//! a memory-fit estimate (weights plus the KV cache at the chosen context, against the memory
//! available now) before anything is loaded.

use parallax_core::catalog::{self, CatalogEntry, ModelKind};
use parallax_core::discover::FoundModel;
use parallax_core::{GgufHeader, ModelDesc};
use serde::Serialize;
use ts_rs::TS;

use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct MemoryFit {
    #[ts(type = "number")]
    pub weights_bytes: u64,
    #[ts(type = "number")]
    pub kv_cache_bytes: u64,
    /// Weights, KV cache and runtime overhead together.
    #[ts(type = "number")]
    pub needed_bytes: u64,
    #[ts(type = "number")]
    pub available_bytes: u64,
    pub fits: bool,
    /// A mixture of experts: the weight bytes one token reads, which its speed follows (its
    /// memory follows the whole `weights_bytes`).
    #[ts(type = "number | null")]
    pub active_weights_bytes: Option<u64>,
    /// A sentence for the picker, e.g. "needs about 0.2 GB of 9.8 GB free".
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ModelOption {
    pub id: String,
    pub format: String,
    pub quantization: String,
    pub architecture: String,
    #[ts(type = "number")]
    pub size_bytes: u64,
    pub context_length: usize,
    /// On disk (fetched by `make models`).
    pub fetched: bool,
    pub path: String,
    /// Added by the user (can be removed); catalog models come from `make models`.
    pub imported: bool,
    /// Where it was found: "Catalog", "Imported", "Model folders", "Hugging Face cache", "LM Studio".
    pub source: String,
    /// Why the GGUF engine cannot run it (`None`: it can).
    pub gguf_unsupported: Option<String>,
    /// Why the MLX engine cannot run it (`None`: it can).
    pub mlx_unsupported: Option<String>,
    /// The remote engine that serves it (`None`: a local model).
    pub remote: Option<String>,
    pub fit: MemoryFit,
}

/// Runtime, scratch and tokenizer memory beyond weights and KV cache.
const OVERHEAD_BYTES: u64 = 64 << 20;

fn gb(b: u64) -> String {
    format!("{:.1} GB", b as f64 / 1e9)
}

/// The fit of a model of `weights` bytes holding `context` positions of `kv_per_token` bytes;
/// a mixture of experts also says how much a token reads (`active`).
pub fn memory_fit(weights: u64, kv_per_token: u64, context: usize, available: u64, active: Option<u64>) -> MemoryFit {
    let kv = kv_per_token * context as u64;
    let needed = weights + kv + OVERHEAD_BYTES;
    let fits = needed <= available;
    let mut summary = if fits {
        format!("needs about {} of {} free", gb(needed), gb(available))
    } else {
        format!(
            "This model needs about {} and {} is free: close some apps, use a shorter context or pick a smaller quantisation",
            gb(needed),
            gb(available)
        )
    };
    if let Some(a) = active {
        summary.push_str(&format!(
            "; a mixture of experts: memory for all {} of weights, speed like a {} model (what one token reads)",
            gb(weights),
            gb(a)
        ));
    }
    MemoryFit {
        weights_bytes: weights,
        kv_cache_bytes: kv,
        needed_bytes: needed,
        available_bytes: available,
        fits,
        active_weights_bytes: active,
        summary,
    }
}

/// The system's available memory now.
pub fn available_memory() -> u64 {
    sysinfo::System::new()
        .map(|mut s| {
            s.refresh_memory();
            s.available_memory()
        })
        .unwrap_or(0)
}

/// KV bytes per position from the model's own description (a GGUF header, or an MLX
/// directory's `config.json`; 0 when neither can be read), and for a mixture of experts the
/// weight bytes one token reads.
fn kv_and_active_bytes(path: &std::path::Path, size_bytes: u64) -> (u64, Option<u64>) {
    if path.is_dir() {
        let desc = std::fs::read_to_string(path.join("config.json"))
            .ok()
            .and_then(|text| ModelDesc::from_hf_config(path, &text).ok());
        return desc.map_or((0, None), |d| {
            (d.kv_bytes_per_token(4), d.active_bytes_estimate(size_bytes))
        });
    }
    let Some((h, d)) = GgufHeader::read(path)
        .ok()
        .and_then(|h| ModelDesc::from_gguf(&h).ok().map(|d| (h, d)))
    else {
        return (0, None);
    };
    let active = d
        .moe
        .is_some()
        .then(|| parallax_core::figures::WeightsPerToken::of_gguf(&h, &d).active_bytes);
    (d.kv_bytes_per_token(4), active)
}

/// One picker row: the entry with its fit at `context` positions (the model's own maximum
/// when `None`, capped there otherwise).
fn option_of(e: CatalogEntry, context: Option<usize>, available: u64, source: &str) -> ModelOption {
    let fetched = e.is_fetched();
    let path = e.path();
    let (kv_per_token, active) = if fetched {
        kv_and_active_bytes(&path, e.size_bytes)
    } else {
        (0, None)
    };
    let ctx = context.unwrap_or(e.context_length).min(e.context_length);
    ModelOption {
        fit: memory_fit(e.size_bytes, kv_per_token, ctx, available, active),
        id: e.id,
        format: e.format,
        quantization: e.quantization,
        architecture: e.architecture,
        size_bytes: e.size_bytes,
        context_length: e.context_length,
        fetched,
        path: path.display().to_string(),
        imported: source == SOURCE_IMPORTED,
        source: source.to_owned(),
        gguf_unsupported: None,
        mlx_unsupported: None,
        remote: None,
    }
}

const SOURCE_IMPORTED: &str = "Imported";

/// A model found in the Hugging Face cache or LM Studio's folders, with its fit from the
/// description the scan already read, and each engine's reason where it cannot run it.
fn option_of_found(m: &FoundModel, context: Option<usize>, available: u64) -> ModelOption {
    let ctx = context.unwrap_or(m.context_length).min(m.context_length);
    ModelOption {
        id: m.id.clone(),
        format: m.format.to_owned(),
        quantization: m.quantization.clone(),
        architecture: m.architecture.clone().unwrap_or_else(|| "unknown".into()),
        size_bytes: m.size_bytes,
        context_length: m.context_length,
        fetched: true,
        path: m.path.display().to_string(),
        imported: false,
        source: m.origin.label().to_owned(),
        gguf_unsupported: m.gguf_engine.reason.clone(),
        mlx_unsupported: m.mlx_engine.reason.clone(),
        remote: None,
        fit: memory_fit(
            m.size_bytes,
            m.kv_bytes_per_token,
            ctx,
            available,
            m.active_weight_bytes,
        ),
    }
}

/// What the picker and the model manager know beyond the catalog, read in one pass.
#[derive(Default)]
pub struct KnownModels {
    pub imported: Vec<CatalogEntry>,
    pub in_folders: Vec<CatalogEntry>,
    /// Found in the Hugging Face cache and LM Studio's folders, loadable or not.
    pub discovered: Vec<FoundModel>,
}

/// Every catalog chat model, then the imported ones, those found in the model folders and those
/// found in the Hugging Face cache and LM Studio (grouped by source in the picker; unsupported
/// ones are listed with the reason, never hidden), each with its memory fit.
pub fn model_options(context: Option<usize>, known: &KnownModels) -> Result<Vec<ModelOption>> {
    let available = available_memory();
    let catalog = catalog::catalog()?.into_iter().filter(|e| e.kind == ModelKind::Chat);
    let mut out: Vec<ModelOption> = catalog.map(|e| option_of(e, context, available, "Catalog")).collect();
    let imported = known.imported.iter().cloned();
    out.extend(imported.map(|e| option_of(e, context, available, SOURCE_IMPORTED)));
    let in_folders = known.in_folders.iter().cloned();
    out.extend(in_folders.map(|e| option_of(e, context, available, "Model folders")));
    out.extend(known.discovered.iter().map(|m| option_of_found(m, context, available)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixture_of_experts_is_sized_by_all_its_weights_and_timed_by_what_a_token_reads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny/qwen3moe.gguf");
        let size = std::fs::metadata(&path).expect("run `make models`").len();
        let (kv, active) = kv_and_active_bytes(&path, size);
        assert!(kv > 0);
        let active = active.expect("a mixture of experts reads a share of its weights");
        assert!(active < size, "{active} of {size}");
        let fit = memory_fit(size, kv, 512, 64 << 30, Some(active));
        assert_eq!(fit.active_weights_bytes, Some(active));
        assert!(fit.summary.contains("speed like a"), "{}", fit.summary);
        // A dense model says nothing of experts.
        let dense = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny/qwen3.gguf");
        assert_eq!(kv_and_active_bytes(&dense, 0).1, None);
        assert!(!memory_fit(1, 1, 1, 1 << 30, None).summary.contains("experts"));
    }
}
