//! Side by side: one prompt to two engine/model columns, streamed into both. Fair mode runs
//! them one after the other with the same seed and settings; concurrent mode runs both at once
//! (they share the machine, and the result says so). Four times a second each running column
//! reports its tokens, TTFT, tok/s (generated / (now − TTFT), as the suite defines it) and
//! memory. The last comparison can be saved to the benchmark history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parallax_core::{ChatMessage, Event, GenerateRequest};
use parallax_store::{ChatSettings, MessageStats};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::chat::stats_of;
use crate::error::{AppError, Result};
use crate::import;
use crate::{App, Choice};

/// How often a running column reports (4 Hz: smooth enough for a chart, cheap to read).
const TICK: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq, Deserialize, TS)]
pub struct CompareRequest {
    pub prompt: String,
    /// Exactly two: the left and the right column.
    pub columns: Vec<Choice>,
    /// Both at once instead of one after the other.
    pub concurrent: bool,
    /// Both columns run the same GGUF file, which must be Q4_0, Q4_1 or Q8_0.
    pub same_weights: bool,
    /// System prompt, sampling and answer length, the same for both.
    pub settings: ChatSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CompareEvent {
    /// The column's model is loading.
    Loading {
        column: usize,
    },
    /// The column's request went to its engine.
    Started {
        column: usize,
    },
    Token {
        column: usize,
        text: String,
    },
    /// The column's live figures, four times a second while it runs.
    Tick {
        column: usize,
        live: ColumnLive,
    },
    Finished {
        column: usize,
        result: ColumnResult,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
pub struct ColumnLive {
    /// Since this column's request was sent.
    pub elapsed_ms: f64,
    pub tokens: usize,
    pub ttft_ms: Option<f64>,
    pub tokens_per_second: f64,
    /// The engine's own memory: weights plus KV cache (GGUF), or MLX's allocator.
    #[ts(type = "number")]
    pub engine_memory_bytes: u64,
    /// The whole app's resident memory (both engines live in it).
    #[ts(type = "number")]
    pub process_rss_bytes: u64,
    /// Of it, file-backed pages (mapped weights) and anonymous ones (copies, KV); Linux only.
    #[ts(type = "number | null")]
    pub process_rss_file_bytes: Option<u64>,
    #[ts(type = "number | null")]
    pub process_rss_anon_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ColumnResult {
    pub choice: Choice,
    pub text: String,
    pub stats: Option<MessageStats>,
    /// Model load time, when this comparison loaded it.
    pub load_ms: Option<f64>,
    /// The most the engine held during the run (weights + KV, or MLX's allocator peak).
    #[ts(type = "number")]
    pub peak_engine_memory_bytes: u64,
    #[ts(type = "number")]
    pub peak_process_rss_bytes: u64,
    pub stopped: bool,
    pub error: Option<AppError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct CompareResult {
    /// "fair (sequential)" or "concurrent".
    pub mode: String,
    pub same_weights: bool,
    #[ts(type = "number")]
    pub seed: u64,
    pub prompt: String,
    pub columns: Vec<ColumnResult>,
    /// e.g. "MLX 1.8× faster decode, 12% less peak memory".
    pub summary: String,
}

impl ColumnResult {
    fn stopped(choice: &Choice) -> Self {
        ColumnResult {
            choice: choice.clone(),
            text: String::new(),
            stats: None,
            load_ms: None,
            peak_engine_memory_bytes: 0,
            peak_process_rss_bytes: 0,
            stopped: true,
            error: None,
        }
    }
}

/// The engine's own memory now: MLX reports its allocator, GGUF its weights and KV cache.
fn engine_memory(m: &parallax_core::MemoryReport) -> u64 {
    m.allocator_active_bytes.unwrap_or(m.weight_bytes + m.kv_cache_bytes)
}

fn label(c: &Choice) -> String {
    c.engine.to_uppercase()
}

/// One sentence comparing two finished columns: decode speed, TTFT and peak engine memory.
pub fn summary(a: &ColumnResult, b: &ColumnResult) -> String {
    let (Some(sa), Some(sb)) = (&a.stats, &b.stats) else {
        return "No comparison: a column did not finish.".into();
    };
    let (na, nb) = (label(&a.choice), label(&b.choice));
    // Two models: name them too (the engines alone would not say which ran what).
    let (na, nb) = if na == nb || a.choice.model != b.choice.model {
        (
            format!("{na} ({})", a.choice.model),
            format!("{nb} ({})", b.choice.model),
        )
    } else {
        (na, nb)
    };
    let mut parts = vec![];
    if sa.decode_tps > 0.0 && sb.decode_tps > 0.0 {
        let (fast, ratio) = if sa.decode_tps >= sb.decode_tps {
            (&na, sa.decode_tps / sb.decode_tps)
        } else {
            (&nb, sb.decode_tps / sa.decode_tps)
        };
        parts.push(format!("{fast} {ratio:.1}× faster decode"));
    }
    if sa.ttft_ms > 0.0 && sb.ttft_ms > 0.0 {
        let (first, ratio) = if sa.ttft_ms <= sb.ttft_ms {
            (&na, sb.ttft_ms / sa.ttft_ms)
        } else {
            (&nb, sa.ttft_ms / sb.ttft_ms)
        };
        parts.push(format!("{first} {ratio:.1}× quicker first token"));
    }
    let (ma, mb) = (a.peak_engine_memory_bytes as f64, b.peak_engine_memory_bytes as f64);
    if ma > 0.0 && mb > 0.0 {
        let (lean, saved) = if ma <= mb {
            (&na, 1.0 - ma / mb)
        } else {
            (&nb, 1.0 - mb / ma)
        };
        parts.push(format!("{lean} {:.0}% less peak memory", saved * 100.0));
    }
    if parts.is_empty() {
        "Too few tokens to compare.".into()
    } else {
        parts.join(", ")
    }
}

fn request(req: &CompareRequest, seed: u64) -> Result<GenerateRequest> {
    let s = &req.settings;
    let mut messages = vec![];
    if !s.system_prompt.trim().is_empty() {
        messages.push(ChatMessage::new("system", s.system_prompt.clone()));
    }
    messages.push(ChatMessage::new("user", req.prompt.clone()));
    crate::chat::request(s, messages, seed)
}

type Sink<'a> = &'a (dyn Fn(CompareEvent) + Send + Sync);

impl App {
    /// Runs the comparison, streaming both columns into `sink`; the result is also kept for
    /// [`App::save_comparison`].
    pub async fn compare(&self, req: &CompareRequest, sink: Sink<'_>) -> Result<CompareResult> {
        if req.prompt.trim().is_empty() {
            return Err(AppError::new("empty_message", "Type a prompt to compare first."));
        }
        if req.columns.len() != 2 {
            return Err(AppError::new(
                "invalid_comparison",
                "A comparison has exactly two columns.",
            ));
        }
        if req.same_weights {
            if req.columns[0].model != req.columns[1].model {
                return Err(AppError::new(
                    "invalid_comparison",
                    "Same weights means one model for both columns: pick the same model on both sides.",
                ));
            }
            let spec = self.model_spec(&req.columns[0].model);
            parallax_bench::session::check_same_weights(&spec).map_err(|e| {
                AppError::new(
                    "not_same_weights",
                    format!("{e}: turn “same weights” off, or pick a Q4_0, Q4_1 or Q8_0 model."),
                )
            })?;
        }
        let stop = Arc::new(tokio::sync::Notify::new());
        {
            let mut running = self
                .compare_stop
                .lock()
                .map_err(|_| AppError::new("internal", "state lock"))?;
            if running.is_some() {
                return Err(AppError::new(
                    "comparison_in_progress",
                    "A comparison is already running: stop it (Esc) or wait for it to finish.",
                ));
            }
            *running = Some(stop.clone());
        }
        let seed = req.settings.seed.unwrap_or_else(parallax_core::sampling::fresh_seed);
        let gen = match request(req, seed) {
            Ok(gen) => gen,
            Err(e) => {
                if let Ok(mut running) = self.compare_stop.lock() {
                    *running = None;
                }
                return Err(e);
            }
        };
        let columns = if req.concurrent {
            let (a, b) = tokio::join!(
                self.column(0, &req.columns[0], gen.clone(), &stop, sink),
                self.column(1, &req.columns[1], gen.clone(), &stop, sink)
            );
            vec![a, b]
        } else {
            let a = self.column(0, &req.columns[0], gen.clone(), &stop, sink).await;
            let b = if a.stopped {
                // Stopped during the left column: the right one never starts.
                let b = ColumnResult::stopped(&req.columns[1]);
                sink(CompareEvent::Finished {
                    column: 1,
                    result: b.clone(),
                });
                b
            } else {
                self.column(1, &req.columns[1], gen, &stop, sink).await
            };
            vec![a, b]
        };
        if let Ok(mut running) = self.compare_stop.lock() {
            *running = None;
        }
        let result = CompareResult {
            mode: if req.concurrent {
                "concurrent"
            } else {
                "fair (sequential)"
            }
            .into(),
            same_weights: req.same_weights,
            seed,
            prompt: req.prompt.clone(),
            summary: summary(&columns[0], &columns[1]),
            columns,
        };
        if let Ok(mut last) = self.last_comparison.lock() {
            *last = Some(result.clone());
        }
        Ok(result)
    }

    /// Stops the comparison running now; false if none was.
    pub fn stop_comparison(&self) -> bool {
        match self.compare_stop.lock().ok().and_then(|s| s.clone()) {
            Some(stop) => {
                // notify_waiters reaches both columns of a concurrent run.
                stop.notify_waiters();
                true
            }
            None => false,
        }
    }

    async fn column(
        &self,
        column: usize,
        choice: &Choice,
        req: GenerateRequest,
        stop: &tokio::sync::Notify,
        sink: Sink<'_>,
    ) -> ColumnResult {
        let mut out = ColumnResult::stopped(choice);
        out.stopped = false;
        let stopped = tokio::select! {
            r = self.run_column(column, choice, req, &mut out, sink) => {
                if let Err(e) = r {
                    out.error = Some(e);
                }
                false
            }
            _ = stop.notified() => true,
        };
        out.stopped = stopped;
        sink(CompareEvent::Finished {
            column,
            result: out.clone(),
        });
        out
    }

    async fn run_column(
        &self,
        column: usize,
        choice: &Choice,
        req: GenerateRequest,
        out: &mut ColumnResult,
        sink: Sink<'_>,
    ) -> Result<()> {
        let model = choice.model_ref();
        let loading = self.server.models.remote_of(&model).is_none() && !self.is_loaded(&model).await;
        if loading {
            sink(CompareEvent::Loading { column });
        }
        let asked = Instant::now();
        let (chat, mut stream) = self.server.models.generate(&model, req).await?;
        if loading {
            out.load_ms = Some(asked.elapsed().as_secs_f64() * 1000.0);
        }
        // A remote model has no engine here to read memory from: its figures stay 0.
        let handle = chat.handle();
        sink(CompareEvent::Started { column });
        let started = Instant::now();
        let mut ticker = tokio::time::interval(TICK);
        let mut tokens = 0;
        let mut first: Option<f64> = None;
        loop {
            tokio::select! {
                ev = stream.next() => match ev {
                    Some(Ok(Event::Token { text, .. })) => {
                        tokens += 1;
                        first.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1000.0);
                        if !text.is_empty() {
                            out.text.push_str(&text);
                            sink(CompareEvent::Token { column, text });
                        }
                    }
                    Some(Ok(Event::Finished(r))) => {
                        out.stats = Some(stats_of(&r));
                        break;
                    }
                    Some(Ok(Event::Started { .. })) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(AppError::new("engine_gone", "The engine stopped unexpectedly; try again.")),
                },
                _ = ticker.tick() => {
                    let live = self.column_live(handle, started, tokens, first);
                    out.peak_engine_memory_bytes = out.peak_engine_memory_bytes.max(live.engine_memory_bytes);
                    out.peak_process_rss_bytes = out.peak_process_rss_bytes.max(live.process_rss_bytes);
                    sink(CompareEvent::Tick { column, live });
                }
            }
        }
        // The engine refreshes its memory report after each generation: take the final one.
        let last = self.column_live(handle, started, tokens, first);
        out.peak_engine_memory_bytes = out
            .peak_engine_memory_bytes
            .max(last.engine_memory_bytes)
            .max(handle.and_then(|h| h.live().memory.allocator_peak_bytes).unwrap_or(0));
        out.peak_process_rss_bytes = out.peak_process_rss_bytes.max(last.process_rss_bytes);
        Ok(())
    }

    fn column_live(
        &self,
        handle: Option<&parallax_core::EngineHandle>,
        started: Instant,
        tokens: usize,
        first: Option<f64>,
    ) -> ColumnLive {
        let now = started.elapsed().as_secs_f64() * 1000.0;
        let engine_memory_bytes = handle.map_or(0, |h| engine_memory(&h.live().memory));
        let tokens_per_second = match first {
            Some(f) => parallax_core::figures::decode_tps(tokens, f, now),
            None => 0.0,
        };
        let memory = parallax_monitor::process_memory();
        ColumnLive {
            elapsed_ms: now,
            tokens,
            ttft_ms: first,
            tokens_per_second,
            engine_memory_bytes,
            process_rss_bytes: memory.rss_bytes,
            process_rss_file_bytes: memory.rss_file_bytes,
            process_rss_anon_bytes: memory.rss_anon_bytes,
        }
    }

    /// The catalog id, or the path of an imported model, that `model` stands for.
    pub(crate) fn model_spec(&self, model: &str) -> String {
        let settings = self.settings();
        import::entries_of(&settings.imported_models)
            .into_iter()
            .chain(import::folder_entries(&settings.model_folders))
            .find(|e| e.id == model)
            .map_or_else(|| model.to_owned(), |e| e.spec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(engine: &str, decode_tps: f64, ttft_ms: f64, mem: u64) -> ColumnResult {
        ColumnResult {
            choice: Choice {
                engine: engine.into(),
                model: "m".into(),
            },
            text: String::new(),
            stats: Some(MessageStats {
                prompt_tokens: 10,
                cached_tokens: 0,
                completion_tokens: 20,
                ttft_ms,
                decode_tps,
                prompt_tps: 100.0,
                total_ms: 1000.0,
                finish_reason: "length".into(),
            }),
            load_ms: None,
            peak_engine_memory_bytes: mem,
            peak_process_rss_bytes: 0,
            stopped: false,
            error: None,
        }
    }

    #[test]
    fn the_summary_names_the_faster_and_leaner_engine_with_ratios() {
        let gguf = column("gguf", 20.0, 200.0, 100);
        let mlx = column("mlx", 36.0, 100.0, 88);
        assert_eq!(
            summary(&gguf, &mlx),
            "MLX 1.8× faster decode, MLX 2.0× quicker first token, MLX 12% less peak memory"
        );
        assert_eq!(
            summary(&mlx, &gguf),
            "MLX 1.8× faster decode, MLX 2.0× quicker first token, MLX 12% less peak memory"
        );
        let mut failed = column("gguf", 0.0, 0.0, 0);
        failed.stats = None;
        assert_eq!(summary(&failed, &mlx), "No comparison: a column did not finish.");
        let same = summary(&column("gguf", 10.0, 1.0, 0), &column("gguf", 5.0, 1.0, 0));
        assert!(same.starts_with("GGUF (m) 2.0× faster decode"), "{same}");
    }
}
