//! The server's monitor: the probe sees loaded engines, running generations and lifecycle
//! events (live, not queued behind the engine), `/monitor` streams snapshots, and the reload
//! policy reloads an idle model and says so. Real SmolLM2 on the GGUF engine.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use http_body_util::BodyExt;
use parallax_monitor::{MonitorEvent, Probe, ReloadPolicy, Snapshot};
use parallax_server::{router, start_monitor, HostProbe, ModelManager, ModelRef, ServerConfig, ServerState};
use serde_json::json;
use tower::ServiceExt;

fn state_of(models: ModelManager) -> Arc<ServerState> {
    ServerState::new(ServerConfig::default(), models)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_sees_the_engine_its_generation_and_its_load_event() {
    let state = state_of(ModelManager::new(gguf_loader(), vec!["gguf"], 4));
    let probe = HostProbe::new(&state.models);
    assert!(probe.engines().is_empty(), "nothing loaded yet");
    let slot = state.models.get(&ModelRef::parse(MODEL)).await.expect("load");
    let engines = probe.engines();
    assert_eq!(engines.len(), 1);
    assert_eq!(engines[0].id, format!("{MODEL}@gguf"));
    assert!(engines[0].weight_bytes > 50_000_000, "{engines:?}");
    assert_eq!(
        probe.drain_events(),
        vec![MonitorEvent::Load {
            id: format!("{MODEL}@gguf")
        }]
    );
    assert!(probe.drain_events().is_empty(), "events are drained once");

    // A long generation: the probe must see it while it runs, without waiting for it.
    let handle = slot.chat().expect("chat model");
    let mut stream = handle
        .generate(parallax_core::GenerateRequest::new(
            parallax_core::Prompt::Raw("Once upon a time".into()),
            64,
            parallax_core::SamplingParams {
                temperature: 0.0,
                ..Default::default()
            },
        ))
        .expect("queued");
    let mut seen = None;
    let mut tokens = 0;
    while let Some(ev) = stream.next().await {
        if let parallax_core::Event::Token { .. } = ev.expect("event") {
            tokens += 1;
            if tokens == 8 {
                seen = probe.generations().into_iter().next();
            }
        }
    }
    let g = seen.expect("a running generation was visible");
    assert!(g.tokens >= 7, "{g:?}");
    assert!(g.ttft_ms.is_some() && g.tokens_per_second > 0.0, "{g:?}");
    assert!(probe.generations().is_empty(), "finished generations leave the list");
    let kv = probe.engines()[0].kv_cache_bytes;
    assert!(kv > 0, "KV bytes are refreshed after the generation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_streams_snapshots_over_sse_and_is_404_when_off() {
    let off = router(state_of(ModelManager::new(gguf_loader(), vec!["gguf"], 4)));
    let (s, v) = json_of(off, get("/monitor")).await;
    assert_eq!(error_of(s, &v, StatusCode::NOT_FOUND)["code"], "monitor_off");

    let state = state_of(ModelManager::new(gguf_loader(), vec!["gguf"], 4));
    let _monitor = start_monitor(&state, Duration::from_millis(250)).expect("monitor");
    state.models.get(&ModelRef::parse(MODEL)).await.expect("load");
    let resp = router(state.clone())
        .oneshot(get("/monitor"))
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut snapshots: Vec<Snapshot> = vec![];
    while snapshots.len() < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("a snapshot within 10 s")
            .expect("stream open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let data = event.lines().find_map(|l| l.strip_prefix("data: ")).expect("data line");
            snapshots.push(serde_json::from_str(data).expect("snapshot JSON"));
        }
    }
    let last = snapshots.last().expect("snapshot");
    assert!(last.process.rss_bytes > 0 && last.system.total_bytes > 0);
    assert_eq!(last.engines.len(), 1, "{last:?}");
    assert!(
        snapshots.windows(2).all(|w| w[0].at_unix_ms < w[1].at_unix_ms),
        "pushed in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reload_policy_reloads_an_idle_model_after_n_generations_and_records_it() {
    let policy = ReloadPolicy {
        after_generations: Some(2),
        rss_growth_mb: None,
    };
    let models = ModelManager::new(gguf_loader(), vec!["gguf"], 4).with_reload_policy("gguf", policy);
    let state = state_of(models);
    let probe = HostProbe::new(&state.models);
    let app = router(state.clone());
    let body = chat(json!({"max_tokens": 2}));
    for _ in 0..3 {
        let (s, v) = json_of(app.clone(), post("/v1/chat/completions", body.clone())).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let events = probe.drain_events();
    let id = format!("{MODEL}@gguf");
    assert_eq!(
        events.first(),
        Some(&MonitorEvent::Load { id: id.clone() }),
        "{events:?}"
    );
    match events.get(1) {
        Some(MonitorEvent::Reload { id: rid, reason }) => {
            assert_eq!(rid, &id);
            assert!(reason.contains("2 generations"), "{reason}");
        }
        other => panic!("expected a reload after two generations, got {other:?} in {events:?}"),
    }
    assert_eq!(events.len(), 2, "one reload in three requests: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_records_model_tokens_status_and_latency_of_each_request() {
    let state = state_of(ModelManager::new(gguf_loader(), vec!["gguf"], 4));
    let app = router(state.clone());
    let (s, v) = json_of(
        app.clone(),
        post("/v1/chat/completions", chat(json!({"max_tokens": 3}))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, _, text) = send(
        app.clone(),
        post("/v1/chat/completions", chat(json!({"max_tokens": 2, "stream": true}))),
    )
    .await;
    assert!(text.contains("[DONE]"), "{text}");
    let (s, _) = json_of(app.clone(), get("/v1/nowhere")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let log = state.request_log.recent();
    assert_eq!(log.len(), 3, "{log:?}");
    let (missing, streamed, plain) = (&log[0], &log[1], &log[2]);
    assert_eq!(
        (missing.path.as_str(), missing.status, missing.model.as_deref()),
        ("/v1/nowhere", 404, None)
    );
    for (r, completion) in [(plain, 3), (streamed, 2)] {
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.status),
            ("POST", "/v1/chat/completions", 200)
        );
        assert_eq!(r.model.as_deref(), Some(MODEL));
        assert_eq!(r.completion_tokens, Some(completion), "{r:?}");
        assert!(r.prompt_tokens.unwrap_or(0) > 5, "{r:?}");
        assert!(r.latency_ms.is_some_and(|ms| ms > 0.0), "{r:?}");
    }
    assert!(plain.id < streamed.id && streamed.id < missing.id);
}
