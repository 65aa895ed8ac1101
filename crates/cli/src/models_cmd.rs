//! `parallax models`: the catalog, and the models found where users keep them (Hugging Face
//! cache, LM Studio, `$PARALLAX_MODEL_DIRS` and `--folder`), with each engine's support.

use anyhow::Result;
use parallax_core::catalog;
use parallax_core::discover::{self, FoundModel, Support};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON instead of a table: `{"catalog": [...], "found": [...]}`.
    #[arg(long)]
    json: bool,
    /// Also search this folder (recursively, 5 levels); repeatable.
    #[arg(long)]
    folder: Vec<std::path::PathBuf>,
}

fn support(s: &Support) -> String {
    match &s.reason {
        None => "yes".into(),
        Some(r) => format!("no: {r}"),
    }
}

fn print_found(found: &[FoundModel]) {
    println!();
    println!("Found on disk ({} models):", found.len());
    println!(
        "{:<60} {:<18} {:<8} {:<10} {:>10}  ENGINES",
        "ID", "SOURCE", "ARCH", "QUANT", "SIZE"
    );
    for m in found {
        println!(
            "{:<60} {:<18} {:<8} {:<10} {:>7.1} MB  gguf {}; mlx {}{}",
            m.id,
            m.origin.label(),
            m.architecture.as_deref().unwrap_or("?"),
            m.quantization,
            m.size_bytes as f64 / 1e6,
            support(&m.gguf_engine),
            support(&m.mlx_engine),
            // A mixture of experts: memory follows the size, speed what one token reads.
            m.active_weight_bytes
                .map(|a| format!("; experts: {:.1} MB read per token", a as f64 / 1e6))
                .unwrap_or_default()
        );
    }
}

#[derive(Serialize)]
struct Row {
    id: String,
    kind: catalog::ModelKind,
    file: String,
    path: String,
    architecture: String,
    quantization: String,
    context_length: usize,
    licence: String,
    size_bytes: u64,
    fetched: bool,
    size_on_disk: Option<u64>,
}

pub fn run(args: Args) -> Result<()> {
    let rows: Vec<Row> = catalog::catalog()?
        .into_iter()
        .map(|e| {
            let path = e.path();
            // A directory model's size and checksum are those of its weights file.
            let weights = e
                .files
                .iter()
                .find(|f| f.sha256 == e.sha256)
                .map_or(path.clone(), |f| path.join(&f.name));
            let size_on_disk = std::fs::metadata(&weights).ok().map(|m| m.len());
            Row {
                fetched: e.is_fetched() && size_on_disk == Some(e.size_bytes),
                kind: e.kind,
                path: path.display().to_string(),
                id: e.id,
                file: e.file,
                architecture: e.architecture,
                quantization: e.quantization,
                context_length: e.context_length,
                licence: e.licence,
                size_bytes: e.size_bytes,
                size_on_disk,
            }
        })
        .collect();
    let mut roots = discover::default_roots();
    roots.extend(args.folder.iter().map(|f| discover::folder_root(f)));
    let found = discover::scan(&roots);
    if args.json {
        let v = serde_json::json!({ "catalog": rows, "found": found });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<30} {:<8} {:<8} {:>8} {:>10}  STATUS",
        "ID", "ARCH", "QUANT", "CONTEXT", "SIZE"
    );
    for r in rows {
        let status = match r.size_on_disk {
            _ if r.fetched => format!("fetched  {}", r.path),
            Some(_) => "incomplete (run `make models`)".into(),
            None => "missing (run `make models`)".into(),
        };
        println!(
            "{:<30} {:<8} {:<8} {:>8} {:>7.1} MB  {}",
            r.id,
            r.architecture,
            r.quantization,
            r.context_length,
            r.size_bytes as f64 / 1e6,
            status
        );
    }
    print_found(&found);
    Ok(())
}
