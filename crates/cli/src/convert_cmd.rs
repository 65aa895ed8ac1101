//! `parallax convert`: a GGUF file → an MLX model directory that mlx-lm can load.

use std::path::PathBuf;

use anyhow::Result;
use parallax_core::catalog;
use parallax_mlx::convert::{convert, ConvertOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Catalog id or path of the GGUF file to convert.
    #[arg(long)]
    model: String,
    /// Directory to write (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Requantize to 4 or 8 bits, or 16 for unquantized f16; default: keep the file's.
    #[arg(long)]
    bits: Option<i32>,
    /// Group size of the requantization: 32 or 64; default: keep the file's.
    #[arg(long)]
    group_size: Option<i32>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let resolved = catalog::resolve(&a.model)?;
    let report = convert(
        &resolved.path,
        &a.out,
        ConvertOptions {
            bits: a.bits,
            group_size: a.group_size,
        },
    )?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "wrote {} ({} {}, {} tensors, {:.1} MB)",
            report.out_dir.display(),
            report.architecture,
            report.weight_format,
            report.tensors,
            report.bytes as f64 / 1e6
        );
    }
    Ok(())
}
