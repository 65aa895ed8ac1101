// UI tests: the real components over mocked IPC (tests/fake_backend.js) in headless Chromium,
// driven by Playwright. Builds the harness (vite --mode test), serves it, runs each test in a
// fresh page. Exit code 1 if any fails. `node tests/run.mjs WORDS` runs the tests whose name
// contains WORDS; UI_SHOTS=1 saves a screenshot of each passing test as well.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { extname, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { tests } from './ui.spec.mjs';

const ui = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync('npx', ['vite', 'build', '--mode', 'test', '--logLevel', 'error'], { cwd: ui, stdio: 'inherit' });
const root = join(ui, 'dist-test');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const server = createServer((req, res) => {
  const path = join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
  if (!path.startsWith(root) || !existsSync(path)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
  res.end(readFileSync(path));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/tests/harness.html`;
const fakeBackend = readFileSync(join(ui, 'tests', 'fake_backend.js'), 'utf8');
const shots = join(ui, '..', 'target', 'ui-screenshots');
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
let failed = 0;
const only = process.argv[2];
for (const [name, test] of Object.entries(tests)) {
  if (only && !name.includes(only)) continue;
  const context = await browser.newContext({ viewport: test.viewport ?? { width: 1100, height: 720 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.addInitScript(`window.__fakeOptions = ${JSON.stringify(test.fake ?? {})};`);
  await page.addInitScript(fakeBackend);
  try {
    await page.goto(url);
    await test(page);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    // UI_SHOTS=1: a screenshot of every passing test too, for looking at the result.
    if (process.env.UI_SHOTS) await page.screenshot({ path: join(shots, `ok_${name.replace(/\W+/g, '_')}.png`) });
    console.log(`ok: ${name}`);
  } catch (e) {
    failed++;
    const shot = join(shots, `${name.replace(/\W+/g, '_')}.png`);
    await page.screenshot({ path: shot }).catch(() => {});
    console.log(`FAIL: ${name}\n  ${String(e.stack ?? e).split('\n').slice(0, 6).join('\n  ')}\n  screenshot: ${shot}`);
  }
  await context.close();
}
await browser.close();
server.close();
const total = Object.keys(tests).filter((n) => !only || n.includes(only)).length;
console.log(`${total - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
