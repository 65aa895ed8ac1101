//! One benchmark run from start to report, shared by `parallax bench` and the desktop app:
//! the run's description (saved as `DIR/run.json` so `--resume` can continue it), the checks
//! made before it starts, the worker command line and its parsing, and the results assembled
//! and written at the end. The caller supplies the executable that runs workers (the CLI
//! itself, or the app binary) and the loader a worker uses.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use parallax_core::{catalog, LoadedModel};
use serde::{Deserialize, Serialize};

use crate::parent::{run_workers, Progress, WorkerPlan};
use crate::results::{EngineRaw, EngineSummary};
use crate::{report, Fingerprint, ModelFingerprint, Results, Settings, SCHEMA};

/// The subcommand (CLI) or first argument (app) that turns the executable into a worker.
pub const WORKER_ARG: &str = "bench-worker";
const RUN_SPEC: &str = "run.json";

/// What a run is: saved when it starts, so an interrupted run can be continued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    pub engines: Vec<String>,
    pub model: String,
    pub settings: Settings,
    pub concurrent: bool,
    pub started_at_unix: u64,
    /// `--synthetic`: the shape the model was written with, described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<String>,
}

impl RunSpec {
    pub fn save(&self, out: &Path) -> Result<(), String> {
        std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(out.join(RUN_SPEC), text).map_err(|e| format!("writing to {}: {e}", out.display()))
    }

    pub fn load(out: &Path) -> Result<RunSpec, String> {
        let path = out.join(RUN_SPEC);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {} ({e}); was a run started in this folder?",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not a run description: {e}", path.display()))
    }
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Same weights needs one file both engines run as it is: every quantized tensor in a format
/// MLX holds natively (its K-quants would be requantized at load).
pub fn check_same_weights(spec: &str) -> Result<(), String> {
    let path = catalog::resolve(spec).map_err(|e| e.to_string())?.path;
    let header = parallax_core::GgufHeader::read(&path)
        .map_err(|_| format!("same weights needs a GGUF file; `{spec}` is not one"))?;
    const KEPT: [&str; 6] = ["Q4_0", "Q4_1", "Q8_0", "F32", "F16", "BF16"];
    let mut foreign: Vec<&str> = header
        .tensors
        .iter()
        .map(|t| t.ggml_type.name)
        .filter(|n| !KEPT.contains(n))
        .collect();
    foreign.sort_unstable();
    foreign.dedup();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(format!(
        "same weights needs a Q4_0, Q4_1 or Q8_0 GGUF (MLX runs those as they are); `{spec}` has {} tensors, which MLX would requantize",
        foreign.join(", ")
    ))
}

/// The model's identity for the results: catalog entry, or the file hashed.
pub fn model_fingerprint(spec: &str) -> Result<ModelFingerprint, String> {
    let m = catalog::resolve(spec).map_err(|e| e.to_string())?;
    let (sha256, size_bytes, quantization) = match &m.entry {
        Some(e) => (e.sha256.clone(), e.size_bytes, e.quantization.clone()),
        None if m.path.is_file() => {
            use sha2::Digest;
            let mut hasher = sha2::Sha256::new();
            let size = std::fs::File::open(&m.path)
                .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
                .map_err(|e| format!("reading {}: {e}", m.path.display()))?;
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

/// The worker's arguments, as the parent passes them and the worker reads them back.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerArgs {
    pub engine: String,
    pub model: String,
    pub settings: Settings,
    /// Jobs an earlier worker of this run already did.
    pub resume_after: usize,
}

impl WorkerArgs {
    /// `exe bench-worker --engine E --model M --settings JSON --resume-after N`.
    pub fn command(exe: &Path, engine: &str, model: &str, settings_json: &str, resume_after: usize) -> Command {
        let mut cmd = Command::new(exe);
        cmd.args([
            WORKER_ARG,
            "--engine",
            engine,
            "--model",
            model,
            "--settings",
            settings_json,
        ]);
        cmd.args(["--resume-after", &resume_after.to_string()]);
        cmd
    }

    /// Reads the flags that follow `bench-worker`.
    pub fn parse(args: &[String]) -> Result<WorkerArgs, String> {
        let mut it = args.iter();
        let (mut engine, mut model, mut settings, mut resume_after) = (None, None, None, 0);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--engine" => engine = Some(value.clone()),
                "--model" => model = Some(value.clone()),
                "--settings" => settings = Some(serde_json::from_str(value).map_err(|e| format!("--settings: {e}"))?),
                "--resume-after" => {
                    resume_after = value
                        .parse()
                        .map_err(|_| format!("--resume-after: `{value}` is not a count"))?
                }
                other => return Err(format!("unknown worker flag {other}")),
            }
        }
        Ok(WorkerArgs {
            engine: engine.ok_or("--engine is required")?,
            model: model.ok_or("--model is required")?,
            settings: settings.ok_or("--settings is required")?,
            resume_after,
        })
    }

    /// Runs the worker: load (timed, cold), run, each event as a JSON line on stdout.
    pub fn serve(&self, load: &dyn Fn(&str, &str) -> parallax_core::Result<LoadedModel>) -> Result<(), String> {
        if self.settings.cold_load && self.resume_after == 0 {
            let path = catalog::resolve(&self.model).map_err(|e| e.to_string())?.path;
            crate::memory::drop_from_page_cache(&path).map_err(|e| format!("--cold-load: {e}"))?;
        }
        let stdout = std::io::stdout();
        let mut failed = None;
        let mut load = || load(&self.engine, &self.model);
        crate::worker::run(&mut load, &self.settings, self.resume_after, &mut |ev| {
            let mut out = stdout.lock();
            let written = serde_json::to_string(ev)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                failed.get_or_insert(e);
            }
        })
        .map_err(|e| e.to_string())?;
        failed.map_or(Ok(()), |e| Err(e.to_string()))
    }
}

/// A run of workers: which executable, where the results go, whether it resumes, and an
/// optional cancel flag (set it and the workers are killed; the run ends incomplete).
pub struct Session<'a> {
    pub spec: &'a RunSpec,
    pub exe: PathBuf,
    pub out_dir: &'a Path,
    pub resume: bool,
    /// What the compute device is called in the fingerprint (e.g. "none (MLX on CPU)").
    pub gpu: String,
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// Engines of `spec.engines` that are servers (remote engines, by the name the run lists
    /// them under), driven from this process after the local workers.
    pub endpoints: Vec<(String, crate::endpoint::Endpoint)>,
}

impl Session<'_> {
    /// Runs every engine's worker, then writes results.json, results.csv, report.md and the
    /// plots. Incomplete engines are kept in the results, marked so.
    pub fn run(&self, progress: &mut dyn FnMut(&Progress)) -> Result<Results, String> {
        let model = model_fingerprint(&self.spec.model)?;
        if !self.resume {
            self.spec.save(self.out_dir)?;
        }
        let settings_json = serde_json::to_string(&self.spec.settings).map_err(|e| e.to_string())?;
        let worker = |engine: &str, resume_after: usize| {
            WorkerArgs::command(&self.exe, engine, &self.spec.model, &settings_json, resume_after)
        };
        let local: Vec<String> = (self.spec.engines.iter())
            .filter(|e| !self.endpoints.iter().any(|(name, _)| name == *e))
            .cloned()
            .collect();
        let plan = WorkerPlan {
            engines: &local,
            worker: &worker,
            out_dir: self.out_dir,
            concurrent: self.spec.concurrent,
            resume: self.resume,
            cancel: self.cancel,
        };
        let written = |e: std::io::Error| format!("writing to {}: {e}", self.out_dir.display());
        let mut raw = match local.is_empty() {
            true => vec![],
            false => run_workers(&plan, progress).map_err(written)?,
        };
        // A server that sends no `usage` is counted with the run's model's tokenizer (the model
        // the remote is asked to serve), as `bench --endpoint --model` counts.
        let tokenizer = match self.endpoints.is_empty() {
            true => None,
            false => parallax_core::GgufHeader::read(Path::new(&model.path))
                .and_then(|h| parallax_core::Tokenizer::from_gguf(&h))
                .ok(),
        };
        for (name, ep) in &self.endpoints {
            if self
                .cancel
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            {
                break;
            }
            raw.push(
                crate::parent::run_endpoint(
                    name,
                    ep,
                    &self.spec.settings,
                    tokenizer.as_ref(),
                    self.out_dir,
                    progress,
                )
                .map_err(written)?,
            );
        }
        let mode = if self.spec.concurrent { "concurrent" } else { "isolated" };
        finish(self.out_dir, self.spec, model, &self.gpu, mode, raw)
    }
}

/// Assembles the results and writes them with the report.
pub fn finish(
    out_dir: &Path,
    spec: &RunSpec,
    model: ModelFingerprint,
    gpu: &str,
    mode: &str,
    raw: Vec<EngineRaw>,
) -> Result<Results, String> {
    let weights_per_token = parallax_core::GgufHeader::read(Path::new(&model.path))
        .ok()
        .and_then(|h| parallax_core::ModelDesc::from_gguf(&h).ok().map(|d| (h, d)))
        .map(|(h, d)| parallax_core::figures::WeightsPerToken::of_gguf(&h, &d));
    let results = Results {
        synthetic: spec.synthetic.clone(),
        read_bandwidth: weights_per_token.map(|_| parallax_core::figures::read_bandwidth()),
        weights_per_token,
        schema: SCHEMA.into(),
        started_at_unix: spec.started_at_unix,
        fingerprint: Fingerprint::current(gpu),
        model,
        settings: spec.settings.clone(),
        mode: mode.into(),
        summaries: raw.iter().map(EngineSummary::of).collect(),
        engines: raw,
    };
    report::write_all(out_dir, &results).map_err(|e| format!("writing to {}: {e}", out_dir.display()))?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_args_survive_the_command_line() {
        let settings = Settings {
            reps: 2,
            ..Settings::default()
        };
        let json = serde_json::to_string(&settings).unwrap();
        let cmd = WorkerArgs::command(Path::new("/x/parallax"), "mlx", "smol", &json, 3);
        let args: Vec<String> = cmd
            .get_args()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let parsed = WorkerArgs::parse(&args).unwrap();
        assert_eq!(
            parsed,
            WorkerArgs {
                engine: "mlx".into(),
                model: "smol".into(),
                settings,
                resume_after: 3
            }
        );
        assert!(WorkerArgs::parse(&["--engine".into()])
            .unwrap_err()
            .contains("needs a value"));
        assert!(WorkerArgs::parse(&["--bogus".into(), "1".into()])
            .unwrap_err()
            .contains("unknown"));
    }
}
