//! Side by side and the benchmarks panel on the real SmolLM2, without a window: a fair
//! comparison of GGUF and MLX streams both columns with live figures and a summary, and is
//! saved to the history; a quick benchmark runs in fresh worker processes (the `parallax`
//! binary stands in for the app's), reports progress, and lands in the history with its
//! table; a cancelled one is kept as cancelled; bad requests get typed errors.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parallax_desktop::{App, BenchEvent, BenchRequest, Choice, CompareEvent, CompareRequest};

const MODEL: &str = "smollm2-135m-instruct-q4_1";

fn app() -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::open(dir.path()).expect("open");
    (dir, Arc::new(app))
}

fn choice(engine: &str, model: &str) -> Choice {
    Choice {
        engine: engine.into(),
        model: model.into(),
    }
}

fn compare_request(same_weights: bool, model: &str) -> CompareRequest {
    let settings = parallax_store::ChatSettings {
        temperature: 0.0,
        max_tokens: 12,
        seed: Some(7),
        ..Default::default()
    };
    CompareRequest {
        prompt: "What is the capital of France?".into(),
        columns: vec![choice("gguf", model), choice("mlx", model)],
        concurrent: false,
        same_weights,
        settings,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fair_comparison_streams_both_columns_with_live_figures_and_is_saved() {
    let (_dir, app) = app();
    let events = Arc::new(Mutex::new(vec![]));
    let e = events.clone();
    let sink = move |ev: CompareEvent| e.lock().expect("events").push(ev);
    let result = app
        .compare(&compare_request(true, MODEL), &sink)
        .await
        .expect("compare");

    assert_eq!(result.mode, "fair (sequential)");
    assert_eq!(result.seed, 7);
    for (i, col) in result.columns.iter().enumerate() {
        let stats = col.stats.as_ref().unwrap_or_else(|| panic!("column {i}: {col:?}"));
        assert!(stats.completion_tokens > 0 && !col.text.is_empty(), "{col:?}");
        assert!(
            col.peak_engine_memory_bytes > 50_000_000,
            "the engine holds its weights: {col:?}"
        );
        assert!(col.load_ms.is_some(), "this comparison loaded the model");
    }
    assert!(result.summary.contains("faster decode"), "{}", result.summary);
    let events = events.lock().expect("events").clone();
    // Sequential: every event of the left column comes before the right column starts.
    let first_right = events
        .iter()
        .position(|e| matches!(e, CompareEvent::Started { column: 1 }))
        .expect("right started");
    let last_left = events
        .iter()
        .rposition(|e| matches!(e, CompareEvent::Finished { column: 0, .. }))
        .expect("left finished");
    assert!(last_left < first_right, "fair mode runs one column after the other");
    for column in [0, 1] {
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                CompareEvent::Token { column: c, text } if *c == column => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, result.columns[column].text, "streamed = final text");
        assert!(
            events.iter().any(
                |e| matches!(e, CompareEvent::Tick { column: c, live } if *c == column && live.process_rss_bytes > 0)
            ),
            "column {column} reported live figures"
        );
    }

    let run = app.save_comparison().expect("save");
    assert_eq!(run.suite, "side-by-side");
    assert_eq!(run.summary, result.summary);
    let report = app.bench_report(run.id).expect("report");
    assert!(
        report.markdown.contains("Side-by-side comparison"),
        "{}",
        report.markdown
    );
    assert!(report.markdown.contains(&result.summary));

    // A K-quant model cannot run as the same weights on both engines; bad requests are typed.
    let err = app
        .compare(&compare_request(true, "gemma3-270m-q4_k_m"), &|_| {})
        .await
        .expect_err("K-quant");
    assert_eq!(err.code, "not_same_weights", "{err:?}");
    let mut empty = compare_request(false, MODEL);
    empty.prompt = " ".into();
    assert_eq!(
        app.compare(&empty, &|_| {}).await.expect_err("empty").code,
        "empty_message"
    );
}

fn quick(engines: &[&str]) -> BenchRequest {
    BenchRequest {
        suite: "quick".into(),
        engines: engines.iter().map(|e| (*e).to_owned()).collect(),
        model: MODEL.into(),
        reps: 1,
        concurrent: false,
        same_weights: false,
        reload_every: None,
    }
}

fn until_finished(rx: &mpsc::Receiver<BenchEvent>, progress: &mut Vec<(usize, usize)>) -> BenchEvent {
    loop {
        match rx.recv_timeout(Duration::from_secs(900)).expect("bench event") {
            BenchEvent::Progress { done, total, .. } => progress.push((done, total)),
            BenchEvent::Started { .. } => {}
            end => return end,
        }
    }
}

#[test]
fn a_quick_benchmark_runs_in_workers_lands_in_the_history_and_a_cancelled_one_is_kept() {
    let (_dir, app) = app();
    app.set_bench_worker(common::parallax_exe());
    let (tx, rx) = mpsc::channel();
    let emit = {
        let tx = Mutex::new(tx);
        Arc::new(move |ev: BenchEvent| {
            let _ = tx.lock().expect("tx").send(ev);
        })
    };
    app.start_bench(&quick(&["gguf"]), emit.clone()).expect("start");
    assert_eq!(
        app.start_bench(&quick(&["gguf"]), emit.clone())
            .expect_err("one at a time")
            .code,
        "benchmark_in_progress"
    );
    let mut progress = vec![];
    let BenchEvent::Finished { run } = until_finished(&rx, &mut progress) else {
        panic!("the run failed")
    };
    assert_eq!(
        (run.suite.as_str(), run.status.as_str()),
        ("quick", "complete"),
        "{run:?}"
    );
    assert!(
        !progress.is_empty() && progress.iter().all(|(d, t)| d <= t),
        "{progress:?}"
    );
    assert_eq!(progress.last().map(|(d, t)| d == t), Some(true));
    let report = app.bench_report(run.id).expect("report");
    assert_eq!(report.engines.len(), 1);
    let row = &report.engines[0];
    assert!(
        row.decode_tps.is_some_and(|t| t > 0.0) && row.load_ms.is_some(),
        "{row:?}"
    );
    assert!(row.incomplete.is_none());
    assert!(run.fingerprint.contains("parallax_version"), "{}", run.fingerprint);
    assert!(report.markdown.contains("gguf"));
    let dest = _dir.path().join("exported.csv");
    app.export_bench(run.id, "csv", &dest.to_string_lossy())
        .expect("export");
    assert!(std::fs::read_to_string(&dest).expect("csv").lines().count() > 1);

    // Cancelled right after its first job: kept, marked cancelled.
    app.start_bench(&quick(&["gguf"]), emit).expect("start again");
    loop {
        match rx.recv_timeout(Duration::from_secs(600)).expect("event") {
            BenchEvent::Progress { .. } => break,
            BenchEvent::Started { .. } => {}
            other => panic!("ended before any progress: {other:?}"),
        }
    }
    assert!(app.cancel_bench());
    let BenchEvent::Finished { run: cancelled } = until_finished(&rx, &mut vec![]) else {
        panic!("no end")
    };
    assert_eq!(cancelled.status, "cancelled");
    let history = app.bench_runs().expect("history");
    assert_eq!(
        history.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![cancelled.id, run.id]
    );

    let mut bad = quick(&["gguf"]);
    bad.suite = "nightly".into();
    assert_eq!(
        app.start_bench(&bad, Arc::new(|_| {})).expect_err("bad suite").code,
        "invalid_benchmark"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_gguf_is_listed_loads_by_path_and_is_removed_without_touching_the_file() {
    let (dir, app) = app();
    let catalog = parallax_core::catalog::resolve(MODEL).expect("fetched model");
    // A copy elsewhere, as a user's own download would be.
    let path = dir.path().join("my-smollm.gguf");
    std::fs::copy(&catalog.path, &path).expect("copy");
    let entry = app.import_model(&path.to_string_lossy()).expect("import");
    assert_eq!(entry.id, "my-smollm (imported)");
    assert_eq!(
        app.import_model(&path.to_string_lossy()).expect_err("twice").code,
        "already_imported"
    );
    let options = app.model_options(Some(2048)).expect("options");
    let row = options.iter().find(|m| m.imported).expect("imported row");
    assert_eq!((row.format.as_str(), row.quantization.as_str()), ("gguf", "Q4_1"));
    assert!(row.fetched && row.fit.kv_cache_bytes > 0, "{row:?}");
    app.preload(&choice("gguf", &entry.id))
        .await
        .expect("loads by its path");
    assert!(
        app.settings().imported_models.contains(&entry.file),
        "kept in the settings"
    );

    let not_a_model = dir.path().join("notes.txt");
    std::fs::write(&not_a_model, "hello").expect("write");
    assert_eq!(
        app.import_model(&not_a_model.to_string_lossy())
            .expect_err("not GGUF")
            .code,
        "invalid_model"
    );
    app.remove_model(&entry.file).expect("remove");
    assert!(app.model_options(None).expect("options").iter().all(|m| !m.imported));
    assert!(path.is_file(), "removing never deletes the user's file");
    assert_eq!(
        app.remove_model(&catalog.path.to_string_lossy())
            .expect_err("catalog")
            .code,
        "not_imported"
    );
}

#[test]
fn the_models_in_a_model_folder_join_the_picker_and_a_missing_folder_is_refused() {
    let (dir, app) = app();
    let folder = dir.path().join("my-models");
    std::fs::create_dir_all(&folder).expect("folder");
    let source = parallax_core::catalog::resolve(MODEL).expect("fetched model").path;
    std::fs::copy(&source, folder.join("tiny.gguf")).expect("copy");
    std::fs::write(folder.join("readme.txt"), "not a model").expect("write");
    let mut settings = app.settings();
    settings.model_folders = vec![folder.to_string_lossy().into_owned()];
    app.set_settings(settings.clone()).expect("settings");
    let found: Vec<_> = app
        .model_options(None)
        .expect("options")
        .into_iter()
        .filter(|m| m.id.ends_with("(folder)"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].id.as_str(), found[0].quantization.as_str(), found[0].imported),
        ("tiny (folder)", "Q4_1", false)
    );

    settings
        .model_folders
        .push(dir.path().join("nowhere").to_string_lossy().into_owned());
    assert_eq!(app.set_settings(settings).expect_err("missing").code, "invalid_setting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_can_be_switched_off_and_on_and_the_choice_is_remembered() {
    let (_dir, app) = app();
    let mut settings = app.settings();
    settings.endpoint_port = 0;
    app.set_settings(settings).expect("settings");
    assert!(app.start_endpoint().await.running);
    let off = app.set_endpoint_running(false).await.expect("off");
    assert!(!off.running && off.url.is_none(), "{off:?}");
    assert!(off.error.as_deref().is_some_and(|e| e.contains("off")), "{off:?}");
    assert!(!app.settings().endpoint_enabled, "remembered for the next launch");
    assert!(
        !app.start_endpoint().await.running,
        "a launch with it off leaves it off"
    );
    let on = app.set_endpoint_running(true).await.expect("on");
    assert!(on.running && on.error.is_none(), "{on:?}");
    app.stop_endpoint().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_dropped_into_a_folder_after_saving_the_settings_is_listed_and_loads() {
    let (dir, app) = app();
    let folder = dir.path().join("later");
    std::fs::create_dir_all(&folder).expect("folder");
    let mut settings = app.settings();
    settings.model_folders = vec![folder.to_string_lossy().into_owned()];
    app.set_settings(settings).expect("settings");
    let source = parallax_core::catalog::resolve(MODEL).expect("fetched model").path;
    std::fs::copy(&source, folder.join("late.gguf")).expect("copy");
    let listed = app.model_options(None).expect("options");
    assert!(
        listed.iter().any(|m| m.id == "late (folder)"),
        "listed once it is there"
    );
    app.preload(&choice("gguf", "late (folder)"))
        .await
        .expect("what the picker lists, the manager loads");
}
