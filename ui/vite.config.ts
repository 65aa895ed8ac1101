import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The app loads ui/dist through Tauri's asset protocol: relative paths, no dev server in
// release builds. `tests/harness.html` is a second entry for the UI tests (mocked IPC).
export default defineConfig(({ mode }) => ({
  plugins: [svelte()],
  base: './',
  clearScreen: false,
  build: {
    outDir: mode === 'test' ? 'dist-test' : 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    rollupOptions: mode === 'test' ? { input: { harness: 'tests/harness.html' } } : undefined,
  },
}));
