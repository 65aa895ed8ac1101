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
}
