//! `parallax models`: the catalog and what is on disk.

use anyhow::Result;
use parallax_core::catalog;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<30} {:<8} {:<8} {:>8} {:>10}  {}",
        "ID", "ARCH", "QUANT", "CONTEXT", "SIZE", "STATUS"
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
    Ok(())
}
