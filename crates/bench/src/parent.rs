//! The parent side: each engine runs in its own fresh worker process, one after the other, so
//! two engines are never loaded together and load time is measured cold. Every line a worker
//! sends is appended to `DIR/raw/<engine>.jsonl` as it arrives, so an interrupted run keeps
//! what it gathered.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::record::WorkerEvent;
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

/// Runs `worker(engine)` for each engine in turn and gathers what each reports.
pub fn run_workers(
    engines: &[String],
    worker: &dyn Fn(&str) -> Command,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> std::io::Result<Vec<EngineRaw>> {
    std::fs::create_dir_all(out_dir.join("raw"))?;
    let mut all = vec![];
    for engine in engines {
        let mut raw = EngineRaw::new(engine);
        let mut log = std::fs::File::create(out_dir.join("raw").join(format!("{engine}.jsonl")))?;
        let mut child = worker(engine).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        let started = std::time::Instant::now();
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let line = line?;
                writeln!(log, "{line}")?;
                log.flush()?;
                let Ok(ev) = serde_json::from_str::<WorkerEvent>(&line) else {
                    continue;
                };
                if let WorkerEvent::Progress { done, total } = ev {
                    let per_job = started.elapsed().as_secs_f64() / done.max(1) as f64;
                    progress(&Progress {
                        engine: engine.clone(),
                        done,
                        total,
                        eta_s: Some(per_job * (total - done.min(total)) as f64),
                    });
                }
                raw.push(ev);
            }
        }
        let status = child.wait()?;
        if !status.success() || raw.memory_at_end.is_none() {
            raw.incomplete = Some(format!("the {engine} worker stopped early ({status})"));
        }
        all.push(raw);
    }
    Ok(all)
}
