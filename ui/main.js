// Minimal shell page until the Vite UI lands: asks the core for build info over IPC.
const status = document.getElementById('status');
const invoke = window.__TAURI_INTERNALS__ && window.__TAURI_INTERNALS__.invoke;
if (invoke) {
  invoke('app_info')
    .then((i) => { status.textContent = `v${i.version} · ${i.models_fetched}/${i.catalog_models} catalog models on disk`; })
    .catch((e) => { status.textContent = `Error: ${e.message || e}`; });
} else {
  status.textContent = 'Not running inside the desktop app.';
}
