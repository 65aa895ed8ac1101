//! The thin Tauri shell: commands take state, call the core, and return typed errors.
//! For now one window and one command; the full UI arrives with the desktop-app issue.

pub mod commands;

/// Builds the app on any runtime, so tests can use a mock one.
pub fn run_app<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![commands::app_info])
}

pub fn run() {
    let app = run_app(tauri::Builder::default()).run(tauri::generate_context!());
    if let Err(e) = app {
        eprintln!("error: the desktop app failed to start: {e}");
        std::process::exit(1);
    }
}
