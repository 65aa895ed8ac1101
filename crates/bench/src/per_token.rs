//! The report's sections on what a token costs: what a synthetic model is, the weight bytes a
//! token reads against the memory roofline, and a mixture of experts' routing per category
//! and per layer.

use std::fmt::Write;

use parallax_core::figures::roofline_share;
use parallax_core::RoutingCounts;

use crate::results::{EngineRaw, Results};

const MB: f64 = 1e6;

/// What a synthetic model is (with the run's other notes, under the machine table).
pub fn synthetic_note(md: &mut String, r: &Results) {
    if let Some(shape) = &r.synthetic {
        let _ = writeln!(
            md,
            "**Synthetic model: the weights are random.** `parallax bench --synthetic` wrote {shape}. \
             Speed depends on the bytes each token reads, not on the weight values, so the timings \
             measure the runtimes; the answers are noise.\n"
        );
    }
}

/// "Weights per token and the memory roofline" (before the results table).
pub fn roofline(md: &mut String, r: &Results) {
    let (Some(w), Some(bw)) = (r.weights_per_token, r.read_bandwidth) else {
        return;
    };
    let roofline = w.roofline_tps(bw);
    let _ = writeln!(md, "\n## Weights per token and the memory roofline\n");
    let _ = writeln!(
        md,
        "Each decoded token reads {:.1} MB of the model's {:.1} MB of weights (for a mixture of \
         experts, only the chosen experts' share). At the {:.1} GB/s this machine reads memory, \
         that allows at most **{roofline:.1} tok/s**.\n",
        w.active_bytes as f64 / MB,
        w.total_bytes as f64 / MB,
        bw / 1e9
    );
    let _ = writeln!(
        md,
        "| Engine | Decode tok/s (mean) | Share of the roofline |\n|---|---|---|"
    );
    for s in &r.summaries {
        if let Some(d) = &s.all.decode_tps {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.0}% |",
                s.engine,
                d.mean,
                100.0 * roofline_share(d.mean, roofline)
            );
        }
    }
    let _ = writeln!(md);
}

fn total(e: &EngineRaw) -> RoutingCounts {
    let mut all = RoutingCounts::default();
    for r in &e.routing {
        all.add(&r.counts);
    }
    all
}

/// "Expert routing": per engine, per category and per layer.
pub fn routing(md: &mut String, r: &Results) {
    let engines: Vec<&EngineRaw> = r.engines.iter().filter(|e| !e.routing.is_empty()).collect();
    if engines.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Expert routing\n");
    let _ = writeln!(
        md,
        "Recorded after the timed runs, in generations of their own (recording costs time): each \
         category's prompts with up to 32 generated tokens. Tokens counts prompt and generated \
         tokens; *never used* is the share of (layer, expert) pairs no token reached; entropy is \
         the mean over layers of the entropy of the tokens-per-expert distribution (its maximum, \
         every expert equally loaded, in brackets). `plots/routing_<engine>.svg` draws tokens per \
         expert for each layer.\n"
    );
    for e in engines {
        let _ = writeln!(md, "### {}\n", e.engine.to_uppercase());
        let _ = writeln!(
            md,
            "| Category | Tokens | Never used | Entropy (bits) |\n|---|---|---|---|"
        );
        let mut rows: Vec<(String, RoutingCounts)> = e
            .routing
            .iter()
            .map(|r| (r.category.clone(), r.counts.clone()))
            .collect();
        rows.push(("**all**".into(), total(e)));
        for (category, c) in &rows {
            let (h, max) = c.entropy_bits();
            let _ = writeln!(
                md,
                "| {category} | {} | {:.1}% | {h:.2} (of {max:.2}) |",
                c.tokens,
                100.0 * c.unused_share()
            );
        }
        let all = total(e);
        let _ = writeln!(
            md,
            "\nTokens per expert by layer (all categories; {} experts, {} used per token):\n",
            all.experts, all.experts_used
        );
        let _ = writeln!(
            md,
            "| Layer | Min | Median | Max | Never used | Busiest experts |\n|---|---|---|---|---|---|"
        );
        for (layer, c) in all.counts.iter().enumerate() {
            let mut sorted = c.clone();
            sorted.sort_unstable();
            let mut busiest: Vec<(usize, u64)> = c.iter().copied().enumerate().collect();
            busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let top: Vec<String> = busiest.iter().take(3).map(|(i, n)| format!("#{i} ({n})")).collect();
            let _ = writeln!(
                md,
                "| {layer} | {} | {} | {} | {} | {} |",
                sorted.first().unwrap_or(&0),
                sorted.get(sorted.len() / 2).unwrap_or(&0),
                sorted.last().unwrap_or(&0),
                c.iter().filter(|&&n| n == 0).count(),
                top.join(", ")
            );
        }
        let _ = writeln!(md);
    }
}
