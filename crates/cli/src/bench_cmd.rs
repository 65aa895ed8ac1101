//! `parallax bench`: the benchmark suite, each engine in its own fresh worker process
//! (`parallax bench-worker`, hidden), results and report written to `--out`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use parallax_bench::parent::{run_workers, Progress};
use parallax_bench::results::{EngineRaw, EngineSummary};
use parallax_bench::{report, Fingerprint, ModelFingerprint, Results, Settings, Suite, SCHEMA};
use parallax_core::catalog;

use crate::engines;

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum SuiteArg {
    Quick,
    Standard,
    Leak,
    Context,
    All,
}

#[derive(clap::Args)]
pub struct Args {
    /// Which suite: quick (smoke), standard (the study's design), leak, context, or all.
    #[arg(long, value_enum, default_value = "quick")]
    suite: SuiteArg,
    /// Engines to compare, each in its own fresh process, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "gguf,mlx")]
    engines: Vec<String>,
    /// Catalog id or path (a GGUF file; for MLX also a model directory).
    #[arg(long)]
    model: String,
    /// Folder for results.json, results.csv, report.md and the raw worker logs.
    #[arg(long)]
    out: PathBuf,
    /// Repetitions per prompt (standard suite).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Sequential generations of the leak suite (e.g. 500 for a soak).
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Context lengths of the context suite (prompt + 128 generated tokens).
    #[arg(long, value_delimiter = ',', default_value = "4096,8192,32768")]
    contexts: Vec<usize>,
    /// Sampling temperature of every run.
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Print progress as JSON lines on stdout instead of a progress line on stderr.
    #[arg(long)]
    json_progress: bool,
    /// Run the quick/standard suite against this OpenAI-compatible server instead
    /// (e.g. http://127.0.0.1:11480/v1); --model then only supplies the tokenizer and fingerprint.
    #[arg(long, requires = "endpoint_model")]
    endpoint: Option<String>,
    /// The model name to send to --endpoint.
    #[arg(long)]
    endpoint_model: Option<String>,
    /// Bearer key for --endpoint.
    #[arg(long, env = "PARALLAX_BENCH_ENDPOINT_KEY")]
    endpoint_key: Option<String>,
}

/// Endpoint mode: one "engine", the server; `--model` supplies the tokenizer.
fn run_endpoint(a: &Args, settings: &Settings, progress: &mut dyn FnMut(&Progress)) -> Result<Vec<EngineRaw>> {
    let ep = parallax_bench::endpoint::Endpoint {
        url: a.endpoint.clone().unwrap_or_default(),
        model: a.endpoint_model.clone().unwrap_or_default(),
        api_key: a.endpoint_key.clone(),
    };
    let path = catalog::resolve(&a.model)?.path;
    let tokenizer = parallax_core::GgufHeader::read(&path)
        .and_then(|h| parallax_core::Tokenizer::from_gguf(&h))
        .ok();
    let raw = parallax_bench::parent::run_endpoint(&ep, settings, tokenizer.as_ref(), &a.out, progress)
        .with_context(|| format!("writing to {}", a.out.display()))?;
    Ok(vec![raw])
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    engine: String,
    #[arg(long)]
    model: String,
    /// The settings, as JSON.
    #[arg(long)]
    settings: String,
}

/// The worker: load (timed, cold), run, report each result as a JSON line on stdout.
pub fn worker(a: WorkerArgs) -> Result<()> {
    let settings: Settings = serde_json::from_str(&a.settings).context("--settings")?;
    let model = engines::load(&a.engine, &a.model)?;
    let stdout = std::io::stdout();
    let mut failed = None;
    parallax_bench::worker::run(model, &settings, &mut |ev| {
        let mut out = stdout.lock();
        let written = serde_json::to_string(ev)
            .map_err(std::io::Error::other)
            .and_then(|line| writeln!(out, "{line}"))
            .and_then(|()| out.flush());
        if let Err(e) = written {
            failed.get_or_insert(e);
        }
    })?;
    failed.map_or(Ok(()), |e| Err(e.into()))
}

fn model_fingerprint(spec: &str) -> Result<ModelFingerprint> {
    let m = catalog::resolve(spec)?;
    let (sha256, size_bytes, quantization) = match &m.entry {
        Some(e) => (e.sha256.clone(), e.size_bytes, e.quantization.clone()),
        None if m.path.is_file() => {
            use sha2::Digest;
            let mut hasher = sha2::Sha256::new();
            let mut file = std::fs::File::open(&m.path)?;
            let size = std::io::copy(&mut file, &mut hasher)?;
            let quant = parallax_core::GgufHeader::read(&m.path)
                .map_or_else(|_| "unknown".into(), |h| h.dominant_type().to_owned());
            (format!("{:x}", hasher.finalize()), size, quant)
        }
        None => ("(directory)".into(), 0, "see weight format".into()),
    };
    Ok(ModelFingerprint {
        id: m.id,
        path: m.path.display().to_string(),
        size_bytes,
        sha256,
        quantization,
    })
}

pub fn run(a: Args) -> Result<()> {
    let suites = match a.suite {
        SuiteArg::Quick => vec![Suite::Quick],
        SuiteArg::Standard => vec![Suite::Standard],
        SuiteArg::Leak => vec![Suite::Leak],
        SuiteArg::Context => vec![Suite::Context],
        SuiteArg::All => vec![Suite::Standard, Suite::Leak, Suite::Context],
    };
    for e in &a.engines {
        if !engines::ENGINES.contains(&e.as_str()) {
            bail!("unknown engine `{e}` (available: {})", engines::ENGINES.join(", "));
        }
    }
    if a.iterations < 3 {
        bail!("--iterations must be at least 3 to fit a slope");
    }
    let model = model_fingerprint(&a.model)?;
    let settings = Settings {
        suites,
        reps: a.reps.max(1),
        iterations: a.iterations,
        contexts: a.contexts.clone(),
        temperature: a.temperature,
        ..Settings::default()
    };
    let settings_json = serde_json::to_string(&settings)?;
    let exe = std::env::current_exe()?;
    let gpu = if a.endpoint.is_some() {
        "the server's (not visible)".to_owned()
    } else if a.engines.iter().any(|e| e == "mlx") {
        match parallax_mlx::compute_device() {
            parallax_mlx::ComputeDevice::Gpu => "MLX GPU".to_owned(),
            parallax_mlx::ComputeDevice::Cpu => "none (MLX on CPU)".to_owned(),
        }
    } else {
        "not probed".to_owned()
    };
    let started_at_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let json_progress = a.json_progress;
    let mut progress = |p: &Progress| {
        if json_progress {
            if let Ok(line) = serde_json::to_string(p) {
                println!("{line}");
            }
        } else {
            let eta = p.eta_s.map_or(String::new(), |s| format!(", ETA {s:.0} s"));
            eprint!("\r[{}] {}/{} jobs{eta}   ", p.engine, p.done, p.total);
            if p.done == p.total {
                eprintln!();
            }
        }
    };
    let worker = |engine: &str| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "bench-worker",
            "--engine",
            engine,
            "--model",
            &a.model,
            "--settings",
            &settings_json,
        ]);
        cmd
    };
    let raw = if a.endpoint.is_some() {
        run_endpoint(&a, &settings, &mut progress)?
    } else {
        run_workers(&a.engines, &worker, &a.out, &mut progress)
            .with_context(|| format!("writing to {}", a.out.display()))?
    };
    let results = Results {
        schema: SCHEMA.into(),
        started_at_unix,
        fingerprint: Fingerprint::current(&gpu),
        model,
        settings,
        mode: if a.endpoint.is_some() { "endpoint" } else { "isolated" }.into(),
        summaries: raw.iter().map(EngineSummary::of).collect(),
        engines: raw,
    };
    report::write_all(&a.out, &results).with_context(|| format!("writing to {}", a.out.display()))?;
    if !json_progress {
        eprintln!("wrote {}/results.json, results.csv, report.md", a.out.display());
    }
    let broken: Vec<String> = results.engines.iter().filter_map(|e| e.incomplete.clone()).collect();
    if !broken.is_empty() {
        return Err(anyhow!("{} (the results so far are written)", broken.join("; ")));
    }
    Ok(())
}
