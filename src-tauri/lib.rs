//! The thin Tauri shell: commands take state, call `parallax-desktop`, and return typed
//! errors. On launch the window opens at once; the data store opens (fast), and the endpoint
//! and monitor start in the background. The UI asks for the default model to load, off the
//! main thread, and shows its progress.

pub mod commands;
include!("command_names.rs");

use std::sync::Arc;

use tauri::{Emitter, Manager};

/// The monitor's snapshots reach the UI as this event.
pub const MONITOR_EVENT: &str = "monitor";
/// Benchmark progress and results reach the UI as this event.
pub const BENCH_EVENT: &str = "bench";

/// Registers the commands and the app's state on any runtime, so tests can use a mock one.
pub fn run_app<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_models,
            commands::preload_model,
            commands::list_conversations,
            commands::get_conversation,
            commands::new_conversation,
            commands::rename_conversation,
            commands::delete_conversation,
            commands::update_chat_settings,
            commands::send_message,
            commands::send_tool_result,
            commands::regenerate,
            commands::edit_and_resend,
            commands::stop_reply,
            commands::delete_message,
            commands::get_settings,
            commands::set_settings,
            commands::list_remotes,
            commands::add_remote,
            commands::remove_remote,
            commands::endpoint_status,
            commands::endpoint_requests,
            commands::set_endpoint_running,
            commands::import_model,
            commands::remove_model,
            commands::reveal_path,
            commands::compare,
            commands::stop_comparison,
            commands::save_comparison,
            commands::start_bench,
            commands::cancel_bench,
            commands::bench_runs,
            commands::bench_report,
            commands::delete_bench_run,
            commands::export_bench,
            commands::open_bench_folder,
            commands::first_paint,
        ])
        .setup(|app| {
            let dir = data_dir(app.handle())?;
            let core = Arc::new(parallax_desktop::App::open(&dir).map_err(|e| e.message)?);
            app.manage(core.clone());
            start_background(app.handle().clone(), core);
            Ok(())
        })
}

/// `PARALLAX_DATA_DIR` (tests, portable installs) or the platform's app data dir.
fn data_dir<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> Result<std::path::PathBuf, String> {
    if let Some(dir) = std::env::var_os("PARALLAX_DATA_DIR") {
        return Ok(dir.into());
    }
    app.path().app_data_dir().map_err(|e| e.to_string())
}

/// The endpoint and the monitor, started after the window is up.
fn start_background<R: tauri::Runtime>(handle: tauri::AppHandle<R>, core: Arc<parallax_desktop::App>) {
    tauri::async_runtime::spawn(async move {
        let status = core.start_endpoint().await;
        if let Some(e) = &status.error {
            eprintln!("parallax: {e}");
        }
        match core.start_monitor() {
            Ok(feed) => {
                let mut rx = feed.subscribe();
                while rx.changed().await.is_ok() {
                    let snap = rx.borrow_and_update().clone();
                    if handle.emit(MONITOR_EVENT, &*snap).is_err() {
                        break;
                    }
                }
            }
            Err(e) => eprintln!("parallax: the monitor did not start: {}", e.message),
        }
    });
}

pub fn run() {
    parallax_desktop::mark_launch();
    // The benchmark starts this binary again as each engine's fresh worker process.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(parallax_desktop::BENCH_WORKER_ARG) {
        std::process::exit(parallax_desktop::bench_worker_main(&args[1..]));
    }
    let app = match run_app(tauri::Builder::default()).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: the desktop app failed to start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            // Finish in-flight API requests and release the port before the process ends.
            if let Some(core) = handle.try_state::<Arc<parallax_desktop::App>>() {
                let core = core.inner().clone();
                tauri::async_runtime::block_on(async move {
                    let _ = core.stop_endpoint().await;
                });
            }
        }
    });
}

#[cfg(test)]
mod tests;
