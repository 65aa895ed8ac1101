//! The parent side: each engine runs in its own fresh worker process, one after the other, so
//! two engines are never loaded together and load time is measured cold. Every event is
//! appended to `DIR/raw/<engine>.jsonl` as it arrives, so an interrupted run keeps what it
//! gathered, and `--resume` continues from it. `--concurrent` runs the workers at once
//! (labelled so). Endpoint mode goes through the same gathering.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

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
    /// Jobs done, as the last progress event said.
    done: usize,
}

impl Gatherer {
    /// A fresh log, or with `resume` the existing one replayed and appended to.
    fn new(out_dir: &Path, engine: &str, resume: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(out_dir.join("raw"))?;
        let path = out_dir.join("raw").join(format!("{engine}.jsonl"));
        let text = if resume {
            std::fs::read_to_string(&path).unwrap_or_default()
        } else {
            String::new()
        };
        let earlier = settled(&text);
        let mut g = Gatherer {
            raw: EngineRaw::new(engine),
            log: File::create(&path)?,
            started: Instant::now(),
            done: 0,
        };
        for line in earlier {
            g.line(line, &mut |_| {})?;
        }
        g.started = Instant::now();
        Ok(g)
    }

    /// Whether the worker already ran to its end (nothing to resume).
    fn finished(&self) -> bool {
        self.raw.memory_at_end.is_some()
    }

    /// Appends `line` to the raw log, then takes its event (if it is one).
    fn line(&mut self, line: &str, progress: &mut dyn FnMut(&Progress)) -> std::io::Result<()> {
        writeln!(self.log, "{line}")?;
        self.log.flush()?;
        self.take(line, progress);
        Ok(())
    }

    fn take(&mut self, line: &str, progress: &mut dyn FnMut(&Progress)) {
        let Ok(ev) = serde_json::from_str::<WorkerEvent>(line) else {
            return;
        };
        match ev {
            WorkerEvent::Progress { done, total } => {
                let fresh = done.saturating_sub(self.done).max(1);
                let per_job = self.started.elapsed().as_secs_f64() / fresh as f64;
                self.started = Instant::now();
                self.done = done;
                progress(&Progress {
                    engine: self.raw.engine.clone(),
                    done,
                    total,
                    eta_s: Some(per_job * total.saturating_sub(done) as f64),
                });
            }
            WorkerEvent::Resumed { skipped_jobs, .. } => self.done = skipped_jobs,
            _ => {}
        }
        self.raw.push(ev);
    }

    /// The gathered raw data, marked incomplete if the worker did not reach its end
    /// (`status` is `None` for an engine a resumed run found already finished).
    fn finish(self, engine: &str, status: Option<std::process::ExitStatus>) -> EngineRaw {
        let mut raw = self.raw;
        let failed = status.is_some_and(|s| !s.success());
        if failed || raw.memory_at_end.is_none() {
            let status = status.map_or("not run".to_owned(), |s| s.to_string());
            raw.incomplete = Some(format!("the {engine} worker stopped early ({status})"));
        }
        raw
    }
}

/// The lines of an interrupted log that a resumed worker builds on: up to the last progress
/// event (a record after it belongs to a job that will run again; a torn last line is
/// dropped), or all of it when the worker reached its end.
fn settled(log: &str) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().filter(|l| !l.is_empty()).collect();
    let kind = |l: &str| serde_json::from_str::<WorkerEvent>(l).ok();
    if lines
        .iter()
        .any(|l| matches!(kind(l), Some(WorkerEvent::Finished { .. })))
    {
        return lines;
    }
    match lines
        .iter()
        .rposition(|l| matches!(kind(l), Some(WorkerEvent::Progress { .. })))
    {
        Some(last) => lines[..=last].to_vec(),
        None => vec![],
    }
}

/// How the workers run.
pub struct WorkerPlan<'a> {
    pub engines: &'a [String],
    /// The worker command for an engine, resuming after the given number of jobs.
    pub worker: &'a dyn Fn(&str, usize) -> Command,
    pub out_dir: &'a Path,
    /// Both engines at once (labelled so in the results) instead of one after the other.
    pub concurrent: bool,
    /// Continue an interrupted run in `out_dir`: finished engines are kept as they are,
    /// the others continue after their last reported job.
    pub resume: bool,
    /// Set it to stop the run: the running workers are killed (their engines end
    /// incomplete, resumable) and no further worker starts.
    pub cancel: Option<&'a AtomicBool>,
}

impl WorkerPlan<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Runs the workers and gathers what each reports.
pub fn run_workers(plan: &WorkerPlan<'_>, progress: &mut dyn FnMut(&Progress)) -> std::io::Result<Vec<EngineRaw>> {
    let mut gatherers = vec![];
    for engine in plan.engines {
        gatherers.push(Gatherer::new(plan.out_dir, engine, plan.resume)?);
    }
    let pending: Vec<usize> = (0..gatherers.len()).filter(|&i| !gatherers[i].finished()).collect();
    let mut statuses: Vec<Option<std::process::ExitStatus>> = vec![None; gatherers.len()];
    if plan.concurrent {
        run_together(plan, &pending, &mut gatherers, &mut statuses, progress)?;
    } else {
        for &i in &pending {
            if plan.cancelled() {
                break;
            }
            run_together(plan, &[i], &mut gatherers, &mut statuses, progress)?;
        }
    }
    Ok(gatherers
        .into_iter()
        .zip(plan.engines)
        .zip(statuses)
        .map(|((g, engine), status)| g.finish(engine, status))
        .collect())
}

/// Starts the workers `which` at once; their lines are gathered in arrival order.
fn run_together(
    plan: &WorkerPlan<'_>,
    which: &[usize],
    gatherers: &mut [Gatherer],
    statuses: &mut [Option<std::process::ExitStatus>],
    progress: &mut dyn FnMut(&Progress),
) -> std::io::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<(usize, std::io::Result<String>)>();
    let mut children = vec![];
    for &i in which {
        let resume_after = if plan.resume { gatherers[i].done } else { 0 };
        let mut child = (plan.worker)(&plan.engines[i], resume_after)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        if let Some(stdout) = child.stdout.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    if tx.send((i, line)).is_err() {
                        return;
                    }
                }
            });
        }
        children.push((i, child));
    }
    drop(tx);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((i, line)) => gatherers[i].line(&line?, progress)?,
            Err(RecvTimeoutError::Timeout) => {
                if plan.cancelled() {
                    for (_, child) in &mut children {
                        // Already gone is fine: it is waited for below either way.
                        let _ = child.kill();
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    for (i, mut child) in children {
        statuses[i] = Some(child.wait()?);
    }
    Ok(())
}

/// Endpoint mode: the server is an "engine" named `name`, driven from this process.
pub fn run_endpoint(
    name: &str,
    ep: &Endpoint,
    settings: &Settings,
    tokenizer: Option<&Tokenizer>,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> std::io::Result<EngineRaw> {
    let mut gather = Gatherer::new(out_dir, name, false)?;
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
