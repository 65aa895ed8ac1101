//! Models the user adds beside the catalog: a GGUF file or an MLX model directory, picked
//! with the native dialog, and whatever models sit in the settings' model folders. The app keeps their paths in its settings, never copies or
//! deletes the files, and serves them through the same model manager as the catalog.

use std::path::Path;

use parallax_core::catalog::CatalogEntry;
use parallax_core::discover;
pub use parallax_core::local_models::{entries_of, folder_entries};

use crate::error::{AppError, Result};
use crate::models::KnownModels;
use crate::App;

/// The entry of an imported path, or a typed error saying why it cannot be one.
fn entry_of(path: &Path) -> Result<CatalogEntry> {
    parallax_core::local_models::entry_of(path).map_err(|why| AppError::new("invalid_model", why))
}

impl App {
    /// Adds a GGUF file or MLX model folder to the picker (and the endpoint).
    pub fn import_model(&self, path: &str) -> Result<CatalogEntry> {
        let entry = entry_of(Path::new(path))?;
        let mut settings = self.settings();
        if settings.imported_models.contains(&entry.file) {
            return Err(AppError::new(
                "already_imported",
                format!("{} is already in the model list.", entry.file),
            ));
        }
        settings.imported_models.push(entry.file.clone());
        self.set_settings(settings)?;
        Ok(entry)
    }

    /// Takes an imported model off the list (the file stays on disk).
    pub fn remove_model(&self, path: &str) -> Result<()> {
        let mut settings = self.settings();
        let before = settings.imported_models.len();
        settings.imported_models.retain(|p| p != path);
        if settings.imported_models.len() == before {
            return Err(AppError::new(
                "not_imported",
                "Only imported models can be removed; catalog models are managed by `make models`.",
            ));
        }
        self.set_settings(settings)?;
        Ok(())
    }

    /// Tells the model manager about the imported models (after open and every change).
    /// Reads the imported models, the model folders and the Hugging Face / LM Studio caches once,
    /// hands the loadable ones to the model manager and returns them all, so the picker never
    /// lists a model the manager cannot load (a file dropped into a folder after the settings
    /// were saved).
    pub(crate) fn sync_imported(&self, settings: &crate::AppSettings) -> KnownModels {
        let imported = entries_of(&settings.imported_models);
        let in_folders = folder_entries(&settings.model_folders);
        let discovered = discover::scan(&discover::default_roots());
        let discovered_entries: Vec<CatalogEntry> = discovered
            .iter()
            .filter(|m| m.gguf_engine.ok || m.mlx_engine.ok)
            .filter_map(|m| {
                let mut e = entry_of(&m.path).ok()?;
                e.id = m.id.clone();
                Some(e)
            })
            .collect();
        self.server.models.set_imported(
            imported
                .iter()
                .chain(&in_folders)
                .chain(&discovered_entries)
                .cloned()
                .collect(),
        );
        KnownModels {
            imported,
            in_folders,
            discovered,
        }
    }
}

/// Shows `path` in the system's file manager.
pub fn reveal(path: &str) -> Result<()> {
    let p = Path::new(path);
    if !p.exists() {
        return Err(AppError::new("not_found", format!("{path} does not exist any more.")));
    }
    let mut cmd = if cfg!(target_os = "macos") {
        let mut c = std::process::Command::new("open");
        c.arg("-R").arg(p);
        c
    } else if cfg!(target_os = "windows") {
        let mut c = std::process::Command::new("explorer");
        c.arg(format!("/select,{path}"));
        c
    } else {
        // xdg-open opens a folder; for a file, the folder holding it.
        let dir = if p.is_dir() { p } else { p.parent().unwrap_or(p) };
        let mut c = std::process::Command::new("xdg-open");
        c.arg(dir);
        c
    };
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn()
        .map(|mut child| {
            // Reaped off the caller's thread; the file manager outlives it anyway.
            std::thread::spawn(move || child.wait());
        })
        .map_err(|e| AppError::new("reveal_failed", format!("Could not open the file manager ({e}).")))
}
