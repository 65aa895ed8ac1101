//! `parallax bench --suite concurrency`: each engine behind its own `parallax serve
//! --parallel N` process, and `llama-server -np N` on the same file as the anchor, each loaded
//! by 1, 2, 4, … clients at once (`parallax_bench::concurrency`). Servers run one at a time.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use parallax_bench::concurrency::{self, Curve, Load};
use parallax_bench::endpoint::Endpoint;

/// What the suite runs, from `parallax bench`'s flags.
pub struct Plan<'a> {
    /// A catalog id, or the path of a GGUF file (served with `--import`).
    pub model: &'a str,
    pub engines: &'a [String],
    pub clients: &'a [usize],
    pub rounds: usize,
    pub max_tokens: usize,
    pub llama_server: Option<PathBuf>,
    pub out: &'a Path,
}

/// Where `make bench-anchors` builds llama.cpp (`scripts/bench/llama_bench_build.py`).
const BUILT_LLAMA_SERVER: &str = "target/anchors/llama.cpp-11434/build/bin/llama-server";

/// A server process, killed when dropped.
struct Server {
    child: Child,
    endpoint: Endpoint,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until the server answers `/v1/models`, then sends one warm-up request (which also
/// loads a model that loads on first use).
fn ready(server: &mut Server, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let url = format!("{}/models", server.endpoint.url);
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("{what} exited before it was ready ({status})");
        }
        if ureq::get(&url).call().is_ok() {
            break;
        }
        if Instant::now() > deadline {
            bail!("{what} did not answer {url} within 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let warm = Load {
        clients: 1,
        rounds: 1,
        max_tokens: 8,
    };
    concurrency::measure(&server.endpoint, warm).map_err(|e| anyhow!("{what}: warm-up request: {e}"))?;
    Ok(())
}

fn rss_of(pid: u32) -> Option<u64> {
    let mut sys = sysinfo::System::new().ok()?;
    let pid = sysinfo::Pid::from_u32(pid);
    sys.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
    sys.process(pid).map(|p| p.memory())
}

fn curve(name: String, server: &mut Server, plan: &Plan) -> Result<Curve> {
    ready(server, &name)?;
    let mut points = Vec::new();
    for &clients in plan.clients {
        let load = Load {
            clients,
            rounds: plan.rounds,
            max_tokens: plan.max_tokens,
        };
        let mut p =
            concurrency::measure(&server.endpoint, load).map_err(|e| anyhow!("{name}, {clients} clients: {e}"))?;
        p.server_rss_bytes = rss_of(server.child.id());
        eprintln!(
            "{name:>16}  {clients:>3} clients: {:7.1} tok/s in all, {:6.1} per request, TTFT p50 {:.0} ms",
            p.aggregate_tps, p.per_request_tps, p.ttft_p50_ms
        );
        points.push(p);
    }
    Ok(Curve { server: name, points })
}

fn log_file(out: &Path, name: &str) -> Result<Stdio> {
    let f = std::fs::File::create(out.join(format!("{name}.log")))?;
    Ok(Stdio::from(f))
}

fn parallax_server(plan: &Plan, engine: &str, slots: usize) -> Result<Server> {
    let port = free_port()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    let path = Path::new(plan.model);
    let id = match path.is_file() {
        true => {
            cmd.arg("serve").arg("--import").arg(path);
            parallax_core::local_models::entry_of(path).map_err(|e| anyhow!(e))?.id
        }
        false => {
            cmd.arg("serve");
            plan.model.to_owned()
        }
    };
    let model = format!("{id}@{engine}");
    let child = cmd
        .args(["--port", &port.to_string(), "--parallel", &slots.to_string()])
        .args(["--queue-depth", &(slots * 2).max(16).to_string()])
        .args(["--model", &model])
        .stdout(Stdio::null())
        .stderr(log_file(plan.out, &format!("serve-{engine}"))?)
        .spawn()
        .context("starting parallax serve")?;
    Ok(Server {
        child,
        endpoint: Endpoint {
            url: format!("http://127.0.0.1:{port}/v1"),
            model,
            api_key: None,
        },
    })
}

fn llama_server(plan: &Plan, bin: &Path, slots: usize) -> Result<Server> {
    let file = parallax_core::catalog::resolve(plan.model)
        .map(|e| e.path)
        .unwrap_or_else(|_| PathBuf::from(plan.model));
    let port = free_port()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // llama-server splits `-c` over its slots: 2,048 positions each, as ours may hold.
    let child = Command::new(bin)
        .arg("-m")
        .arg(&file)
        .args(["-np", &slots.to_string(), "-c", &(slots * 2048).to_string()])
        .args([
            "-t",
            &threads.to_string(),
            "--port",
            &port.to_string(),
            "--host",
            "127.0.0.1",
        ])
        .stdout(Stdio::null())
        .stderr(log_file(plan.out, "llama-server")?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Server {
        child,
        endpoint: Endpoint {
            url: format!("http://127.0.0.1:{port}/v1"),
            model: plan.model.to_owned(),
            api_key: None,
        },
    })
}

/// The CPU the figures were measured on: model and the SIMD flags that matter here.
fn cpu_line() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"];
    let present: Vec<&str> = wanted
        .into_iter()
        .filter(|f| flags.split(' ').any(|x| x == *f))
        .collect();
    format!(
        "{}, {} threads; flags: {}; GGUF kernel: {}",
        field("model name"),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        present.join(" "),
        parallax_gguf::kernels::Kernel::selected().name()
    )
}

pub fn run(plan: Plan) -> Result<()> {
    if plan.clients.is_empty() || plan.clients.contains(&0) {
        bail!("--clients takes client counts of at least 1, e.g. 1,2,4,8,16");
    }
    if let Some(bin) = plan.llama_server.as_ref().filter(|b| !b.is_file()) {
        bail!("--llama-server {}: no such file", bin.display());
    }
    std::fs::create_dir_all(plan.out).with_context(|| format!("creating {}", plan.out.display()))?;
    let slots = plan.clients.iter().copied().max().unwrap_or(1);
    let cpu = cpu_line();
    eprintln!("CPU: {cpu}");
    let mut curves = Vec::new();
    for engine in plan.engines {
        let mut server = parallax_server(&plan, engine, slots)?;
        curves.push(curve(format!("parallax {engine}"), &mut server, &plan)?);
    }
    let bin = plan
        .llama_server
        .clone()
        .or_else(|| Some(PathBuf::from(BUILT_LLAMA_SERVER)).filter(|p| p.exists()));
    let anchor = match &bin {
        Some(bin) => {
            let mut server = llama_server(&plan, bin, slots)?;
            Some(curve("llama-server".into(), &mut server, &plan)?)
        }
        None => {
            eprintln!("no llama-server (build it: python scripts/bench/llama_bench_build.py --server, or pass --llama-server): no anchor ratio");
            None
        }
    };
    if let Some(a) = &anchor {
        curves.push(a.clone());
    }
    let table = concurrency::table(&curves, anchor.as_ref());
    let report = format!(
        "# Concurrency: {}\n\nCPU: {cpu}\n\n{} slots per server; each client sends {} requests one after the other, {} tokens at most, greedy; `cache_prompt: false`.\n\n{table}",
        plan.model, slots, plan.rounds, plan.max_tokens
    );
    std::fs::write(plan.out.join("concurrency.md"), &report)?;
    std::fs::write(
        plan.out.join("concurrency.json"),
        serde_json::to_string_pretty(&serde_json::json!({"cpu": cpu, "slots": slots, "curves": curves}))?,
    )?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}")?;
    Ok(())
}
