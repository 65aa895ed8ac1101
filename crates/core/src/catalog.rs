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

/// What a model is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A text-generation model, run by an engine.
    #[default]
    Chat,
    /// A sentence-embedding model (served on /v1/embeddings).
    Embedding,
}

/// One file of a model that is a directory, with its own checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogFile {
    /// Path inside the model's directory.
    pub name: String,
    /// Path inside the wheel.
    pub member: String,
    pub sha256: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub id: String,
    #[serde(default)]
    pub kind: ModelKind,
    /// The model file, or for directory models (`files` non-empty) the directory.
    pub file: String,
    pub format: String,
    pub quantization: String,
    pub source: Source,
    /// A directory model's files; empty for single-file models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<CatalogFile>,
    /// Of the file, or for a directory model of its weights file.
    pub sha256: String,
    pub size_bytes: u64,
    pub licence: String,
    pub architecture: String,
    pub context_length: usize,
}

impl CatalogEntry {
    pub fn path(&self) -> PathBuf {
        models_dir().join(&self.file)
    }

    /// What a loader resolves it by: the id of a catalog model, the path of an imported one
    /// (whose `file` is absolute).
    pub fn spec(&self) -> String {
        if std::path::Path::new(&self.file).is_absolute() {
            self.file.clone()
        } else {
            self.id.clone()
        }
    }

    /// Whether `make models` has put it on disk.
    pub fn is_fetched(&self) -> bool {
        let path = self.path();
        if self.files.is_empty() {
            path.is_file()
        } else {
            self.files.iter().all(|f| path.join(&f.name).is_file())
        }
    }

    /// Memory a loaded copy needs, roughly: the weights, plus a tenth for the KV cache at a
    /// typical context, scratch and the runtime. For budgets and fit checks, not accounting.
    pub fn estimated_load_bytes(&self) -> u64 {
        self.size_bytes + self.size_bytes / 10 + (32 << 20)
    }
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

/// Resolves a catalog id, then an id `parallax models` found on disk (`hf:…`, `lmstudio:…`,
/// `folder:…`), or failing that an existing path.
pub fn resolve(spec: &str) -> Result<ResolvedModel> {
    if let Some(entry) = catalog()?.into_iter().find(|e| e.id == spec) {
        let path = entry.path();
        if !entry.is_fetched() {
            return Err(Error::ModelNotFound(path));
        }
        return Ok(ResolvedModel {
            id: entry.id.clone(),
            path,
            entry: Some(entry),
        });
    }
    if let Some(found) = crate::discover::find(spec) {
        return Ok(ResolvedModel {
            id: found.id,
            path: found.path,
            entry: None,
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
