//! `parallax`: the headless front end. Same core and engines as the desktop app, no Tauri.

mod bench_cmd;
mod concurrency_cmd;
mod convert_cmd;
mod engines;
mod generate_cmd;
mod models_cmd;
mod monitor_cmd;
mod parity_cmd;
mod remote_cmd;
mod serve_cmd;
mod speed_cmd;
mod tokenize_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "parallax",
    version,
    about = "Run local LLMs with two engines, GGUF (candle) and MLX (mlx-rs), headless."
)]
struct Cli {
    /// Where the engines compute: cpu, cuda, cuda:N, metal or auto (a GPU when this build and
    /// machine have one). Processes it starts (benchmark workers, servers) inherit it.
    #[arg(long, global = true, env = "PARALLAX_DEVICE", value_parser = parse_device)]
    device: Option<parallax_core::device::DeviceRequest>,
    #[command(subcommand)]
    command: Command,
}

fn parse_device(s: &str) -> Result<parallax_core::device::DeviceRequest, String> {
    s.parse().map_err(|e: parallax_core::Error| e.to_string())
}

#[derive(Subcommand)]
enum Command {
    /// List the model catalog and the files found on disk.
    Models(models_cmd::Args),
    /// Print a model's token ids and pieces for a text (vocab-only GGUFs work too).
    Tokenize(tokenize_cmd::Args),
    /// Generate text with one engine, streaming it to stdout.
    Generate(generate_cmd::Args),
    /// Convert a GGUF file into an MLX model directory (loadable by mlx-lm).
    Convert(convert_cmd::Args),
    /// Serve the OpenAI-compatible API on 127.0.0.1 (models load on first use; `<model>@<remote>` is
    /// answered by that registered remote).
    Serve(serve_cmd::Args),
    /// Benchmark engines on one model, each in a fresh process; writes JSON, CSV and a report.
    Bench(bench_cmd::Args),
    /// One engine's forward-pass speed as llama-bench measures it (pp512, tg128, tg128@4096).
    Speed(speed_cmd::Args),
    /// Greedy tokens and top-two logit margins on a fixture's prompts, one JSON line each (to
    /// compare devices or engines token for token).
    Parity(parity_cmd::Args),
    /// Remote engines: register an OpenAI-compatible server (`add`, `list`, `remove`); its
    /// models are then `<model>@<name>` for `generate`, `serve` and the app.
    Remote(remote_cmd::Args),
    /// Stream live memory/CPU snapshots of a process (default: this one) to the terminal.
    Monitor(monitor_cmd::Args),
    /// One engine's benchmark worker (started by `parallax bench`).
    #[command(hide = true)]
    BenchWorker(bench_cmd::WorkerArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Some(device) = cli.device {
        // Still one thread: nothing reads the environment concurrently.
        std::env::set_var(parallax_core::device::ENV, device.to_string());
    }
    let result = match cli.command {
        Command::Models(args) => models_cmd::run(args),
        Command::Tokenize(args) => tokenize_cmd::run(args),
        Command::Generate(args) => generate_cmd::run(args),
        Command::Convert(args) => convert_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::BenchWorker(args) => bench_cmd::worker(args),
        Command::Speed(args) => speed_cmd::run(args),
        Command::Monitor(args) => monitor_cmd::run(args),
        Command::Parity(args) => parity_cmd::run(args),
        Command::Remote(args) => remote_cmd::run(args),
    };
    if let Err(e) = result {
        // One line, no backtrace: the error types carry the useful detail.
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
