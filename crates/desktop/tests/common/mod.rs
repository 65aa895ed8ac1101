//! Shared by the app's integration tests.
#![allow(dead_code)]

use parallax_desktop::App;

/// target/debug/deps/<test> → target/debug/parallax (built with the workspace by `make build`):
/// the benchmark's worker, and a second server for the remote tests.
pub fn parallax_exe() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("parallax");
    assert!(
        bin.is_file(),
        "{} is built by `cargo build --bin parallax` (make build)",
        bin.display()
    );
    bin
}

/// Greedy replies of at most `max_tokens`, and the endpoint on a free port.
pub fn greedy(app: &App, max_tokens: usize) {
    let mut settings = app.settings();
    settings.chat_defaults.temperature = 0.0;
    settings.chat_defaults.max_tokens = max_tokens;
    settings.endpoint_port = 0;
    app.set_settings(settings).expect("settings");
}
