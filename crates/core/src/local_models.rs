//! Models beside the catalog: a GGUF file or an MLX model directory the user points at (the
//! app's import, its model folders, `parallax serve --import`), described as catalog entries
//! so the one model manager serves them. Files are read, never copied or changed.

use std::path::Path;

use crate::catalog::{CatalogEntry, CatalogFile, ModelKind, Source};

/// Why a path cannot be used as a model, as a sentence naming it.
fn unusable(path: &Path, why: impl std::fmt::Display) -> String {
    format!("{} cannot be imported: {why}", path.display())
}

/// The catalog entry an imported path stands for (its id the file or folder name).
pub fn entry_of(path: &Path) -> Result<CatalogEntry, String> {
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
        let header = crate::GgufHeader::read(&path).map_err(|_| {
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
fn mlx_dir(path: &Path, entry: &mut CatalogEntry) -> Result<(), String> {
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
