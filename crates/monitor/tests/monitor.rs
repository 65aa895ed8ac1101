//! The sampler pushes snapshots on its own, keeps a bounded history, sees memory grow, and
//! carries what the probe reports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use parallax_monitor::{EngineStats, Monitor, MonitorConfig, MonitorEvent, NoProbe, Probe, ReloadPolicy};

struct FakeEngines {
    events: Mutex<Vec<MonitorEvent>>,
}

impl Probe for FakeEngines {
    fn engines(&self) -> Vec<EngineStats> {
        vec![EngineStats {
            id: "m@gguf".into(),
            weight_bytes: 100,
            kv_cache_bytes: 7,
            ..Default::default()
        }]
    }
    fn queue_depth(&self) -> usize {
        3
    }
    fn drain_events(&self) -> Vec<MonitorEvent> {
        std::mem::take(&mut *self.events.lock().expect("lock"))
    }
}

fn config(ms: u64, history_ms: u64) -> MonitorConfig {
    MonitorConfig {
        interval: Duration::from_millis(ms),
        history: Duration::from_millis(history_ms),
        pid: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_receive_pushed_snapshots_and_see_memory_grow() {
    let monitor = Monitor::start(config(250, 60_000), Arc::new(NoProbe)).expect("start");
    let mut rx = monitor.subscribe();
    let first = rx.borrow_and_update().clone();
    assert!(first.process.rss_bytes > 0 && first.system.total_bytes >= first.system.available_bytes);
    // Touch 64 MB, then wait for two pushed snapshots.
    let ballast = vec![1u8; 64 << 20];
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(30), rx.changed())
            .await
            .expect("a snapshot within 30 s")
            .expect("open");
    }
    let later = rx.borrow().clone();
    assert!(later.at_unix_ms > first.at_unix_ms);
    assert!(
        later.process.rss_bytes >= first.process.rss_bytes + (60 << 20),
        "{} vs {}",
        later.process.rss_bytes,
        first.process.rss_bytes
    );
    assert!(later.process.peak_rss_bytes >= later.process.rss_bytes);
    assert!(ballast.iter().all(|&b| b == 1));
    assert!(monitor.history().len() >= 3);
}

#[test]
fn the_history_ring_is_bounded_and_probe_data_arrives() {
    let probe = Arc::new(FakeEngines {
        events: Mutex::new(vec![MonitorEvent::Load { id: "m@gguf".into() }]),
    });
    // 1 s of history at 250 ms: at most 4 snapshots kept.
    let monitor = Monitor::start(config(250, 1000), probe).expect("start");
    std::thread::sleep(Duration::from_millis(2000));
    let history = monitor.history();
    assert!(history.len() <= 4 && history.len() >= 2, "{}", history.len());
    let latest = monitor.latest();
    assert_eq!(latest.queue_depth, 3);
    assert_eq!(latest.engines[0].kv_cache_bytes, 7);
    // The load event was drained once, by the first snapshot.
    assert!(history.iter().skip(1).all(|s| s.events.is_empty()));
}

#[test]
fn intervals_outside_250ms_to_1s_are_refused() {
    assert!(Monitor::start(config(100, 1000), Arc::new(NoProbe)).is_err());
    assert!(Monitor::start(config(2000, 10_000), Arc::new(NoProbe)).is_err());
}

#[test]
fn the_reload_policy_fires_on_count_or_growth() {
    let p = ReloadPolicy {
        after_generations: Some(10),
        rss_growth_mb: Some(200),
    };
    assert!(p.check(9, 100_000_000, || 150_000_000).is_none());
    assert!(p
        .check(10, 100_000_000, || 150_000_000)
        .expect("count")
        .contains("10 generations"));
    assert!(p
        .check(1, 100_000_000, || 400_000_000)
        .expect("growth")
        .contains("300 MB"));
    assert!(ReloadPolicy::default().check(1_000_000, 0, || u64::MAX).is_none());
}
