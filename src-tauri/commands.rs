//! IPC commands. Each takes state, calls the core, and returns a typed error.
//! (Tauri's command macro needs commands outside the crate root when they are `pub`.)

use serde::Serialize;

/// What the UI shows about this build before any model is loaded.
#[derive(Debug, Serialize, PartialEq)]
pub struct AppInfo {
    pub version: &'static str,
    pub catalog_models: usize,
    pub models_fetched: usize,
}

/// A command failure as the UI receives it: a stable code and a human sentence.
#[derive(Debug, Serialize, PartialEq)]
pub struct IpcError {
    pub code: &'static str,
    pub message: String,
}

impl From<parallax_core::Error> for IpcError {
    fn from(e: parallax_core::Error) -> Self {
        IpcError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

#[tauri::command]
pub fn app_info() -> Result<AppInfo, IpcError> {
    let catalog = parallax_core::catalog::catalog()?;
    let models_fetched = catalog.iter().filter(|e| e.is_fetched()).count();
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        catalog_models: catalog.len(),
        models_fetched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_info_reports_the_catalog() {
        let info = app_info().expect("catalog parses");
        let catalog = parallax_core::catalog::catalog().expect("catalog");
        assert_eq!(info.catalog_models, catalog.len());
        assert!(catalog
            .iter()
            .any(|e| e.kind == parallax_core::catalog::ModelKind::Embedding));
        assert!(info.models_fetched <= info.catalog_models);
    }
}
