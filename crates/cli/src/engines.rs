//! The engines this build can load, by name.

use anyhow::Result;
use parallax_core::{catalog, Error, LoadedModel};

pub const ENGINES: &[&str] = &[parallax_gguf::BACKEND];

/// Loads `model` (catalog id or path) with the named engine.
pub fn load(engine: &str, model: &str) -> Result<LoadedModel> {
    let resolved = catalog::resolve(model)?;
    match engine {
        parallax_gguf::BACKEND => Ok(parallax_gguf::load(&resolved.path, &resolved.id)?),
        other => Err(Error::UnknownEngine(other.into(), ENGINES.join(", ")).into()),
    }
}
