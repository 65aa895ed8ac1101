//! `GET /monitor`: the live monitor's snapshots as server-sent events (`?history=true` first
//! replays the kept history), for `parallax monitor --url` and other local dashboards.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use parallax_monitor::Snapshot;

use crate::{ApiError, ServerState};

#[derive(serde::Deserialize)]
pub struct MonitorQuery {
    #[serde(default)]
    history: bool,
}

fn event(snap: &Snapshot) -> Bytes {
    let json = serde_json::to_string(snap).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: snapshot\ndata: {json}\n\n"))
}

pub async fn monitor(State(state): State<Arc<ServerState>>, Query(q): Query<MonitorQuery>) -> Response {
    let Some(feed) = state.monitor.get() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "the monitor is not running",
        )
        .code("monitor_off")
        .into_response();
    };
    let mut rx = feed.subscribe();
    let first: Vec<Bytes> = if q.history {
        feed.history().iter().map(|s| event(s)).collect()
    } else {
        vec![event(&rx.borrow_and_update())]
    };
    rx.mark_unchanged();
    let backlog = futures_util::stream::iter(first.into_iter().map(Ok::<_, Infallible>));
    let live = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let snap = rx.borrow_and_update().clone();
        Some((Ok::<_, Infallible>(event(&snap)), rx))
    });
    use futures_util::StreamExt;
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(backlog.chain(live)),
    )
        .into_response()
}
