//! `parallax tokenize`: a model's token ids and pieces for a text, like llama.cpp's
//! `llama-tokenize`. Reads only the tokenizer, so a vocab-only GGUF works too.

use std::path::Path;

use anyhow::{Context, Result};
use parallax_core::{catalog, GgufHeader, Tokenizer};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Catalog or discovered model id (see `parallax models`), a GGUF file or an MLX directory.
    #[arg(long)]
    model: String,
    /// The text to tokenize.
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    text: Option<String>,
    /// Read the text from this file instead.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Do not add the BOS token even where the model asks for it.
    #[arg(long)]
    no_bos: bool,
    /// Read special-token text (e.g. `<|im_start|>`) as plain text.
    #[arg(long)]
    no_parse_special: bool,
    /// Print `{"ids": [...], "pieces": [...]}`.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Output {
    ids: Vec<u32>,
    pieces: Vec<String>,
}

fn tokenizer_of(path: &Path) -> Result<Tokenizer> {
    if path.is_dir() {
        return Ok(parallax_mlx::convert::read_dir_tokenizer(path)?.0);
    }
    Ok(Tokenizer::from_gguf(&GgufHeader::read_model(path)?)?)
}

pub fn run(args: Args) -> Result<()> {
    let text = match (&args.text, &args.file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => unreachable!("clap requires --text or --file"),
    };
    let resolved = catalog::resolve(&args.model)?;
    let mut tok = tokenizer_of(&resolved.path)?;
    if args.no_parse_special {
        tok = tok.without_special_parsing();
    }
    let ids = tok.encode(&text, !args.no_bos)?;
    let pieces: Vec<String> = ids.iter().map(|&id| tok.decode(&[id]).unwrap_or_default()).collect();
    if args.json {
        println!("{}", serde_json::to_string(&Output { ids, pieces })?);
        return Ok(());
    }
    for (id, piece) in ids.iter().zip(&pieces) {
        println!("{id:>8} -> {piece:?}");
    }
    Ok(())
}
