//! The engines this build can load, by name, and the one loader the CLI, the server and the
//! desktop app share: catalog id or path → a loaded model on the named engine.

use parallax_core::{catalog, Error, LoadedModel};

/// Engine names, the default first.
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

/// Whether `engine` can run on this machine, and if not, why (shown by the app).
pub fn availability(engine: &str) -> Result<String, String> {
    match engine {
        parallax_gguf::BACKEND => Ok(parallax_gguf::device::describe().into()),
        parallax_mlx::BACKEND => Ok(match parallax_mlx::compute_device() {
            parallax_mlx::ComputeDevice::Gpu => "MLX on the GPU".into(),
            parallax_mlx::ComputeDevice::Cpu => "MLX on the CPU (no GPU backend in this build)".into(),
        }),
        other => Err(format!("`{other}` is not an engine of this build")),
    }
}

/// What the engines compute on, for a result's fingerprint (e.g. "none (MLX on CPU)").
pub fn compute_label(engines: &[String]) -> String {
    if !engines.iter().any(|e| e == parallax_mlx::BACKEND) {
        return "not probed".to_owned();
    }
    match parallax_mlx::compute_device() {
        parallax_mlx::ComputeDevice::Gpu => "MLX GPU".to_owned(),
        parallax_mlx::ComputeDevice::Cpu => "none (MLX on CPU)".to_owned(),
    }
}
