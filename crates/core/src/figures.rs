//! The figures Parallax compares, defined once. Every view (the CLI's JSON, the live monitor,
//! side by side, the benchmark suite, the endpoint's `timings`) computes them here, so the
//! MLX-vs-GGUF verdict cannot drift between screens.

/// `count` per second over `ms` milliseconds; 0 when no time has passed.
pub fn rate(count: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        count as f64 / (ms / 1000.0)
    } else {
        0.0
    }
}

/// The `q`-th percentile (0–100) of `values` by nearest rank: TTFT p50/p95 of a load test.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prompt tok/s: the prompt tokens prefilled (those reused from the KV cache excluded) over the
/// time to the first generated token.
pub fn prompt_tps(prefilled: usize, ttft_ms: f64) -> f64 {
    rate(prefilled, ttft_ms)
}

/// Decode tok/s = generated / (end − TTFT), the study's definition: the first token is counted
/// although it is produced at TTFT. `end_ms` is the total time of a finished generation, or the
/// time of the latest token (or now) for a live one.
pub fn decode_tps(generated: usize, ttft_ms: f64, end_ms: f64) -> f64 {
    rate(generated, end_ms - ttft_ms)
}

/// Weight bytes one decoded token reads, and the model's total: every tensor, except that a
/// mixture of experts reads `experts_used / experts` of its expert tensors and the token
/// embedding gives one row (unless it is also the output projection, read whole).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightsPerToken {
    pub active_bytes: u64,
    pub total_bytes: u64,
}

impl WeightsPerToken {
    /// From a GGUF's tensor directory and its description.
    pub fn of_gguf(header: &crate::GgufHeader, desc: &crate::ModelDesc) -> Self {
        let share = desc
            .moe
            .as_ref()
            .map_or(1.0, |m| m.experts_used as f64 / m.experts as f64);
        let tied = !header.tensors.iter().any(|t| t.name == "output.weight");
        let mut active = 0f64;
        let mut total = 0u64;
        for t in &header.tensors {
            total += t.n_bytes;
            let expert = t.name.contains("_exps.") || is_per_expert(&t.name);
            active += match t.name.as_str() {
                "token_embd.weight" if !tied => t.n_bytes as f64 / desc.vocab.max(1) as f64,
                _ if expert => t.n_bytes as f64 * share,
                _ => t.n_bytes as f64,
            };
        }
        WeightsPerToken {
            active_bytes: active as u64,
            total_bytes: total,
        }
    }

    /// The decode rate memory bandwidth allows: every active byte read once per token.
    pub fn roofline_tps(&self, bandwidth_bytes_per_s: f64) -> f64 {
        match self.active_bytes {
            0 => 0.0,
            b => bandwidth_bytes_per_s / b as f64,
        }
    }
}

/// `blk.N.ffn_up.E.weight`, the older one-tensor-per-expert layout.
fn is_per_expert(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 5 && parts[0] == "blk" && parts[2].starts_with("ffn_") && parts[3].parse::<usize>().is_ok()
}

/// Decode speed as a share of the roofline (1.0 = memory-bound at the measured bandwidth).
pub fn roofline_share(decode_tps: f64, roofline_tps: f64) -> f64 {
    if roofline_tps > 0.0 {
        decode_tps / roofline_tps
    } else {
        0.0
    }
}

/// The machine's memory read bandwidth (bytes/s): every core sums its share of a 256 MiB
/// buffer, best of three passes. What the roofline divides by.
pub fn read_bandwidth() -> f64 {
    const BYTES: usize = 256 << 20;
    let words = vec![1u64; BYTES / 8];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = words.len().div_ceil(threads);
    let mut best = 0f64;
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = words
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &w| a.wrapping_add(w))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        let secs = start.elapsed().as_secs_f64();
        if sum as usize == words.len() && secs > 0.0 {
            best = best.max(BYTES as f64 / secs);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_speed_counts_every_token_over_the_time_after_the_first() {
        // 11 tokens, the first at 100 ms, done at 1100 ms: 11 / 1 s.
        assert_eq!(decode_tps(11, 100.0, 1100.0), 11.0);
        assert_eq!(prompt_tps(50, 250.0), 200.0);
        assert_eq!(decode_tps(1, 100.0, 100.0), 0.0, "no time after the first token");
    }

    #[test]
    fn the_roofline_divides_bandwidth_by_the_active_bytes() {
        let w = WeightsPerToken {
            active_bytes: 100_000_000,
            total_bytes: 400_000_000,
        };
        assert_eq!(w.roofline_tps(10e9), 100.0);
        assert_eq!(roofline_share(25.0, 100.0), 0.25);
        assert!(is_per_expert("blk.3.ffn_up.7.weight"));
        assert!(!is_per_expert("blk.3.ffn_up.weight"));
    }
}
