//! `parallax speed`: one engine's forward-pass speed measured as `llama-bench` measures it
//! (`pp512`, `tg128`, `tg128@4096`), in this process, for `make bench-anchors`.

use std::io::Write;

use anyhow::{bail, Result};
use parallax_bench::speed::{self, SpeedTest};
use serde::Serialize;

use crate::engines;

#[derive(clap::Args)]
pub struct Args {
    /// Catalog id, path to a GGUF file, or (mlx) an MLX model directory.
    #[arg(long, required_unless_present = "synthetic", conflicts_with = "synthetic")]
    model: Option<String>,
    /// A random-weight model of this shape (e.g. llama-8b, llama-1b, dense-small) instead of
    /// --model: written into --synthetic-dir once, and reused from there by later runs.
    #[arg(long)]
    synthetic: Option<String>,
    #[arg(long, default_value = "target/synthetic")]
    synthetic_dir: std::path::PathBuf,
    /// Engine: gguf (candle) or mlx (mlx-rs).
    #[arg(long, default_value = "gguf")]
    engine: String,
    /// Tests, comma-separated: ppN (prefill N tokens), tgN (decode N tokens), tgN@D (after D
    /// context tokens, untimed).
    #[arg(long, value_delimiter = ',', default_value = "pp512,tg128")]
    tests: Vec<String>,
    /// Timed repetitions of each test, after one untimed warm-up.
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Seed of the pseudo-random token ids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One JSON object per line (each sample, then a summary) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    engine: &'static str,
    model: &'a str,
    /// The GGUF engine's quantized dot kernel (what this CPU runs).
    gguf_kernel: &'static str,
    threads: usize,
    load_ms: f64,
    peak_rss_bytes: Option<u64>,
    /// Where the engine computed (`ModelInfo::device`).
    device: String,
    /// The engine allocator's peak (MLX), where it reports one.
    allocator_peak_bytes: Option<u64>,
    /// The device's view after the runs: memory in use on the GPUs the driver lists (every
    /// process), where there is one.
    gpu_used_bytes: Option<u64>,
}

pub fn run(a: Args) -> Result<()> {
    if a.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let tests = a
        .tests
        .iter()
        .map(|t| t.parse())
        .collect::<Result<Vec<SpeedTest>, _>>()?;
    let model_path = match (&a.model, &a.synthetic) {
        (Some(m), _) => m.clone(),
        (None, Some(spec)) => {
            let shape = parallax_core::synthetic::Shape::parse(spec)?;
            let path = crate::bench_cmd::synthetic_path(&a.synthetic_dir, &shape);
            if !path.is_file() {
                crate::bench_cmd::write_synthetic(spec, &a.synthetic_dir)?;
            }
            path.display().to_string()
        }
        (None, None) => bail!("--model or --synthetic is required"),
    };
    let mut model = engines::load(&a.engine, &model_path)?;
    let engine = model.engine.as_mut();
    speed::warm_up(engine, a.seed)?;
    let mut out = std::io::stdout().lock();
    for test in &tests {
        for rep in 0..a.reps {
            let sample = speed::run(engine, *test, a.seed.wrapping_add(rep as u64 + 1))?;
            if a.json {
                writeln!(out, "{}", serde_json::to_string(&sample)?)?;
            } else {
                writeln!(
                    out,
                    "{:<12} {:>6} tokens {:>10.1} ms {:>9.1} tok/s",
                    sample.test, sample.tokens, sample.ms, sample.tokens_per_s
                )?;
            }
        }
    }
    let summary = Summary {
        engine: engine.backend(),
        model: &engine.info().id,
        gguf_kernel: parallax_gguf::kernels::Kernel::selected().name(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_ms: model.load_ms,
        peak_rss_bytes: crate::generate_cmd::peak_rss_bytes(),
        device: engine.info().device.clone(),
        allocator_peak_bytes: engine.memory().allocator_peak_bytes,
        gpu_used_bytes: parallax_monitor::gpu::memory().map(|(used, _)| used),
    };
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        writeln!(
            out,
            "[{} · {} · {} · kernel {} · {} threads · peak RSS {} MiB{}]",
            summary.engine,
            summary.model,
            summary.device,
            summary.gguf_kernel,
            summary.threads,
            summary.peak_rss_bytes.map_or(0, |b| b >> 20),
            summary
                .gpu_used_bytes
                .map_or(String::new(), |b| format!(" · GPU in use {} MiB", b >> 20))
        )?;
    }
    Ok(())
}
