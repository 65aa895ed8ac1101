//! `GET /metrics`: Prometheus text exposition. Counters and histograms are kept here; the
//! loaded models and their queues are read from the model manager when scraped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parallax_core::GenerationResult;

use crate::ServerState;

/// A cumulative histogram with fixed upper bounds.
struct Histogram {
    bounds: &'static [f64],
    /// Per bound (not cumulative), then the sum and the count.
    state: Mutex<(Vec<u64>, f64, u64)>,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            state: Mutex::new((vec![0; bounds.len()], 0.0, 0)),
        }
    }

    fn observe(&self, v: f64) {
        if let Ok(mut s) = self.state.lock() {
            if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
                s.0[i] += 1;
            }
            s.1 += v;
            s.2 += 1;
        }
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let Ok(s) = self.state.lock() else { return };
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&s.0) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", s.2);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", s.1, s.2);
    }
}

pub struct Metrics {
    /// (endpoint, status) → count.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    embedding_tokens: AtomicU64,
    ttft: Histogram,
    decode: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            prompt_tokens: 0.into(),
            completion_tokens: 0.into(),
            embedding_tokens: 0.into(),
            ttft: Histogram::new(&[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            decode: Histogram::new(&[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]),
        }
    }
}

/// Endpoints are labelled by route, never by the raw path (unbounded label values).
fn endpoint(path: &str) -> &'static str {
    match path {
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/v1/models" => "/v1/models",
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/completions" => "/v1/completions",
        "/v1/embeddings" => "/v1/embeddings",
        _ => "other",
    }
}

impl Metrics {
    pub fn count_request(&self, path: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((endpoint(path), status)).or_default() += 1;
        }
    }

    pub fn observe_generation(&self, r: &GenerationResult) {
        self.prompt_tokens
            .fetch_add(r.usage.prompt_tokens as u64, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(r.usage.completion_tokens as u64, Ordering::Relaxed);
        if r.usage.completion_tokens > 0 {
            self.ttft.observe(r.timings.ttft_ms / 1000.0);
        }
        if r.usage.completion_tokens > 1 {
            self.decode.observe(r.timings.decode_tps);
        }
    }

    pub fn observe_embedding(&self, tokens: usize) {
        self.embedding_tokens.fetch_add(tokens as u64, Ordering::Relaxed);
    }
}

/// Counts every response, guard rejections included, by endpoint and status.
pub async fn count(State(state): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    state.metrics.count_request(&path, resp.status().as_u16());
    resp
}

pub async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let m = &state.metrics;
    let mut out = String::new();
    out.push_str("# HELP parallax_requests_total HTTP requests by endpoint and status.\n# TYPE parallax_requests_total counter\n");
    if let Ok(reqs) = m.requests.lock() {
        for ((ep, status), n) in reqs.iter() {
            let _ = writeln!(
                out,
                "parallax_requests_total{{endpoint=\"{ep}\",status=\"{status}\"}} {n}"
            );
        }
    }
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    counter(
        &mut out,
        "parallax_prompt_tokens_total",
        "Prompt tokens processed by generations.",
        m.prompt_tokens.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "parallax_completion_tokens_total",
        "Tokens generated.",
        m.completion_tokens.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "parallax_embedding_tokens_total",
        "Tokens embedded.",
        m.embedding_tokens.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "parallax_model_unloads_total",
        "Models unloaded (idle TTL or memory-budget eviction).",
        state.models.unloads(),
    );
    m.ttft.render(
        &mut out,
        "parallax_ttft_seconds",
        "Time from request to first generated token.",
    );
    m.decode.render(
        &mut out,
        "parallax_decode_tokens_per_second",
        "Decode speed per generation: generated / (total - TTFT).",
    );
    let loaded = state.models.loaded().await;
    out.push_str("# HELP parallax_model_loaded Models loaded now.\n# TYPE parallax_model_loaded gauge\n");
    for s in &loaded {
        let _ = writeln!(out, "parallax_model_loaded{{model=\"{}\"}} 1", s.id);
    }
    out.push_str("# HELP parallax_queue_depth Requests running or waiting, per loaded model.\n# TYPE parallax_queue_depth gauge\n");
    for s in &loaded {
        let _ = writeln!(out, "parallax_queue_depth{{model=\"{}\"}} {}", s.id, s.queued);
    }
    out.push_str("# HELP parallax_model_memory_bytes Estimated memory of each loaded model.\n# TYPE parallax_model_memory_bytes gauge\n");
    for s in &loaded {
        let _ = writeln!(out, "parallax_model_memory_bytes{{model=\"{}\"}} {}", s.id, s.bytes);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}
