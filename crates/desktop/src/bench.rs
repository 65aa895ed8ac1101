//! The benchmarks panel: the bench crate's suite run from the app, each engine in its own
//! fresh worker process (the app's own binary started as `bench-worker`), with progress and
//! ETA as events, cancel, and every run (finished, cancelled or failed) kept in the history
//! with its fingerprint. Side-by-side comparisons can be saved into the same history.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parallax_bench::session::{self, RunSpec, Session};
use parallax_bench::{Results, Settings, Suite};
use parallax_store::{BenchRun, NewBenchRun};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{AppError, Result};
use crate::App;

#[derive(Debug, Clone, PartialEq, Deserialize, TS)]
pub struct BenchRequest {
    /// "quick", "standard", "leak" or "context".
    pub suite: String,
    pub engines: Vec<String>,
    pub model: String,
    /// Repetitions per prompt (standard).
    pub reps: usize,
    pub concurrent: bool,
    pub same_weights: bool,
    #[ts(type = "number | null")]
    pub reload_every: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BenchEvent {
    Started {
        out_dir: String,
    },
    Progress {
        engine: String,
        done: usize,
        total: usize,
        eta_s: Option<f64>,
    },
    /// The run is over (complete, cancelled or failed) and in the history.
    Finished {
        run: BenchRun,
    },
    Failed {
        error: AppError,
    },
}

/// A past run as the panel shows it: the history row, each engine's headline figures, the
/// Markdown report and the plots.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct BenchReport {
    pub run: BenchRun,
    pub engines: Vec<EngineRow>,
    pub markdown: String,
    /// (file name, SVG text), drawn by the bench crate.
    pub plots: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct EngineRow {
    pub engine: String,
    pub runs: usize,
    /// Medians over the measured runs, outliers removed.
    pub decode_tps: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub prompt_tps: Option<f64>,
    pub load_ms: Option<f64>,
    #[ts(type = "number | null")]
    pub peak_rss_bytes: Option<u64>,
    #[ts(type = "number | null")]
    pub peak_allocator_bytes: Option<u64>,
    /// MB per generation, where the leak suite ran.
    pub leak_slope_mb: Option<f64>,
    pub incomplete: Option<String>,
}

fn suite_of(name: &str) -> Result<Suite> {
    Ok(match name {
        "quick" => Suite::Quick,
        "standard" => Suite::Standard,
        "leak" => Suite::Leak,
        "context" => Suite::Context,
        other => {
            return Err(AppError::new(
                "invalid_benchmark",
                format!("`{other}` is not a suite: pick quick, standard, leak or context."),
            ))
        }
    })
}

fn rows(r: &Results) -> Vec<EngineRow> {
    r.summaries
        .iter()
        .zip(&r.engines)
        .map(|(s, raw)| EngineRow {
            engine: s.engine.clone(),
            runs: s.all.runs,
            decode_tps: s.all.decode_tps.as_ref().map(|m| m.median),
            ttft_ms: s.all.ttft_ms.as_ref().map(|m| m.median),
            prompt_tps: s.all.prompt_tps.as_ref().map(|m| m.median),
            load_ms: s.load_ms,
            peak_rss_bytes: s.peak_rss_bytes,
            peak_allocator_bytes: s.peak_allocator_bytes,
            leak_slope_mb: s.leak.as_ref().and_then(|l| l.rss.as_ref()).map(|a| a.fit.slope),
            incomplete: raw.incomplete.clone(),
        })
        .collect()
}

/// One line for the history list, e.g. "gguf 41.3 tok/s · mlx 18.2 tok/s".
fn one_line(rows: &[EngineRow]) -> String {
    rows.iter()
        .map(|r| match (r.decode_tps, &r.incomplete) {
            (_, Some(_)) => format!("{} incomplete", r.engine),
            (Some(t), None) => format!("{} {t:.1} tok/s", r.engine),
            (None, None) => format!("{} (no decode figures)", r.engine),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

impl App {
    /// The executable started as `bench-worker` (the app binary; tests point it elsewhere).
    pub fn set_bench_worker(&self, exe: PathBuf) {
        if let Ok(mut w) = self.bench_worker.lock() {
            *w = exe;
        }
    }

    /// Starts a run in the background and returns its folder; progress and the end arrive as
    /// events. One run at a time.
    pub fn start_bench(
        self: &Arc<Self>,
        req: &BenchRequest,
        emit: Arc<dyn Fn(BenchEvent) + Send + Sync>,
    ) -> Result<String> {
        let suite = suite_of(&req.suite)?;
        if req.engines.is_empty() {
            return Err(AppError::new("invalid_benchmark", "Pick at least one engine."));
        }
        // A local engine by name, or a remote model as `<model>@<remote>` (a registered remote).
        let mut endpoints = vec![];
        for e in req
            .engines
            .iter()
            .filter(|e| !parallax_engines::ENGINES.contains(&e.as_str()))
        {
            match self.remote_endpoint(e) {
                Some(ep) => endpoints.push((e.clone(), ep?)),
                None => {
                    return Err(AppError::new(
                        "invalid_benchmark",
                        format!("`{e}` is not an engine or a remote model."),
                    ))
                }
            }
        }
        let model = self.model_spec(&req.model);
        if req.same_weights {
            session::check_same_weights(&model).map_err(|e| AppError::new("not_same_weights", e))?;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut running = self
                .bench_cancel
                .lock()
                .map_err(|_| AppError::new("internal", "state lock"))?;
            if running.is_some() {
                return Err(AppError::new(
                    "benchmark_in_progress",
                    "A benchmark is already running: cancel it or wait for it to finish.",
                ));
            }
            *running = Some(cancel.clone());
        }
        let spec = RunSpec {
            engines: req.engines.clone(),
            model,
            settings: Settings {
                suites: vec![suite],
                reps: req.reps.max(1),
                reload_every: req.reload_every.filter(|n| *n > 0),
                same_weights: req.same_weights,
                ..Settings::default()
            },
            concurrent: req.concurrent,
            started_at_unix: session::now_unix(),
            synthetic: None,
        };
        let out_dir = self
            .data_dir
            .join("benchmarks")
            .join(format!("{}-{}", spec.started_at_unix, req.suite));
        let exe = self.bench_worker.lock().map(|w| w.clone()).unwrap_or_default();
        let app = Arc::downgrade(self);
        let dir = out_dir.clone();
        let suite_name = req.suite.clone();
        std::thread::Builder::new()
            .name("bench".into())
            .spawn(move || {
                emit(BenchEvent::Started {
                    out_dir: dir.display().to_string(),
                });
                let session = Session {
                    spec: &spec,
                    exe,
                    out_dir: &dir,
                    resume: false,
                    gpu: parallax_engines::compute_label(&spec.engines),
                    cancel: Some(&cancel),
                    endpoints,
                };
                let outcome = session.run(&mut |p| {
                    emit(BenchEvent::Progress {
                        engine: p.engine.clone(),
                        done: p.done,
                        total: p.total,
                        eta_s: p.eta_s,
                    })
                });
                let Some(app) = app.upgrade() else { return };
                if let Ok(mut running) = app.bench_cancel.lock() {
                    *running = None;
                }
                let cancelled = cancel.load(Ordering::Relaxed);
                match outcome.and_then(|r| app.record_run(&dir, &suite_name, &r, cancelled).map_err(|e| e.message)) {
                    Ok(run) => emit(BenchEvent::Finished { run }),
                    Err(e) => emit(BenchEvent::Failed {
                        error: AppError::new("benchmark_failed", e),
                    }),
                }
            })
            .map_err(|e| AppError::new("benchmark_failed", e.to_string()))?;
        Ok(out_dir.display().to_string())
    }

    /// `<model>@<remote>` as an endpoint the suite drives, when `<remote>` is registered
    /// (`None`: not a remote model; an error: its key cannot be read).
    fn remote_endpoint(&self, engine: &str) -> Option<Result<parallax_bench::endpoint::Endpoint>> {
        let (model, name) = engine.rsplit_once('@')?;
        let registry = parallax_remote::Registry::at(&self.remotes_file).ok()?;
        let spec = registry.get(name).ok()?;
        let key = spec.key.as_ref().map(|k| k.read(name)).transpose();
        Some(
            key.map_err(AppError::from)
                .map(|key| parallax_bench::endpoint::Endpoint {
                    url: spec.api_base(),
                    model: model.to_owned(),
                    api_key: key.map(|k| k.expose().to_owned()),
                }),
        )
    }

    /// Cancels the running benchmark: its workers are killed, what they measured is kept.
    pub fn cancel_bench(&self) -> bool {
        match self.bench_cancel.lock().ok().and_then(|c| c.clone()) {
            Some(c) => {
                c.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn record_run(&self, dir: &Path, suite: &str, r: &Results, cancelled: bool) -> Result<BenchRun> {
        let rows = rows(r);
        let status = if cancelled {
            "cancelled"
        } else if rows.iter().any(|r| r.incomplete.is_some()) {
            "failed"
        } else {
            "complete"
        };
        let engines: Vec<String> = r.engines.iter().map(|e| e.engine.clone()).collect();
        Ok(self.store.add_bench_run(&NewBenchRun {
            out_dir: &dir.display().to_string(),
            suite,
            model: &r.model.id,
            engines: &engines,
            fingerprint: &serde_json::to_string(&r.fingerprint).unwrap_or_default(),
            summary: &one_line(&rows),
            status,
        })?)
    }

    pub fn bench_runs(&self) -> Result<Vec<BenchRun>> {
        Ok(self.store.bench_runs()?)
    }

    pub fn delete_bench_run(&self, id: i64) -> Result<()> {
        Ok(self.store.delete_bench_run(id)?)
    }

    /// A past run's table, report and plots, read back from its folder.
    pub fn bench_report(&self, id: i64) -> Result<BenchReport> {
        let run = self.store.bench_run(id)?;
        let dir = Path::new(&run.out_dir);
        let gone = |e: std::io::Error| {
            AppError::new(
                "report_missing",
                format!("The files of this run are gone from {} ({e}).", dir.display()),
            )
        };
        let markdown = std::fs::read_to_string(dir.join("report.md")).map_err(gone)?;
        let engines = if run.suite == SIDE_BY_SIDE {
            vec![]
        } else {
            let text = std::fs::read_to_string(dir.join("results.json")).map_err(gone)?;
            let results: Results = serde_json::from_str(&text)
                .map_err(|e| AppError::new("report_unreadable", format!("results.json: {e}")))?;
            rows(&results)
        };
        let mut plots = vec![];
        if let Ok(read) = std::fs::read_dir(dir.join("plots")) {
            let mut files: Vec<PathBuf> = read.flatten().map(|f| f.path()).collect();
            files.sort();
            for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "svg")) {
                if let (Some(name), Ok(svg)) = (f.file_name(), std::fs::read_to_string(f)) {
                    plots.push((name.to_string_lossy().into_owned(), svg));
                }
            }
        }
        Ok(BenchReport {
            run,
            engines,
            markdown,
            plots,
        })
    }

    /// Copies a run's results.json, results.csv or report.md to `dest`.
    pub fn export_bench(&self, id: i64, format: &str, dest: &str) -> Result<()> {
        let run = self.store.bench_run(id)?;
        let file = match format {
            "json" => "results.json",
            "csv" => "results.csv",
            "markdown" | "md" => "report.md",
            other => {
                return Err(AppError::new(
                    "invalid_export",
                    format!("`{other}` is not an export format: pick json, csv or markdown."),
                ))
            }
        };
        let from = Path::new(&run.out_dir).join(file);
        std::fs::copy(&from, dest).map_err(|e| {
            AppError::new(
                "export_failed",
                format!("Could not copy {} to {dest}: {e}", from.display()),
            )
        })?;
        Ok(())
    }

    /// Saves the last side-by-side comparison to the benchmark history (comparison.json and
    /// report.md in its own folder).
    pub fn save_comparison(&self) -> Result<BenchRun> {
        let last = self
            .last_comparison
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .ok_or_else(|| AppError::new("nothing_to_save", "Run a comparison first."))?;
        let dir = self
            .data_dir
            .join("benchmarks")
            .join(format!("{}-{SIDE_BY_SIDE}", session::now_unix()));
        let write = |name: &str, text: &str| {
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join(name), text))
                .map_err(|e| AppError::new("save_failed", format!("Could not write to {}: {e}", dir.display())))
        };
        let json = serde_json::to_string_pretty(&last).map_err(|e| AppError::new("save_failed", e.to_string()))?;
        write("comparison.json", &json)?;
        write("results.json", &json)?;
        write("report.md", &comparison_markdown(&last))?;
        let fingerprint = parallax_bench::Fingerprint::current(&parallax_engines::compute_label(
            &last.columns.iter().map(|c| c.choice.engine.clone()).collect::<Vec<_>>(),
        ));
        let models: Vec<&str> = last.columns.iter().map(|c| c.choice.model.as_str()).collect();
        let mut model_list = models.clone();
        model_list.dedup();
        Ok(self.store.add_bench_run(&NewBenchRun {
            out_dir: &dir.display().to_string(),
            suite: SIDE_BY_SIDE,
            model: &model_list.join(" vs "),
            engines: &last.columns.iter().map(|c| c.choice.engine.clone()).collect::<Vec<_>>(),
            fingerprint: &serde_json::to_string(&fingerprint).unwrap_or_default(),
            summary: &last.summary,
            status: if last.columns.iter().all(|c| c.stats.is_some()) {
                "complete"
            } else {
                "failed"
            },
        })?)
    }
}

const SIDE_BY_SIDE: &str = "side-by-side";

fn comparison_markdown(c: &crate::CompareResult) -> String {
    use std::fmt::Write;
    let mut md = format!(
        "# Side-by-side comparison\n\n**Mode:** {}{}  \n**Seed:** {}  \n**Summary:** {}\n\n**Prompt:** {}\n\n",
        c.mode,
        if c.same_weights { ", same weights" } else { "" },
        c.seed,
        c.summary,
        c.prompt
    );
    md.push_str("| Engine | Model | Prompt tokens | Generated | TTFT (ms) | Decode tok/s | Peak engine memory (MB) | Peak process RSS (MB) |\n|---|---|---|---|---|---|---|---|\n");
    for col in &c.columns {
        let s = col.stats.as_ref();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
            col.choice.engine,
            col.choice.model,
            s.map_or("—".into(), |s| s.prompt_tokens.to_string()),
            s.map_or("—".into(), |s| s.completion_tokens.to_string()),
            s.map_or("—".into(), |s| format!("{:.0}", s.ttft_ms)),
            s.map_or("—".into(), |s| format!("{:.1}", s.decode_tps)),
            col.peak_engine_memory_bytes as f64 / 1e6,
            col.peak_process_rss_bytes as f64 / 1e6,
        );
    }
    md
}

/// The first argument that makes the app binary a benchmark worker.
pub const BENCH_WORKER_ARG: &str = session::WORKER_ARG;

/// The app binary as a benchmark worker: reads the flags after `bench-worker`, runs the jobs,
/// reports on stdout. Returns the process exit code.
pub fn bench_worker_main(args: &[String]) -> i32 {
    let outcome = session::WorkerArgs::parse(args).and_then(|a| a.serve(&parallax_engines::load_model));
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The file name the export dialog suggests.
pub fn export_file_name(format: &str) -> &'static str {
    match format {
        "csv" => "results.csv",
        "markdown" | "md" => "report.md",
        _ => "results.json",
    }
}

impl App {
    pub fn open_bench_folder(&self, id: i64) -> Result<()> {
        crate::reveal(&self.store.bench_run(id)?.out_dir)
    }
}
