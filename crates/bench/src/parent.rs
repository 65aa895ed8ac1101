//! The parent side: each engine runs in its own fresh worker process, one after the other, so
//! two engines are never loaded together and load time is measured cold. Every event is
//! appended to `DIR/raw/<engine>.jsonl` as it arrives, so an interrupted run keeps what it
//! gathered. Endpoint mode goes through the same gathering.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use parallax_core::Tokenizer;

use crate::endpoint::{self, Endpoint};
use crate::record::{Settings, WorkerEvent};
use crate::results::EngineRaw;

/// Progress of the whole run, for a progress bar or `--json-progress`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    pub engine: String,
    pub done: usize,
    pub total: usize,
    /// Seconds left for this engine at the current pace.
    pub eta_s: Option<f64>,
}

/// One engine's events: logged raw first, then gathered, with progress reported.
struct Gatherer {
    raw: EngineRaw,
    log: File,
    started: Instant,
}

impl Gatherer {
    fn new(out_dir: &Path, engine: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(out_dir.join("raw"))?;
        Ok(Gatherer {
            raw: EngineRaw::new(engine),
            log: File::create(out_dir.join("raw").join(format!("{engine}.jsonl")))?,
            started: Instant::now(),
        })
    }

    /// Appends `line` to the raw log, then takes its event (if it is one).
    fn line(&mut self, line: &str, progress: &mut dyn FnMut(&Progress)) -> std::io::Result<()> {
        writeln!(self.log, "{line}")?;
        self.log.flush()?;
        let Ok(ev) = serde_json::from_str::<WorkerEvent>(line) else {
            return Ok(());
        };
        if let WorkerEvent::Progress { done, total } = ev {
            let per_job = self.started.elapsed().as_secs_f64() / done.max(1) as f64;
            progress(&Progress {
                engine: self.raw.engine.clone(),
                done,
                total,
                eta_s: Some(per_job * total.saturating_sub(done) as f64),
            });
        }
        self.raw.push(ev);
        Ok(())
    }
}

/// Runs `worker(engine)` for each engine in turn and gathers what each reports.
pub fn run_workers(
    engines: &[String],
    worker: &dyn Fn(&str) -> Command,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> std::io::Result<Vec<EngineRaw>> {
    let mut all = vec![];
    for engine in engines {
        let mut gather = Gatherer::new(out_dir, engine)?;
        let mut child = worker(engine).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                gather.line(&line?, progress)?;
            }
        }
        let status = child.wait()?;
        let mut raw = gather.raw;
        if !status.success() || raw.memory_at_end.is_none() {
            raw.incomplete = Some(format!("the {engine} worker stopped early ({status})"));
        }
        all.push(raw);
    }
    Ok(all)
}

/// Endpoint mode: the server is the one "engine", driven from this process.
pub fn run_endpoint(
    ep: &Endpoint,
    settings: &Settings,
    tokenizer: Option<&Tokenizer>,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> std::io::Result<EngineRaw> {
    let mut gather = Gatherer::new(out_dir, "endpoint")?;
    gather.raw.endpoint = Some(ep.url.clone());
    let mut io_error = None;
    let outcome = endpoint::run(ep, settings, tokenizer, &mut |ev| {
        let logged = serde_json::to_string(ev)
            .map_err(std::io::Error::other)
            .and_then(|line| gather.line(&line, progress));
        if let Err(e) = logged {
            io_error.get_or_insert(e);
        }
    });
    if let Some(e) = io_error {
        return Err(e);
    }
    let mut raw = gather.raw;
    if let Err(e) = outcome {
        raw.incomplete = Some(e);
    }
    Ok(raw)
}
