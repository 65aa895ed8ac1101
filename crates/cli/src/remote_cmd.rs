//! `parallax remote add|list|remove`, and generation on a registered remote (`generate --model
//! MODEL@REMOTE`): the text streams as the server sends it, timed on our side of the wire, the
//! network latency measured apart (one `/v1/models` round trip).

use std::io::{Read, Write};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use parallax_core::figures;
use parallax_remote::{ApiKey, KeySource, Registry, RemoteClient, RemoteSpec};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Register an OpenAI-compatible server (llama-server, vLLM, exo, LM Studio, Ollama, another
    /// Parallax); its models are then `<model>@<name>`.
    Add {
        name: String,
        /// Base URL, e.g. http://10.0.0.5:8080 (with or without /v1).
        url: String,
        /// Read the API key from this environment variable at each use (nothing is stored).
        #[arg(long, value_name = "VAR", conflicts_with = "key_stdin")]
        key_env: Option<String>,
        /// Read the API key from standard input and keep it in the OS keyring.
        #[arg(long)]
        key_stdin: bool,
        /// Seconds the server may take to start answering a request (default 300).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    /// List the registered remotes; with --probe, each one's latency and models.
    List {
        #[arg(long)]
        probe: bool,
        #[arg(long)]
        json: bool,
    },
    /// Unregister a remote and forget its stored key.
    Remove { name: String },
}

#[derive(Serialize)]
struct Listed {
    name: String,
    url: String,
    /// Where the key is kept: "keyring", "env:VAR" or "none". Never the key.
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What the server publishes about itself (llama-server's /metrics, /slots), with sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    published: Vec<parallax_remote::Published>,
}

pub fn run(a: Args) -> Result<()> {
    let mut registry = Registry::open()?;
    match a.command {
        Command::Add {
            name,
            url,
            key_env,
            key_stdin,
            timeout,
        } => {
            let (key, source) = match (key_env, key_stdin) {
                (Some(var), _) => (None, Some(KeySource::Env(var))),
                (None, true) => {
                    let mut k = String::new();
                    std::io::stdin()
                        .read_to_string(&mut k)
                        .context("reading the key from stdin")?;
                    let k = k.trim();
                    if k.is_empty() {
                        bail!("--key-stdin: standard input held no key");
                    }
                    (Some(ApiKey::new(k)), Some(KeySource::Keyring))
                }
                (None, false) => (None, None),
            };
            let spec = RemoteSpec {
                name: name.clone(),
                url,
                key: source,
                timeout_secs: timeout,
            };
            registry.add(spec, key.as_ref(), parallax_engines::ENGINES)?;
            println!("registered `{name}` in {}", registry.path().display());
        }
        Command::List { probe, json } => {
            let rows: Vec<Listed> = registry.list().iter().map(|r| listed(r, probe)).collect();
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&rows)?)?;
                return Ok(());
            }
            for r in &rows {
                let probe = match (&r.latency_ms, &r.models, &r.error) {
                    (Some(ms), Some(models), _) => format!(" · {ms:.0} ms · {}", models.join(", ")),
                    (_, _, Some(e)) => format!(" · {e}"),
                    _ => String::new(),
                };
                writeln!(out, "{}\t{}\tkey: {}{probe}", r.name, r.url, r.key)?;
                for p in &r.published {
                    writeln!(out, "\t{} = {} ({})", p.name, p.value, p.source)?;
                }
            }
        }
        Command::Remove { name } => {
            registry.remove(&name)?;
            println!("removed `{name}`");
        }
    }
    Ok(())
}

fn listed(r: &RemoteSpec, probe: bool) -> Listed {
    let mut row = Listed {
        name: r.name.clone(),
        url: r.url.clone(),
        key: match &r.key {
            Some(KeySource::Keyring) => "keyring".into(),
            Some(KeySource::Env(v)) => format!("env:{v}"),
            None => "none".into(),
        },
        latency_ms: None,
        models: None,
        error: None,
        published: vec![],
    };
    if probe {
        match RemoteClient::new(r).and_then(|c| c.probe()) {
            Ok(p) => {
                row.latency_ms = Some(p.latency.as_secs_f64() * 1000.0);
                row.models = Some(p.models.into_iter().map(|m| format!("{m}@{}", r.name)).collect());
                row.published = p.published;
            }
            Err(e) => row.error = Some(format!("{} ({})", e, e.code())),
        }
    }
    row
}

/// `model@remote` when `remote` is registered: the model as the remote names it, and the remote.
pub fn remote_model(spec: &str) -> Result<Option<(String, RemoteSpec)>> {
    let Some((model, name)) = spec.rsplit_once('@') else {
        return Ok(None);
    };
    if parallax_engines::ENGINES.contains(&name) {
        return Ok(None);
    }
    let registry = Registry::open()?;
    Ok(registry.get(name).ok().map(|r| (model.to_owned(), r.clone())))
}

/// What `generate --json` prints for a remote.
#[derive(Serialize)]
struct RemoteOutput {
    text: String,
    remote: String,
    model: String,
    finish_reason: Option<String>,
    /// `(prompt, completion)` from the server's `usage`; absent when it sent none.
    usage: Option<(usize, usize)>,
    /// Chunks with text: the completion's size when the server sends no usage.
    chunks: usize,
    latency_ms: f64,
    ttft_ms: f64,
    decode_tps: f64,
    memory: &'static str,
}

/// One streamed chat turn on `remote`. A cut stream keeps what arrived: it is printed, then the
/// error says it is partial.
pub fn generate(model: &str, remote: &RemoteSpec, body: Value, json_out: bool) -> Result<()> {
    let client = RemoteClient::new(remote)?;
    let latency = client.latency()?;
    let mut body = body;
    body["model"] = json!(model);
    let start = Instant::now();
    let ms = || start.elapsed().as_secs_f64() * 1000.0;
    let mut stream = client.chat(&body)?;
    let (mut text, mut chunks, mut ttft_ms) = (String::new(), 0usize, None);
    let mut out = std::io::stdout().lock();
    let result = loop {
        match stream.next() {
            None => break Ok(()),
            Some(Ok(delta)) => {
                ttft_ms.get_or_insert_with(ms);
                chunks += 1;
                text.push_str(&delta.content);
                if !json_out {
                    out.write_all(delta.content.as_bytes())?;
                    out.flush()?;
                }
            }
            Some(Err(e)) => break Err(e),
        }
    };
    let end_ms = ms();
    if let Err(e) = result {
        if !json_out {
            writeln!(out)?;
        }
        bail!("{e} ({}); the {} characters received are above", e.code(), text.len());
    }
    let finished = stream.finished().cloned().unwrap_or_default();
    let ttft = ttft_ms.unwrap_or(end_ms);
    let generated = finished.usage.map_or(chunks, |u| u.1);
    let decode_tps = figures::decode_tps(generated, ttft, end_ms);
    if json_out {
        let o = RemoteOutput {
            text,
            remote: remote.name.clone(),
            model: model.to_owned(),
            finish_reason: finished.finish_reason,
            usage: finished.usage,
            chunks,
            latency_ms: latency.as_secs_f64() * 1000.0,
            ttft_ms: ttft,
            decode_tps,
            memory: "remote: not measured",
        };
        writeln!(out, "{}", serde_json::to_string(&o)?)?;
    } else {
        writeln!(out)?;
        eprintln!(
            "[remote {} · {model} · {} · network {:.0} ms · TTFT {ttft:.0} ms · decode {decode_tps:.1} tok/s · {}]",
            remote.name,
            match finished.usage {
                Some((p, c)) => format!("{p} prompt + {c} generated tokens (server usage)"),
                None => format!("{chunks} chunks (the server sent no usage)"),
            },
            latency.as_secs_f64() * 1000.0,
            finished.finish_reason.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}
