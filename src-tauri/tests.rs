//! The shell's contracts: the registered commands, the capability's permissions and the UI's
//! transport name the same commands; the app data opens on a fresh dir.

use std::collections::BTreeSet;

use super::COMMANDS;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

fn commands() -> BTreeSet<String> {
    COMMANDS.iter().map(|c| (*c).to_owned()).collect()
}

#[test]
fn the_capability_grants_exactly_the_apps_commands_and_no_remote_origin() {
    let text = std::fs::read_to_string(root().join("src-tauri/capabilities/default.json")).expect("capability");
    let cap: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let granted: BTreeSet<String> = cap["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p.as_str())
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    assert_eq!(granted, commands());
    assert!(cap.get("remote").is_none(), "no remote origin may call the app");
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tauri.conf.json")).expect("conf")).expect("JSON");
    let csp = conf["app"]["security"]["csp"].as_str().expect("csp");
    assert!(
        !csp.contains("http://") || csp.contains("http://ipc.localhost"),
        "{csp}"
    );
    assert!(
        !csp.contains("https:") && !csp.contains('*'),
        "no remote origins: {csp}"
    );
}

#[test]
fn the_ui_transport_invokes_exactly_the_registered_commands() {
    let ts = std::fs::read_to_string(root().join("ui/src/lib/transport.ts")).expect("transport.ts");
    let mut invoked = BTreeSet::new();
    for part in ts.split("invoke").skip(1) {
        // invoke<T>('name', …) or invoke('name', …)
        let Some(start) = part.find('\'') else { continue };
        let rest = &part[start + 1..];
        if let Some(end) = rest.find('\'') {
            let name = &rest[..end];
            if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                invoked.insert(name.to_owned());
            }
        }
    }
    assert_eq!(invoked, commands());
}

#[test]
fn the_handler_registers_every_listed_command() {
    let lib = std::fs::read_to_string(root().join("src-tauri/lib.rs")).expect("lib.rs");
    let handler = lib
        .split("generate_handler![")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .expect("generate_handler list");
    let registered: BTreeSet<String> = handler
        .split(',')
        .map(|s| s.trim().trim_start_matches("commands::").to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(registered, commands());
}
