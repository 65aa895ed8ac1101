//! `parallax`: the headless front end. Same core and engines as the desktop app, no Tauri.

mod bench_cmd;
mod concurrency_cmd;
mod convert_cmd;
mod engines;
mod generate_cmd;
mod models_cmd;
mod monitor_cmd;
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
    #[command(subcommand)]
    command: Command,
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
    /// Serve the OpenAI-compatible API on 127.0.0.1 (models load on first use).
    Serve(serve_cmd::Args),
    /// Benchmark engines on one model, each in a fresh process; writes JSON, CSV and a report.
    Bench(bench_cmd::Args),
    /// One engine's forward-pass speed as llama-bench measures it (pp512, tg128, tg128@4096).
    Speed(speed_cmd::Args),
    /// Stream live memory/CPU snapshots of a process (default: this one) to the terminal.
    Monitor(monitor_cmd::Args),
    /// One engine's benchmark worker (started by `parallax bench`).
    #[command(hide = true)]
    BenchWorker(bench_cmd::WorkerArgs),
}

fn main() {
    let cli = Cli::parse();
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
    };
    if let Err(e) = result {
        // One line, no backtrace: the error types carry the useful detail.
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
