//! Models found where users already keep them: the Hugging Face hub cache, LM Studio's folders,
//! and folders the user names. Each model gets a stable id (`hf:org/repo/file.gguf`,
//! `lmstudio:publisher/repo/file.gguf`, `folder:name/relative/path`), its architecture and
//! quantization from its own header or `config.json`, and whether each engine can run it, with
//! the reason when not. Nothing is copied or changed.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::arch::ModelDesc;
use crate::gguf_meta::{GgufHeader, SplitName};

/// How deep a user folder is searched.
const MAX_DEPTH: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    HuggingFace,
    LmStudio,
    Folder,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::HuggingFace => "Hugging Face cache",
            Origin::LmStudio => "LM Studio",
            Origin::Folder => "folder",
        }
    }
}

/// Whether an engine can run a model, and why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Support {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Support {
    fn yes() -> Self {
        Support { ok: true, reason: None }
    }
    fn no(reason: impl Into<String>) -> Self {
        Support {
            ok: false,
            reason: Some(reason.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FoundModel {
    pub id: String,
    pub path: PathBuf,
    pub origin: Origin,
    /// "gguf" or "mlx".
    pub format: &'static str,
    pub architecture: Option<String>,
    pub quantization: String,
    pub size_bytes: u64,
    /// GGUF parts (1 unless split into `-0000k-of-0000n` files).
    pub parts: usize,
    /// From the model's description; 0 when it could not be read.
    pub context_length: usize,
    /// KV-cache bytes per position (the description's estimate); 0 when unknown.
    pub kv_bytes_per_token: u64,
    /// A mixture of experts: the weight bytes one token reads (what speed follows); `None` for
    /// a dense model or when unknown.
    pub active_weight_bytes: Option<u64>,
    pub gguf_engine: Support,
    pub mlx_engine: Support,
}

/// A place to look, with the id prefix its models get.
#[derive(Debug, Clone)]
pub struct Root {
    pub origin: Origin,
    pub dir: PathBuf,
    pub prefix: String,
}

/// The default places: `$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`; LM
/// Studio's `~/.lmstudio/models` and older `~/.cache/lm-studio/models`; and each folder in
/// `$PARALLAX_MODEL_DIRS` (colon-separated).
pub fn default_roots() -> Vec<Root> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let hf = std::env::var_os("HF_HUB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
        .or_else(|| home.as_ref().map(|h| h.join(".cache/huggingface/hub")));
    let mut roots: Vec<Root> = hf
        .into_iter()
        .map(|dir| Root {
            origin: Origin::HuggingFace,
            dir,
            prefix: "hf:".into(),
        })
        .collect();
    for rel in [".lmstudio/models", ".cache/lm-studio/models"] {
        if let Some(h) = &home {
            roots.push(Root {
                origin: Origin::LmStudio,
                dir: h.join(rel),
                prefix: "lmstudio:".into(),
            });
        }
    }
    if let Some(dirs) = std::env::var_os("PARALLAX_MODEL_DIRS") {
        roots.extend(std::env::split_paths(&dirs).map(|d| folder_root(&d)));
    }
    roots
}

/// A user folder as a root: ids are `folder:<folder name>/<relative path>`.
pub fn folder_root(dir: &Path) -> Root {
    let name = dir
        .file_name()
        .map_or("folder".into(), |n| n.to_string_lossy().into_owned());
    Root {
        origin: Origin::Folder,
        dir: dir.to_path_buf(),
        prefix: format!("folder:{name}/"),
    }
}

/// Every model under `roots`, in a stable order.
pub fn scan(roots: &[Root]) -> Vec<FoundModel> {
    let mut out = Vec::new();
    for root in roots.iter().filter(|r| r.dir.is_dir()) {
        match root.origin {
            Origin::HuggingFace => scan_hf_cache(root, &mut out),
            _ => walk(root, &root.dir, 0, &mut out),
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

/// The model with this id, if a scan of the default places finds it.
pub fn find(id: &str) -> Option<FoundModel> {
    if !["hf:", "lmstudio:", "folder:"].iter().any(|p| id.starts_with(p)) {
        return None;
    }
    scan(&default_roots()).into_iter().find(|m| m.id == id)
}

/// `models--org--repo/snapshots/<rev>/…`: the revision `refs/main` names, else the newest.
fn scan_hf_cache(root: &Root, out: &mut Vec<FoundModel>) {
    let Ok(entries) = std::fs::read_dir(&root.dir) else {
        return;
    };
    let mut repos: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    repos.sort();
    for repo in repos {
        let Some(name) = repo
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("models--"))
        else {
            continue;
        };
        let repo_id = name.replacen("--", "/", 1);
        let snapshots = repo.join("snapshots");
        let rev = std::fs::read_to_string(repo.join("refs/main"))
            .ok()
            .map(|r| snapshots.join(r.trim()))
            .filter(|p| p.is_dir())
            .or_else(|| newest_child(&snapshots));
        let Some(rev) = rev else { continue };
        let sub = Root {
            origin: Origin::HuggingFace,
            dir: rev.clone(),
            prefix: format!("{}{repo_id}/", root.prefix),
        };
        if is_mlx_dir(&rev) {
            out.push(describe_mlx(&sub, &rev, format!("{}{repo_id}", root.prefix)));
        } else {
            walk(&sub, &rev, 0, out);
        }
    }
}

fn newest_child(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

fn is_mlx_dir(dir: &Path) -> bool {
    dir.join("config.json").is_file()
        && std::fs::read_dir(dir).is_ok_and(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
        })
}

fn walk(root: &Root, dir: &Path, depth: usize, out: &mut Vec<FoundModel>) {
    if is_mlx_dir(dir) {
        let rel = relative(root, dir);
        out.push(describe_mlx(
            root,
            dir,
            format!("{}{rel}", root.prefix).trim_end_matches('/').to_owned(),
        ));
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            if depth < MAX_DEPTH {
                walk(root, &p, depth + 1, out);
            }
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf")) {
            if let Some(m) = describe_gguf(root, &p) {
                out.push(m);
            }
        }
    }
}

fn relative(root: &Root, path: &Path) -> String {
    path.strip_prefix(&root.dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn sizes(desc: Option<&ModelDesc>) -> (usize, u64) {
    // f32, the widest cache either engine may hold: the fit estimate errs on the safe side.
    desc.map_or((0, 0), |d| (d.context_length, d.kv_bytes_per_token(4)))
}

fn describe_gguf(root: &Root, path: &Path) -> Option<FoundModel> {
    let mut parts = 1;
    let mut missing = None;
    if let Some(split) = SplitName::parse(path) {
        if split.index != 1 {
            return None; // listed once, by its first part
        }
        parts = split.total;
        missing = (2..=split.total).find(|&k| !split.part(path, k).is_file());
    }
    let id = format!("{}{}", root.prefix, relative(root, path));
    // A complete split model is read whole (size and tensors of every part).
    let header = match missing {
        None => GgufHeader::read_model(path),
        Some(_) => GgufHeader::read(path),
    };
    let size_bytes = match &header {
        Ok(h) => h.file_size,
        Err(_) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    };
    let (architecture, quantization, desc) = match &header {
        Ok(h) => (
            h.architecture().map(str::to_owned),
            h.dominant_type().to_owned(),
            ModelDesc::from_gguf(h).map_err(|e| e.to_string()),
        ),
        Err(e) => (None, "?".into(), Err(e.to_string())),
    };
    let verdict = match (&desc, missing) {
        (Err(e), _) => Support::no(e.clone()),
        (Ok(_), Some(k)) => Support::no(format!("part {k} of {parts} is missing")),
        (Ok(_), None) if header.as_ref().is_ok_and(|h| h.tensors.is_empty()) => {
            Support::no("vocabulary only: the file has no weights")
        }
        (Ok(_), None) => Support::yes(),
    };
    let (context_length, kv_bytes_per_token) = sizes(desc.as_ref().ok());
    let active_weight_bytes = match (&header, &desc) {
        (Ok(h), Ok(d)) if d.moe.is_some() => Some(crate::figures::WeightsPerToken::of_gguf(h, d).active_bytes),
        _ => None,
    };
    Some(FoundModel {
        active_weight_bytes,
        id,
        path: path.to_path_buf(),
        origin: root.origin,
        format: "gguf",
        architecture,
        quantization,
        size_bytes,
        parts,
        context_length,
        kv_bytes_per_token,
        gguf_engine: verdict.clone(),
        mlx_engine: verdict,
    })
}

fn describe_mlx(root: &Root, dir: &Path, id: String) -> FoundModel {
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let quantization = match json.get("quantization") {
        Some(q) => format!("MLX {}-bit", q["bits"].as_u64().unwrap_or(0)),
        None => "MLX float".into(),
    };
    let size_bytes = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let desc = ModelDesc::from_hf_config(dir, &text);
    let (context_length, kv_bytes_per_token) = sizes(desc.as_ref().ok());
    FoundModel {
        active_weight_bytes: desc.as_ref().ok().and_then(|d| d.active_bytes_estimate(size_bytes)),
        id,
        path: dir.to_path_buf(),
        origin: root.origin,
        format: "mlx",
        architecture: json["model_type"].as_str().map(str::to_owned),
        quantization,
        size_bytes,
        parts: 1,
        context_length,
        kv_bytes_per_token,
        gguf_engine: Support::no("an MLX directory: the GGUF engine reads GGUF files"),
        mlx_engine: match desc {
            Ok(_) if !dir.join("tokenizer.json").is_file() => Support::no("no tokenizer.json in the directory"),
            Ok(_) => Support::yes(),
            Err(e) => Support::no(e.to_string()),
        },
    }
}
