//! The model picker's rows: every catalog chat model with its size, format, quantisation and
//! a memory-fit estimate (weights plus the KV cache at the chosen context, against the memory
//! available now) before anything is loaded.

use parallax_core::catalog::{self, CatalogEntry, ModelKind};
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
    pub fit: MemoryFit,
}

/// Runtime, scratch and tokenizer memory beyond weights and KV cache.
const OVERHEAD_BYTES: u64 = 64 << 20;

fn gb(b: u64) -> String {
    format!("{:.1} GB", b as f64 / 1e9)
}

/// The fit of a model of `weights` bytes holding `context` positions of `kv_per_token` bytes.
pub fn memory_fit(weights: u64, kv_per_token: u64, context: usize, available: u64) -> MemoryFit {
    let kv = kv_per_token * context as u64;
    let needed = weights + kv + OVERHEAD_BYTES;
    let fits = needed <= available;
    let summary = if fits {
        format!("needs about {} of {} free", gb(needed), gb(available))
    } else {
        format!(
            "This model needs about {} and {} is free: close some apps, use a shorter context or pick a smaller quantisation",
            gb(needed),
            gb(available)
        )
    };
    MemoryFit {
        weights_bytes: weights,
        kv_cache_bytes: kv,
        needed_bytes: needed,
        available_bytes: available,
        fits,
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

/// One picker row: the entry with its fit at `context` positions (the model's own maximum
/// when `None`, capped there otherwise).
fn option_of(e: CatalogEntry, context: Option<usize>, available: u64, imported: bool) -> ModelOption {
    let fetched = e.is_fetched();
    let path = e.path();
    let kv_per_token = if fetched {
        parallax_core::GgufHeader::read(&path)
            .ok()
            .and_then(|h| h.kv_bytes_per_token())
            .unwrap_or(0)
    } else {
        0
    };
    let ctx = context.unwrap_or(e.context_length).min(e.context_length);
    ModelOption {
        fit: memory_fit(e.size_bytes, kv_per_token, ctx, available),
        id: e.id,
        format: e.format,
        quantization: e.quantization,
        architecture: e.architecture,
        size_bytes: e.size_bytes,
        context_length: e.context_length,
        fetched,
        path: path.display().to_string(),
        imported,
    }
}

/// Every catalog chat model, then the imported ones, then those found in the model folders,
/// each with its memory fit.
pub fn model_options(
    context: Option<usize>,
    imported: &[CatalogEntry],
    in_folders: &[CatalogEntry],
) -> Result<Vec<ModelOption>> {
    let available = available_memory();
    let catalog = catalog::catalog()?.into_iter().filter(|e| e.kind == ModelKind::Chat);
    let mut out: Vec<ModelOption> = catalog.map(|e| option_of(e, context, available, false)).collect();
    out.extend(imported.iter().cloned().map(|e| option_of(e, context, available, true)));
    out.extend(in_folders.iter().cloned().map(|e| option_of(e, context, available, false)));
    Ok(out)
}
