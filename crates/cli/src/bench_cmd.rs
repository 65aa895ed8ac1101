//! `parallax bench`: the benchmark suite, each engine in its own fresh worker process
//! (`parallax bench-worker`, hidden), results and report written to `--out`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use parallax_bench::parent::Progress;
use parallax_bench::results::EngineRaw;
use parallax_bench::session::{self, RunSpec, Session};
use parallax_bench::{Settings, Suite};
use parallax_core::catalog;

use crate::engines;

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum SuiteArg {
    Quick,
    Standard,
    Leak,
    Context,
    All,
    /// Several clients at once against `parallax serve --parallel N` per engine, and against
    /// `llama-server -np N` as the anchor.
    Concurrency,
}

#[derive(clap::Args)]
pub struct Args {
    /// Which suite: quick (smoke), standard (the study's design), leak, context, all (standard,
    /// leak and context), or concurrency (clients at once against a server, `--clients`).
    #[arg(long, value_enum, default_value = "quick")]
    suite: SuiteArg,
    /// Engines to compare, each in its own fresh process, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "gguf,mlx")]
    engines: Vec<String>,
    /// Catalog id or path (a GGUF file; for MLX also a model directory).
    #[arg(long, required_unless_present_any = ["resume", "synthetic"], conflicts_with = "synthetic")]
    model: Option<String>,
    /// Write a random-weight model of a real model's shape, scaled to this machine, and run
    /// the suite on it (both engines, the same file): qwen3-moe-small, mixtral-small,
    /// gpt-oss-small (MXFP4 experts) or dense-small, with overrides such as
    /// `qwen3-moe-small,layers=4,experts=32,used=4,quant=Q8_0`.
    #[arg(long, value_name = "SHAPE", conflicts_with = "endpoint")]
    synthetic: Option<String>,
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
    /// Concurrency suite: the client counts to load each server with.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    clients: Vec<usize>,
    /// Concurrency suite: requests each client sends, one after the other.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Concurrency suite: most tokens each request generates.
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// Concurrency suite: the llama-server binary of the anchor (default: the one
    /// `scripts/bench/llama_bench_build.py --server` builds, when present).
    #[arg(long, value_name = "PATH")]
    llama_server: Option<PathBuf>,
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
    /// Reload the model after every N generations (each reload is timed and recorded).
    #[arg(long, value_name = "N")]
    reload_every: Option<u64>,
    /// Run both engines at the same time (they compete for the machine: results are
    /// labelled "concurrent" and are not the fair comparison).
    #[arg(long, conflicts_with = "endpoint")]
    concurrent: bool,
    /// Both engines run the same GGUF file (Q4_0, Q4_1 or Q8_0): a pure runtime comparison.
    #[arg(long, conflicts_with = "endpoint")]
    same_weights: bool,
    /// Drop the model's files from the page cache before each engine loads it, so load time
    /// includes reading them from disk (Linux); without it the file is usually cached (warm).
    #[arg(long, conflicts_with = "endpoint")]
    cold_load: bool,
    /// Continue the interrupted run in --out with its saved settings (run.json): finished
    /// engines are kept, the others go on after their last reported job.
    #[arg(long, conflicts_with = "endpoint")]
    resume: bool,
}

/// A progress bar per engine on a terminal, or JSON lines with `--json-progress`.
struct ProgressView {
    json: bool,
    bars: indicatif::MultiProgress,
    by_engine: std::collections::HashMap<String, indicatif::ProgressBar>,
}

impl ProgressView {
    fn new(json: bool) -> Self {
        ProgressView {
            json,
            bars: indicatif::MultiProgress::new(),
            by_engine: Default::default(),
        }
    }

    fn show(&mut self, p: &Progress) {
        if self.json {
            if let Ok(line) = serde_json::to_string(p) {
                println!("{line}");
            }
            return;
        }
        let bars = &self.bars;
        let bar = self.by_engine.entry(p.engine.clone()).or_insert_with(|| {
            let bar = bars.add(indicatif::ProgressBar::new(p.total as u64));
            let style = indicatif::ProgressStyle::with_template("{prefix:>8} [{bar:32}] {pos}/{len} jobs  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_prefix(p.engine.clone());
            bar
        });
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        match p.eta_s {
            Some(s) if p.done < p.total => bar.set_message(format!("ETA {}", eta(s))),
            _ => bar.set_message(String::new()),
        }
        if p.done >= p.total {
            bar.finish();
        }
    }
}

fn eta(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Endpoint mode: one "engine", the server; `--model` supplies the tokenizer.
fn run_endpoint(a: &Args, settings: &Settings, progress: &mut dyn FnMut(&Progress)) -> Result<Vec<EngineRaw>> {
    let ep = parallax_bench::endpoint::Endpoint {
        url: a.endpoint.clone().unwrap_or_default(),
        model: a.endpoint_model.clone().unwrap_or_default(),
        api_key: a.endpoint_key.clone(),
    };
    let path = catalog::resolve(a.model.as_deref().unwrap_or_default())?.path;
    let tokenizer = parallax_core::GgufHeader::read(&path)
        .and_then(|h| parallax_core::Tokenizer::from_gguf(&h))
        .ok();
    let raw = parallax_bench::parent::run_endpoint("endpoint", &ep, settings, tokenizer.as_ref(), &a.out, progress)
        .with_context(|| format!("writing to {}", a.out.display()))?;
    Ok(vec![raw])
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// --engine E --model M --settings JSON --resume-after N (as the parent passes them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The worker: load (timed, cold), run, report each result as a JSON line on stdout.
pub fn worker(a: WorkerArgs) -> Result<()> {
    let args = session::WorkerArgs::parse(&a.args).map_err(|e| anyhow!(e))?;
    args.serve(&engines::load).map_err(|e| anyhow!(e))
}

/// The run as the flags describe it, or as `run.json` saved it (`--resume`).
fn run_spec(a: &Args) -> Result<RunSpec> {
    if a.resume {
        return RunSpec::load(&a.out).map_err(|e| anyhow!("--resume: {e}"));
    }
    let suites = match a.suite {
        SuiteArg::Quick => vec![Suite::Quick],
        SuiteArg::Standard => vec![Suite::Standard],
        SuiteArg::Leak => vec![Suite::Leak],
        SuiteArg::Context => vec![Suite::Context],
        SuiteArg::All => vec![Suite::Standard, Suite::Leak, Suite::Context],
        SuiteArg::Concurrency => bail!("the concurrency suite has no run spec"),
    };
    for e in &a.engines {
        if !engines::ENGINES.contains(&e.as_str()) {
            bail!("unknown engine `{e}` (available: {})", engines::ENGINES.join(", "));
        }
    }
    if a.iterations < 3 {
        bail!("--iterations must be at least 3 to fit a slope");
    }
    if a.reload_every == Some(0) {
        bail!("--reload-every must be at least 1");
    }
    let (model, synthetic) = match &a.synthetic {
        Some(spec) => {
            let (path, shape) = write_synthetic(spec, &a.out)?;
            (path.display().to_string(), Some(shape.describe()))
        }
        None => (a.model.clone().unwrap_or_default(), None),
    };
    if a.same_weights {
        session::check_same_weights(&model).map_err(|e| anyhow!("--same-weights: {e}"))?;
    }
    Ok(RunSpec {
        synthetic: synthetic.clone(),
        engines: a.engines.clone(),
        model,
        settings: Settings {
            suites,
            reps: a.reps.max(1),
            iterations: a.iterations,
            contexts: a.contexts.clone(),
            temperature: a.temperature,
            reload_every: a.reload_every,
            // A synthetic model is one Q4_0/Q4_1/Q8_0 file both engines run as it is.
            same_weights: a.same_weights || synthetic.is_some(),
            cold_load: a.cold_load,
            ..Settings::default()
        },
        concurrent: a.concurrent,
        started_at_unix: session::now_unix(),
    })
}

/// The tokenizer a synthetic model carries: SmolLM2's, from the catalog.
const SYNTHETIC_TOKENIZER: &str = "smollm2-135m-instruct-q4_1";

/// Writes the synthetic model into `out` (refusing a shape that would not fit in memory before
/// anything is written); returns its path and shape.
/// Where [`write_synthetic`] writes `shape` in `out`.
pub(crate) fn synthetic_path(out: &std::path::Path, shape: &parallax_core::synthetic::Shape) -> PathBuf {
    out.join(format!("synthetic-{}.gguf", shape.name))
}

pub(crate) fn write_synthetic(spec: &str, out: &std::path::Path) -> Result<(PathBuf, parallax_core::synthetic::Shape)> {
    let shape = parallax_core::synthetic::Shape::parse(spec)?;
    let tokenizer = catalog::resolve(SYNTHETIC_TOKENIZER)
        .with_context(|| format!("--synthetic takes its tokenizer from `{SYNTHETIC_TOKENIZER}` (run `make models`)"))?
        .path;
    let bytes = shape.file_bytes();
    // One engine at a time holds the weights (MLX copies them; the GGUF engine maps them),
    // plus the page cache's copy of the file while it is read.
    let needed = 2 * bytes + (512 << 20);
    let mut sys = sysinfo::System::new().map_err(|e| anyhow!("reading the machine's memory: {e}"))?;
    sys.refresh_memory();
    let available = sys.available_memory();
    if needed > available {
        bail!(
            "--synthetic {spec}: the model would be {:.1} GB and needs about {:.1} GB of memory, but {:.1} GB is available; use fewer layers or experts",
            bytes as f64 / 1e9,
            needed as f64 / 1e9,
            available as f64 / 1e9
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = synthetic_path(out, &shape);
    eprintln!(
        "writing {} ({:.0} MB, random weights): {}",
        path.display(),
        bytes as f64 / 1e6,
        shape.describe()
    );
    // Written aside and renamed: a file under the final name is always complete.
    let partial = path.with_extension("gguf.partial");
    let shape = parallax_gguf::synthetic::write(&shape, &tokenizer, &partial)?;
    std::fs::rename(&partial, &path).with_context(|| format!("renaming {}", partial.display()))?;
    Ok((path, shape))
}

pub fn run(a: Args) -> Result<()> {
    if a.suite == SuiteArg::Concurrency {
        if a.endpoint.is_some() || a.resume {
            bail!("--suite concurrency starts its own servers: it takes --model or --synthetic, not --endpoint or --resume");
        }
        let model = match &a.synthetic {
            Some(spec) => write_synthetic(spec, &a.out)?.0.display().to_string(),
            None => a
                .model
                .clone()
                .ok_or_else(|| anyhow!("--suite concurrency needs --model or --synthetic"))?,
        };
        return crate::concurrency_cmd::run(crate::concurrency_cmd::Plan {
            model: &model,
            engines: &a.engines,
            clients: &a.clients,
            rounds: a.rounds.max(1),
            max_tokens: a.max_tokens.max(1),
            llama_server: a.llama_server.clone(),
            out: &a.out,
        });
    }
    let spec = run_spec(&a)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut view = ProgressView::new(a.json_progress);
    let mut progress = |p: &Progress| view.show(p);
    let results = if a.endpoint.is_some() {
        let model = session::model_fingerprint(&spec.model).map_err(|e| anyhow!(e))?;
        let raw = run_endpoint(&a, &spec.settings, &mut progress)?;
        session::finish(&a.out, &spec, model, "the server's (not visible)", "endpoint", raw).map_err(|e| anyhow!(e))?
    } else {
        let session = Session {
            spec: &spec,
            exe: std::env::current_exe()?,
            out_dir: &a.out,
            resume: a.resume,
            gpu: parallax_engines::compute_label(&spec.engines),
            cancel: None,
            endpoints: vec![],
        };
        session.run(&mut progress).map_err(|e| anyhow!(e))?
    };
    if !a.json_progress {
        eprintln!("wrote {}/results.json, results.csv, report.md", a.out.display());
    }
    let broken: Vec<String> = results.engines.iter().filter_map(|e| e.incomplete.clone()).collect();
    if !broken.is_empty() {
        let hint = if a.endpoint.is_none() {
            "; --resume continues it"
        } else {
            ""
        };
        return Err(anyhow!("{} (the results so far are written{hint})", broken.join("; ")));
    }
    Ok(())
}
