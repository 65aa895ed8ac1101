//! `parallax parity`: greedy tokens from fixed prompt token ids, with the margin between the two
//! highest logits at each step, one JSON line per prompt. Two runs (e.g. `--device cpu` and
//! `--device cuda`, or two engines) compare token for token, and where they split, the margins
//! show whether it was a near-tie (scripts/gpu/ uses it for the GPU correctness check).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::engines;

#[derive(clap::Args)]
pub struct Args {
    /// Catalog id, path to a GGUF file, or (mlx) an MLX model directory.
    #[arg(long)]
    model: String,
    /// Engine: gguf (candle) or mlx (mlx-rs).
    #[arg(long, default_value = "gguf")]
    engine: String,
    /// A greedy fixture (tests/fixtures/greedy/*.json): its cases' `prompt_ids` are used.
    #[arg(long)]
    fixture: PathBuf,
    /// Greedy tokens per prompt.
    #[arg(long, default_value_t = 16)]
    tokens: usize,
    /// Only the first N prompts.
    #[arg(long)]
    cases: Option<usize>,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    prompt_ids: Vec<u32>,
}

#[derive(Serialize)]
struct Line {
    case: usize,
    device: String,
    tokens: Vec<u32>,
    /// Top logit minus the runner-up, at each step.
    margins: Vec<f32>,
}

pub fn run(a: Args) -> Result<()> {
    if a.tokens == 0 {
        bail!("--tokens must be at least 1");
    }
    let text = std::fs::read_to_string(&a.fixture).with_context(|| format!("reading {}", a.fixture.display()))?;
    let fixture: Fixture =
        serde_json::from_str(&text).with_context(|| format!("{} is not a greedy fixture", a.fixture.display()))?;
    let mut model = engines::load(&a.engine, &a.model)?;
    let engine = model.engine.as_mut();
    let device = engine.info().device.clone();
    let mut out = std::io::stdout().lock();
    for (i, case) in fixture.cases.iter().enumerate().take(a.cases.unwrap_or(usize::MAX)) {
        engine.reset()?;
        let mut logits = engine.forward(&case.prompt_ids)?;
        let (mut tokens, mut margins) = (Vec::new(), Vec::new());
        for _ in 0..a.tokens {
            let (best, margin) = top_two(&logits).context("the engine returned no logits")?;
            tokens.push(best);
            margins.push(margin);
            logits = engine.forward(&[best])?;
        }
        let line = Line {
            case: i,
            device: device.clone(),
            tokens,
            margins,
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    Ok(())
}

/// The arg-max (lowest id on a tie) and its lead over the next logit.
fn top_two(logits: &[f32]) -> Option<(u32, f32)> {
    let mut best: Option<(usize, f32)> = None;
    let mut second = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        match best {
            Some((_, b)) if v <= b => second = second.max(v),
            Some((_, b)) => {
                second = b;
                best = Some((i, v));
            }
            None => best = Some((i, v)),
        }
    }
    best.map(|(i, b)| (i as u32, b - second))
}

#[cfg(test)]
mod tests {
    #[test]
    fn top_two_takes_the_first_of_a_tie() {
        assert_eq!(super::top_two(&[1.0, 3.0, 2.0]), Some((1, 1.0)));
        assert_eq!(super::top_two(&[2.0, 2.0]), Some((0, 0.0)));
        assert_eq!(super::top_two(&[]), None);
    }
}
