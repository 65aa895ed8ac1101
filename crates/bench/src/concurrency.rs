//! The concurrency suite: N clients at once against one OpenAI-compatible server, each
//! streaming its requests one after the other, as IDE assistants, agents and scripts do when
//! they share a local endpoint. Run against `parallax serve --parallel N` and, as the anchor,
//! `llama-server -np N` on the same file, so the figures compare as a ratio.
//!
//! Per load point: aggregate tok/s (every completion token over the wall time of the whole
//! point), per-request decode tok/s (mean of each request's own, the core's definition), TTFT
//! p50/p95, and the server process's resident memory afterwards.

use std::time::Instant;

use parallax_core::figures::{decode_tps, percentile, rate};
use parallax_core::ChatMessage;
use serde::{Deserialize, Serialize};

use crate::endpoint::{ask, Endpoint};

/// What every client asks, in turn (distinct prompts, so no two requests share a cache).
const PROMPTS: [&str; 8] = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how a bicycle stays upright, step by step.",
    "Describe a walk through a busy market in the morning.",
    "Write a letter to a friend about learning to cook.",
    "Explain what a compiler does to someone who has never programmed.",
    "Tell the story of a cat who wanted to fly.",
    "Describe the water cycle as if you were a raindrop.",
    "Write a travel guide entry for an imaginary island.",
];

/// One load point's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPoint {
    pub clients: usize,
    pub requests: usize,
    pub completion_tokens: usize,
    pub wall_ms: f64,
    pub aggregate_tps: f64,
    pub per_request_tps: f64,
    pub ttft_p50_ms: f64,
    pub ttft_p95_ms: f64,
    /// The server process's resident memory after the point; `None` when not observable.
    pub server_rss_bytes: Option<u64>,
}

/// How much each client asks.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub clients: usize,
    /// Requests each client sends, one after the other.
    pub rounds: usize,
    pub max_tokens: usize,
}

/// One request as its client saw it: TTFT ms, total ms, completion tokens.
type Seen = (f64, f64, usize);

/// Runs one load point against `ep`. Greedy decoding with a fixed seed: both servers are
/// asked for the same work.
pub fn measure(ep: &Endpoint, load: Load) -> Result<LoadPoint, String> {
    let start = Instant::now();
    let outcomes: Vec<Result<Vec<Seen>, String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..load.clients)
            .map(|c| {
                s.spawn(move || {
                    (0..load.rounds)
                        .map(|r| {
                            let prompt = PROMPTS[(c + r * load.clients) % PROMPTS.len()];
                            let messages = [ChatMessage::new("user", prompt)];
                            let a = ask(ep, &messages, load.max_tokens, 0.0, 1)?;
                            let ttft = a.chunk_times_ms.first().copied().unwrap_or(a.total_ms);
                            let tokens = match a.usage {
                                Some((_, completion)) => completion,
                                None => return Err("the server sent no usage (stream_options.include_usage)".into()),
                            };
                            Ok((ttft, a.total_ms, tokens))
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a client thread panicked".into())))
            .collect()
    });
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    let runs: Vec<Seen> = outcomes.into_iter().collect::<Result<Vec<_>, _>>()?.concat();
    let completion_tokens = runs.iter().map(|r| r.2).sum();
    let ttfts: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let per_request: Vec<f64> = runs.iter().map(|&(t, total, n)| decode_tps(n, t, total)).collect();
    Ok(LoadPoint {
        clients: load.clients,
        requests: runs.len(),
        completion_tokens,
        wall_ms,
        aggregate_tps: rate(completion_tokens, wall_ms),
        per_request_tps: per_request.iter().sum::<f64>() / per_request.len().max(1) as f64,
        ttft_p50_ms: percentile(&ttfts, 50.0),
        ttft_p95_ms: percentile(&ttfts, 95.0),
        server_rss_bytes: None,
    })
}

/// One server's curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// e.g. "parallax gguf" or "llama-server".
    pub server: String,
    pub points: Vec<LoadPoint>,
}

/// The table: every server's points, with each one's aggregate tok/s as a ratio to the
/// anchor's at the same client count, and its speed-up over its own single client.
pub fn table(curves: &[Curve], anchor: Option<&Curve>) -> String {
    let mut out = String::from(
        "| server | clients | aggregate tok/s | × 1 client | per-request tok/s | TTFT p50 ms | TTFT p95 ms | RSS MB | vs anchor |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in curves {
        let single = c.points.iter().find(|p| p.clients == 1).map(|p| p.aggregate_tps);
        for p in &c.points {
            let anchor_tps = anchor
                .and_then(|a| a.points.iter().find(|q| q.clients == p.clients))
                .map(|q| q.aggregate_tps);
            let ratio = |x: Option<f64>| match x {
                Some(x) if x > 0.0 => format!("{:.2}×", p.aggregate_tps / x),
                _ => "–".into(),
            };
            out.push_str(&format!(
                "| {} | {} | {:.1} | {} | {:.1} | {:.0} | {:.0} | {} | {} |\n",
                c.server,
                p.clients,
                p.aggregate_tps,
                ratio(single),
                p.per_request_tps,
                p.ttft_p50_ms,
                p.ttft_p95_ms,
                p.server_rss_bytes
                    .map_or("–".into(), |b| format!("{:.0}", b as f64 / 1e6)),
                ratio(anchor_tps),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(clients: usize, tps: f64) -> LoadPoint {
        LoadPoint {
            clients,
            requests: clients,
            completion_tokens: 0,
            wall_ms: 1.0,
            aggregate_tps: tps,
            per_request_tps: tps / clients as f64,
            ttft_p50_ms: 10.0,
            ttft_p95_ms: 20.0,
            server_rss_bytes: Some(300_000_000),
        }
    }

    #[test]
    fn the_table_gives_ratios_to_the_anchor_and_to_one_client() {
        let ours = Curve {
            server: "parallax gguf".into(),
            points: vec![point(1, 20.0), point(8, 100.0)],
        };
        let anchor = Curve {
            server: "llama-server".into(),
            points: vec![point(1, 40.0), point(8, 80.0)],
        };
        let t = table(&[ours, anchor.clone()], Some(&anchor));
        assert!(t.contains("| parallax gguf | 8 | 100.0 | 5.00× |"), "{t}");
        assert!(t.contains("| 300 | 1.25× |"), "{t}");
        assert!(t.contains("| parallax gguf | 1 | 20.0 | 1.00× |"), "{t}");
        assert!(t.contains("| 0.50× |"), "{t}");
    }
}
