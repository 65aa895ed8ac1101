//! The engines this build can load (the shared `parallax-engines` loader), with load warnings
//! printed for the terminal.

use parallax_core::LoadedModel;
pub use parallax_engines::{load_model, ENGINES};

/// `load_model`, with load warnings (e.g. requantized weights) on stderr.
pub fn load(engine: &str, model: &str) -> parallax_core::Result<LoadedModel> {
    let loaded = load_model(engine, model)?;
    for w in &loaded.engine.info().warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}
