//! Models the user adds beside the catalog: a GGUF file or an MLX model directory, picked
//! with the native dialog, and whatever models sit in the settings' model folders. The app keeps their paths in its settings, never copies or
//! deletes the files, and serves them through the same model manager as the catalog.

use std::path::Path;

use parallax_core::catalog::{CatalogEntry, CatalogFile, ModelKind, Source};
use parallax_core::discover;

use crate::error::{AppError, Result};
use crate::models::KnownModels;
use crate::App;

fn unusable(path: &Path, why: impl std::fmt::Display) -> AppError {
    AppError::new("invalid_model", format!("{} cannot be imported: {why}", path.display()))
}

/// The catalog entry an imported path stands for (its id the file or folder name).
pub fn entry_of(path: &Path) -> Result<CatalogEntry> {
    let path = std::fs::canonicalize(path).map_err(|e| unusable(path, e))?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut entry = CatalogEntry {
        id: format!("{id} (imported)"),
        kind: ModelKind::Chat,
        file: path.display().to_string(),
        format: String::new(),
        quantization: String::new(),
        source: Source {
            packages: vec![],
            members: vec![],
        },
        files: vec![],
        sha256: String::new(),
        size_bytes: 0,
        licence: "see the model's own licence".into(),
        architecture: String::new(),
        context_length: 0,
    };
    if path.is_dir() {
        mlx_dir(&path, &mut entry)?;
    } else {
        let header = parallax_core::GgufHeader::read(&path).map_err(|_| {
            unusable(
                &path,
                "it is not a GGUF file (pick a .gguf file, or an MLX model folder)",
            )
        })?;
        entry.format = "gguf".into();
        entry.quantization = header.dominant_type().to_owned();
        entry.architecture = header.architecture().unwrap_or("unknown").to_owned();
        entry.context_length = header.context_length().unwrap_or(0);
        entry.size_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }
    Ok(entry)
}

/// An MLX folder: config.json and safetensors weights.
fn mlx_dir(path: &Path, entry: &mut CatalogEntry) -> Result<()> {
    let config: serde_json::Value = std::fs::read_to_string(path.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| unusable(path, "the folder has no readable config.json (is it an MLX model?)"))?;
    let read = std::fs::read_dir(path).map_err(|e| unusable(path, e))?;
    for f in read.flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        if name.ends_with(".safetensors") {
            entry.size_bytes += size;
        }
        if f.path().is_file() {
            entry.files.push(CatalogFile {
                name,
                member: String::new(),
                sha256: String::new(),
                size_bytes: size,
            });
        }
    }
    if entry.size_bytes == 0 {
        return Err(unusable(path, "the folder has no .safetensors weights"));
    }
    entry.format = "mlx".into();
    entry.architecture = config["model_type"].as_str().unwrap_or("unknown").to_owned();
    entry.context_length = config["max_position_embeddings"].as_u64().unwrap_or(0) as usize;
    entry.quantization = match config["quantization"]["bits"].as_u64() {
        Some(bits) => format!("MLX {bits}-bit"),
        None => config["torch_dtype"].as_str().unwrap_or("unquantized").to_uppercase(),
    };
    Ok(())
}

/// The entries of the saved paths; a path that went missing is skipped (it shows again when
/// it is back), never dropped from the settings.
pub fn entries_of(paths: &[String]) -> Vec<CatalogEntry> {
    paths.iter().filter_map(|p| entry_of(Path::new(p)).ok()).collect()
}

/// The models found directly in the settings' model folders: `.gguf` files, and folders with
/// a config.json and safetensors (MLX). Unreadable folders and files that are not models are
/// passed over.
pub fn folder_entries(folders: &[String]) -> Vec<CatalogEntry> {
    let mut out = vec![];
    for folder in folders {
        let Ok(read) = std::fs::read_dir(folder) else { continue };
        let mut paths: Vec<_> = read.flatten().map(|f| f.path()).collect();
        paths.sort();
        for p in paths {
            let candidate = if p.is_dir() {
                p.join("config.json").is_file()
            } else {
                p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            };
            if let Some(mut e) = candidate.then(|| entry_of(&p).ok()).flatten() {
                e.id = e.id.replace(" (imported)", " (folder)");
                out.push(e);
            }
        }
    }
    out
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
