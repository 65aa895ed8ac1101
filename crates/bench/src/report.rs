//! Writes a run's outputs: `results.json`, `results.csv` (one row per generation) and
//! `report.md` (the study's tables, the definitions, the fingerprint).

use std::fmt::Write as _;
use std::path::Path;

use crate::results::{EngineSummary, Results};
use crate::stats::Summary;

const MB: f64 = 1e6;

/// Writes `name` through a temporary file, so a crash never leaves half a file.
fn write_atomic(dir: &Path, name: &str, contents: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(tmp, dir.join(name))
}

pub fn write_all(dir: &Path, results: &Results) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(results).map_err(std::io::Error::other)?;
    write_atomic(dir, "results.json", &json)?;
    write_atomic(dir, "results.csv", &csv(results))?;
    let plots = crate::plots::write_plots(dir, results);
    let mut md = markdown(results);
    match plots {
        Ok(files) if !files.is_empty() => {
            md.push_str("\n## Plots\n\n");
            for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "svg")) {
                if let Some(name) = f.file_name().and_then(|n| n.to_str()) {
                    let _ = writeln!(md, "![{name}](plots/{name})");
                }
            }
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(md, "\n## Plots\n\nNot drawn: {e}");
        }
    }
    write_atomic(dir, "report.md", &md)
}

pub fn csv(results: &Results) -> String {
    let mut out = String::from(
        "engine,suite,category,prompt_index,rep,streamed,warmup,seed,max_tokens,prompt_tokens,completion_tokens,finish_reason,ttft_ms,prompt_tps,decode_tps,total_ms,kv_len,rss_bytes,peak_rss_bytes,allocator_active_bytes\n",
    );
    for e in &results.engines {
        for r in &e.runs {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{},{},{},{}",
                e.engine,
                name(&r.suite),
                r.category,
                r.prompt_index,
                r.rep,
                r.streamed,
                r.warmup,
                r.seed,
                r.max_tokens,
                r.prompt_tokens,
                r.completion_tokens,
                name(&r.finish_reason),
                r.ttft_ms,
                r.prompt_tps,
                r.decode_tps,
                r.total_ms,
                r.kv_len,
                r.memory_after.rss_bytes,
                r.memory_after.peak_rss_bytes,
                r.engine_memory_after
                    .allocator_active_bytes
                    .map_or(String::new(), |b| b.to_string()),
            );
        }
    }
    out
}

/// An enum's serde name (`quick`, `length`).
fn name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn fmt_summary(s: &Option<Summary>, digits: usize) -> String {
    match s {
        Some(s) => {
            let removed = if s.outliers_removed > 0 {
                format!(", {} outlier(s) removed", s.outliers_removed)
            } else {
                String::new()
            };
            format!("{:.d$} ± {:.d$} (n={}{removed})", s.mean, s.sd, s.n, d = digits)
        }
        None => "—".into(),
    }
}

/// MLX's advantage over GGUF, in %: positive when MLX is better.
fn advantage(gguf: Option<f64>, mlx: Option<f64>, higher_is_better: bool) -> String {
    match (gguf, mlx) {
        (Some(g), Some(m)) if g > 0.0 => {
            let pct = if higher_is_better {
                (m / g - 1.0) * 100.0
            } else {
                (g - m) / g * 100.0
            };
            format!("{pct:+.1}%")
        }
        _ => "—".into(),
    }
}

struct Row {
    metric: &'static str,
    higher_is_better: bool,
    value: fn(&EngineSummary) -> Option<f64>,
    show: fn(&EngineSummary) -> String,
}

fn rows(cold_load: bool) -> Vec<Row> {
    vec![
        Row {
            metric: "Decode tok/s",
            higher_is_better: true,
            value: |s| s.all.decode_tps.as_ref().map(|x| x.mean),
            show: |s| fmt_summary(&s.all.decode_tps, 2),
        },
        Row {
            metric: "TTFT (ms)",
            higher_is_better: false,
            value: |s| s.all.ttft_ms.as_ref().map(|x| x.mean),
            show: |s| fmt_summary(&s.all.ttft_ms, 1),
        },
        Row {
            metric: "Prompt tok/s",
            higher_is_better: true,
            value: |s| s.all.prompt_tps.as_ref().map(|x| x.mean),
            show: |s| fmt_summary(&s.all.prompt_tps, 2),
        },
        Row {
            metric: "Peak RSS (MB)",
            higher_is_better: false,
            value: |s| s.peak_rss_bytes.map(|b| b as f64 / MB),
            show: |s| {
                s.peak_rss_bytes
                    .map_or("unavailable".into(), |b| format!("{:.1}", b as f64 / MB))
            },
        },
        Row {
            metric: "Peak allocator (MB)",
            higher_is_better: false,
            value: |s| s.peak_allocator_bytes.map(|b| b as f64 / MB),
            show: |s| {
                s.peak_allocator_bytes
                    .map_or("n/a".into(), |b| format!("{:.1}", b as f64 / MB))
            },
        },
        Row {
            metric: match cold_load {
                true => "Load time (ms, fresh process, file dropped from the page cache)",
                false => "Load time (ms, fresh process, file in the page cache)",
            },
            higher_is_better: false,
            value: |s| s.load_ms,
            show: |s| s.load_ms.map_or("—".into(), |v| format!("{v:.0}")),
        },
        Row {
            metric: "Leak: RSS slope (MB/iteration)",
            higher_is_better: false,
            value: |s| s.leak.as_ref().and_then(|l| l.rss.as_ref()).map(|a| a.fit.slope),
            show: |s| match s.leak.as_ref().and_then(|l| l.rss.as_ref()) {
                Some(a) => format!(
                    "{:.4} [{:.4}, {:.4}], R² {:.2}, {}",
                    a.fit.slope,
                    a.fit.slope_ci95_low,
                    a.fit.slope_ci95_high,
                    a.fit.r2,
                    if a.plateau { "plateaus" } else { "**keeps growing**" }
                ),
                None => "—".into(),
            },
        },
        Row {
            metric: "Context stress",
            higher_is_better: true,
            value: |_| None,
            show: |s| match (s.verified_contexts.last(), s.truncated_contexts.is_empty()) {
                (_, false) => format!("**TRUNCATED at {:?}**", s.truncated_contexts),
                (Some(max), true) => format!("KV verified up to {max}"),
                (None, true) => "not run".into(),
            },
        },
    ]
}

/// Every reload `--reload-every` made, with its cost and the memory it gave back.
fn reloads(md: &mut String, r: &Results) {
    if r.engines.iter().all(|e| e.reloads.is_empty()) {
        return;
    }
    let _ = writeln!(md, "\n## Reloads\n");
    let _ = writeln!(
        md,
        "| Engine | After generations | Reason | Load (ms) | RSS before (MB) | RSS after (MB) |\n|---|---|---|---|---|---|"
    );
    for e in &r.engines {
        for x in &e.reloads {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {:.1} | {:.1} |",
                e.engine,
                x.after_generations,
                x.reason,
                x.load_ms,
                x.memory_before.rss_bytes as f64 / MB,
                x.memory_after.rss_bytes as f64 / MB
            );
        }
    }
}

/// Resident memory after load and at the end, split into file-backed and anonymous pages.
fn memory_split(md: &mut String, r: &Results) {
    let rows: Vec<String> = r
        .engines
        .iter()
        .filter_map(|e| {
            let cell = |m: Option<crate::memory::ProcessMemory>| match m {
                Some(m) => match (m.rss_file_bytes, m.rss_anon_bytes) {
                    (Some(f), Some(a)) => format!(
                        "{:.1} MB = {:.1} file-backed + {:.1} anonymous",
                        m.rss_bytes as f64 / MB,
                        f as f64 / MB,
                        a as f64 / MB
                    ),
                    _ => format!("{:.1} MB (no split on this OS)", m.rss_bytes as f64 / MB),
                },
                None => "—".into(),
            };
            e.memory_after_load.map(|_| {
                format!(
                    "| {} | {} | {} |",
                    e.engine,
                    cell(e.memory_after_load),
                    cell(e.memory_at_end)
                )
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Resident memory\n");
    let _ = writeln!(
        md,
        "File-backed pages are weights mapped from the file, which the OS can drop and read again; \
         anonymous pages are the process's own (copied weights, KV cache, scratch). An engine that \
         maps its weights shows them as file-backed, one that copies them as anonymous.\n"
    );
    let _ = writeln!(md, "| Engine | RSS after load | RSS at the end |\n|---|---|---|");
    for row in rows {
        let _ = writeln!(md, "{row}");
    }
}

pub fn markdown(r: &Results) -> String {
    let mut md = String::new();
    let f = &r.fingerprint;
    let _ = writeln!(md, "# Parallax benchmark: {}\n", r.model.id);
    let _ = writeln!(
        md,
        "Schema `{}` · mode **{}** ({}) · suites {} · temperature {} · reps {} (standard) · leak iterations {}\n",
        r.schema,
        r.mode,
        match r.mode.as_str() {
            "endpoint" => "an OpenAI-compatible server, timed from its streamed chunks",
            "concurrent" =>
                "**both engines at once**, each in its own process, competing for the machine: not the fair comparison",
            _ => "each engine in its own fresh process, never two loaded together",
        },
        r.settings.suites.iter().map(name).collect::<Vec<_>>().join(", "),
        r.settings.temperature,
        r.settings.reps,
        r.settings.iterations
    );
    let _ = writeln!(md, "## Machine and build\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| OS | {} (kernel {}) |", f.os, f.kernel);
    let _ = writeln!(md, "| CPU | {} × {} cores |", f.cpu, f.cores);
    let _ = writeln!(md, "| RAM | {:.1} GB |", f.total_ram_bytes as f64 / 1e9);
    let _ = writeln!(md, "| GPU | {} |", f.gpu);
    let _ = writeln!(md, "| Parallax | {} ({}) |", f.parallax_version, f.git_hash);
    let _ = writeln!(
        md,
        "| Engines | candle {} · mlx-rs {} on MLX {} |",
        f.candle_version, f.mlx_rs_version, f.mlx_version
    );
    let _ = writeln!(
        md,
        "| Model file | `{}` · {:.1} MB · {} · sha256 `{}` |\n",
        r.model.path,
        r.model.size_bytes as f64 / MB,
        r.model.quantization,
        r.model.sha256
    );
    if r.settings.same_weights {
        let _ = writeln!(
            md,
            "**Same weights:** every engine ran this one file as it is (`--same-weights`), so the differences below are the runtimes'.\n"
        );
    }
    crate::per_token::synthetic_note(&mut md, r);
    if let Some(n) = r.settings.reload_every {
        let _ = writeln!(
            md,
            "**Reload policy:** the model was reloaded after every {n} generations (`--reload-every`).\n"
        );
    }
    for e in r.engines.iter().filter(|e| !e.resumed_after_jobs.is_empty()) {
        let _ = writeln!(
            md,
            "**Resumed:** {} continued in a fresh process after job(s) {:?} (`--resume`); load time is the last process's.\n",
            e.engine, e.resumed_after_jobs
        );
    }
    let _ = writeln!(md, "## Weights as each engine loaded them\n");
    let _ = writeln!(
        md,
        "| Engine | Weight format | Device | Weight bytes | Notes |\n|---|---|---|---|---|"
    );
    for e in &r.engines {
        let (format, device, bytes, notes) = match &e.info {
            Some(i) => (
                i.weight_format.clone(),
                match i.device.as_str() {
                    "" => "—".to_owned(),
                    d => d.to_owned(),
                },
                format!("{:.1} MB", i.weight_bytes as f64 / MB),
                i.warnings.join("; "),
            ),
            None => ("not loaded".into(), "—".into(), "—".into(), String::new()),
        };
        let notes = match &e.endpoint {
            Some(url) => format!(
                "endpoint {url}: memory unavailable; every request streamed; tokens from {} {notes}",
                e.runs
                    .first()
                    .and_then(|r| r.token_count_source.clone())
                    .unwrap_or_default()
            ),
            None => notes,
        };
        let notes = match &e.incomplete {
            Some(why) => format!("**incomplete: {why}** {notes}"),
            None => notes,
        };
        let _ = writeln!(md, "| {} | {format} | {device} | {bytes} | {notes} |", e.engine);
    }
    reloads(&mut md, r);
    memory_split(&mut md, r);
    crate::per_token::roofline(&mut md, r);
    let names: Vec<&str> = r.summaries.iter().map(|s| s.engine.as_str()).collect();
    let pair = match (
        r.summaries.iter().find(|s| s.engine == "gguf"),
        r.summaries.iter().find(|s| s.engine == "mlx"),
    ) {
        (Some(g), Some(m)) => Some((g, m)),
        _ => None,
    };
    let _ = writeln!(md, "\n## Results\n");
    let mut header = String::from("| Metric |");
    for n in &names {
        let _ = write!(header, " {} |", n.to_uppercase());
    }
    if pair.is_some() {
        header.push_str(" MLX advantage (%) |");
    }
    let _ = writeln!(md, "{header}");
    let _ = writeln!(md, "|{}", "---|".repeat(names.len() + 1 + usize::from(pair.is_some())));
    for row in rows(r.settings.cold_load) {
        let mut line = format!("| {} |", row.metric);
        for s in &r.summaries {
            let _ = write!(line, " {} |", (row.show)(s));
        }
        if let Some((g, m)) = pair {
            let _ = write!(
                line,
                " {} |",
                advantage((row.value)(g), (row.value)(m), row.higher_is_better)
            );
        }
        let _ = writeln!(md, "{line}");
    }
    let categories: std::collections::BTreeSet<&String> =
        r.summaries.iter().flat_map(|s| s.per_category.keys()).collect();
    if !categories.is_empty() {
        let _ = writeln!(md, "\n### Per category (decode tok/s · TTFT ms, mean)\n");
        let mut header = String::from("| Category |");
        for n in &names {
            let _ = write!(header, " {} tok/s | {} TTFT |", n.to_uppercase(), n.to_uppercase());
        }
        let _ = writeln!(md, "{header}\n|{}", "---|".repeat(1 + 2 * names.len()));
        for c in categories {
            let mut line = format!("| {c} |");
            for s in &r.summaries {
                let m = s.per_category.get(c);
                let tps = m
                    .and_then(|m| m.decode_tps.as_ref())
                    .map_or("—".into(), |x| format!("{:.2}", x.mean));
                let ttft = m
                    .and_then(|m| m.ttft_ms.as_ref())
                    .map_or("—".into(), |x| format!("{:.0}", x.mean));
                let _ = write!(line, " {tps} | {ttft} |");
            }
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md, "\nStreamed vs not (decode tok/s):");
        for s in &r.summaries {
            let _ = writeln!(
                md,
                "- {}: streamed {}, not streamed {}",
                s.engine,
                fmt_summary(&s.streamed.decode_tps, 2),
                fmt_summary(&s.not_streamed.decode_tps, 2)
            );
        }
    }
    let contexts: Vec<_> = r
        .engines
        .iter()
        .flat_map(|e| e.context.iter().map(move |c| (e, c)))
        .collect();
    if !contexts.is_empty() || r.engines.iter().any(|e| !e.refused.is_empty()) {
        let _ = writeln!(md, "\n## Context stress\n");
        let _ = writeln!(md, "| Engine | Context | Prompt | Generated | KV length | Expected | TTFT (ms) | Decode tok/s | Peak RSS (MB) | KV cache (MB) | Status |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
        for (e, c) in contexts {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.1} | {:.1} | {} |",
                e.engine,
                c.context_length,
                c.prompt_tokens,
                c.completion_tokens,
                c.kv_len,
                c.expected_kv_len,
                c.ttft_ms,
                c.decode_tps,
                c.peak_rss_bytes as f64 / MB,
                c.kv_cache_bytes as f64 / MB,
                if c.truncated { "**TRUNCATED**" } else { "verified" }
            );
        }
        for e in &r.engines {
            for why in &e.refused {
                let _ = writeln!(md, "\n- {} refused: {why}", e.engine);
            }
        }
    }
    crate::per_token::routing(&mut md, r);
    let _ = writeln!(md, "\n## Definitions\n");
    md.push_str(
        "- **TTFT**: from the request to the first generated token (includes tokenising and the whole prefill).\n\
         - **Decode tok/s** = generated tokens / (total − TTFT). Tokens are counted from the output token ids, never from stream chunks or text.\n\
         - **Prompt tok/s** = prompt tokens / TTFT. Prefill is always cold: prompt caching is off, every generation starts from an empty KV cache.\n\
         - **Peak RSS**: the process's high-water mark (VmHWM), which includes memory the engine maps; **peak allocator**: MLX's own peak (active + cached buffers).\n\
         - **Statistics**: mean ± SD over measured runs (warm-up excluded); values beyond 2 SD of the mean are removed and counted; `results.json` has median, min/max and the 95% CI of every metric.\n\
         - **Leak**: least-squares slope of RSS over iterations (MB/iteration) with its 95% CI and R²; *plateaus* when the slope after the first fifth of the iterations is within 0.05 MB/iteration or not distinguishable from zero.\n\
         - **Context stress**: the prompt is filled to (context − generated) tokens; the KV cache must then hold prompt + every token fed back (the last sampled token is not fed). Anything else is reported as TRUNCATED.\n\
         - Every run's raw per-token timestamps are in `results.json`, so each figure can be recomputed.\n",
    );
    md
}
