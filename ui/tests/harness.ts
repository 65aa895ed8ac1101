// The real App over Tauri's mocked IPC: every command goes to `window.__mockHandler`, which
// each UI test installs (tests/fake_backend.js) before the page loads.
import '../src/lib/locale';
import { mount } from 'svelte';
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import App from '../src/App.svelte';
import { tauriTransport } from '../src/lib/transport';
import '../src/styles.css';

declare global {
  interface Window {
    __mockHandler: (cmd: string, args: unknown) => unknown;
    __emit: (event: string, payload: unknown) => Promise<void>;
  }
}

mockIPC((cmd, args) => window.__mockHandler(cmd, args), { shouldMockEvents: true });
// The fake backend emits app events (monitor snapshots, benchmark progress) through this.
window.__emit = (event, payload) => emit(event, payload);
const target = document.getElementById('app');
if (target) mount(App, { target, props: { transport: tauriTransport } });
