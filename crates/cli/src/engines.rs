//! The engines this build can load, by name.

use anyhow::Result;
use parallax_core::{catalog, Error, LoadedModel};

pub const ENGINES: &[&str] = &[parallax_gguf::BACKEND, parallax_mlx::BACKEND];

/// Loads `model` (catalog id, GGUF path or, for MLX, a model directory) with the named engine.
pub fn load_model(engine: &str, model: &str) -> parallax_core::Result<LoadedModel> {
    let resolved = catalog::resolve(model)?;
    if let Some(e) = resolved.entry.as_ref().filter(|e| e.kind != catalog::ModelKind::Chat) {
        return Err(Error::InvalidModel {
            path: resolved.path.clone(),
            reason: format!(
                "`{}` is an embedding model: it serves /v1/embeddings, it does not generate text",
                e.id
            ),
        });
    }
    match engine {
        parallax_gguf::BACKEND => parallax_gguf::load(&resolved.path, &resolved.id),
        parallax_mlx::BACKEND => parallax_mlx::load(&resolved.path, &resolved.id),
        other => Err(Error::UnknownEngine(other.into(), ENGINES.join(", "))),
    }
}

/// `load_model`, with load warnings (e.g. requantized weights) on stderr.
pub fn load(engine: &str, model: &str) -> Result<LoadedModel> {
    let loaded = load_model(engine, model)?;
    for w in &loaded.engine.info().warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}
