//! The request log: the last requests the endpoint answered, for the app's endpoint panel.
//! The middleware opens a record when a request arrives and stamps the status and time to
//! response; the completion handlers add the model and token counts, and for a stream the
//! time it finished, through the [`RequestNote`] they find in the request's extensions.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parallax_core::GenerationResult;
use serde::Serialize;
use ts_rs::TS;

use crate::ServerState;

/// How many requests the log keeps.
const KEPT: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
pub struct RequestRecord {
    #[ts(type = "number")]
    pub id: u64,
    #[ts(type = "number")]
    pub at_unix_ms: u64,
    pub method: String,
    pub path: String,
    pub model: Option<String>,
    /// 0 until the response starts.
    pub status: u16,
    pub prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
    /// Arrival → response (for a stream: → its last event), in ms; `None` while running.
    pub latency_ms: Option<f64>,
}

/// A handler's handle on its request's record.
#[derive(Clone)]
pub struct RequestNote {
    record: Arc<Mutex<RequestRecord>>,
    started: Instant,
}

impl RequestNote {
    fn update(&self, f: impl FnOnce(&mut RequestRecord)) {
        if let Ok(mut r) = self.record.lock() {
            f(&mut r);
        }
    }

    pub fn model(&self, model: &str) {
        self.update(|r| r.model = Some(model.to_owned()));
    }

    /// The generation ended: its tokens, and the time it took (a stream ends after the
    /// response started, so this replaces the time to response).
    pub fn finished(&self, result: &GenerationResult) {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        self.update(|r| {
            r.prompt_tokens = Some(result.usage.prompt_tokens);
            r.completion_tokens = Some(result.usage.completion_tokens);
            r.latency_ms = Some(ms);
        });
    }

    fn responded(&self, status: u16, streaming: bool) {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        self.update(|r| {
            r.status = status;
            // A stream's latency is set when it finishes; keep it if that came first.
            if !streaming && r.latency_ms.is_none() {
                r.latency_ms = Some(ms);
            }
        });
    }
}

#[derive(Default)]
pub struct RequestLog {
    next: AtomicU64,
    recent: Mutex<VecDeque<Arc<Mutex<RequestRecord>>>>,
}

impl RequestLog {
    fn open(&self, method: &str, path: &str) -> RequestNote {
        let record = Arc::new(Mutex::new(RequestRecord {
            id: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            at_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            method: method.to_owned(),
            path: path.to_owned(),
            ..RequestRecord::default()
        }));
        if let Ok(mut v) = self.recent.lock() {
            if v.len() >= KEPT {
                v.pop_front();
            }
            v.push_back(record.clone());
        }
        RequestNote {
            record,
            started: Instant::now(),
        }
    }

    /// The kept requests, newest first.
    pub fn recent(&self) -> Vec<RequestRecord> {
        let Ok(v) = self.recent.lock() else { return vec![] };
        v.iter()
            .rev()
            .filter_map(|r| r.lock().ok().map(|r| r.clone()))
            .collect()
    }
}

/// Logs every request the router answers, guard rejections included.
pub async fn log(State(state): State<Arc<ServerState>>, mut req: Request, next: Next) -> Response {
    let note = state.request_log.open(req.method().as_str(), req.uri().path());
    req.extensions_mut().insert(note.clone());
    let resp = next.run(req).await;
    let streaming = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    note.responded(resp.status().as_u16(), streaming);
    resp
}
