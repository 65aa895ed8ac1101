// End-to-end tests of the REAL app with the REAL SmolLM2, driven through tauri-driver and
// WebKitWebDriver (tests/e2e.sh starts Xvfb and the driver). Each test saves a screenshot
// under target/e2e-screenshots/. Usage: node tests/e2e/run.mjs APP DRIVER_URL
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { Session } from './webdriver.mjs';

const [app, driver] = process.argv.slice(2);
const shots = resolve('target/e2e-screenshots');
mkdirSync(shots, { recursive: true });
const ENTER = '\uE007';

const lastAssistant = `const m = [...document.querySelectorAll('[data-testid=message][data-role=assistant]')].pop();`;

async function waitReady(s, engine) {
  await s.until(`the model to load on ${engine}`, `return document.querySelector('[data-testid=model-state]')?.textContent.includes('Ready · ${engine}')`, 300000);
}

/** Sends `text` and waits for the reply to finish; returns {text, who, stats, status}. */
async function chat(s, text) {
  const before = await s.exec(`return document.querySelectorAll('[data-testid=message][data-role=assistant]').length`);
  await s.type('[data-testid=composer]', text + ENTER);
  return s.until('the reply', `${lastAssistant}
    const n = document.querySelectorAll('[data-testid=message][data-role=assistant]').length;
    if (n <= arguments[0] || !m || m.dataset.status === 'streaming' || !m.querySelector('[data-testid=stats]')) return null;
    return { text: m.querySelector('.body').textContent, who: m.querySelector('.who').textContent,
             stats: m.querySelector('[data-testid=stats]').textContent, status: m.dataset.status };`, 300000, before);
}

/** As `chat`, sampling the status bar while the reply streams; adds `live`: the last
 * decode rate the status bar showed (null if it never showed one). */
async function chatWatchingStatusBar(s, text) {
  const before = await s.exec(`return document.querySelectorAll('[data-testid=message][data-role=assistant]').length`);
  await s.type('[data-testid=composer]', text + ENTER);
  let live = null;
  const deadline = Date.now() + 300000;
  while (Date.now() < deadline) {
    const r = await s.exec(`${lastAssistant}
      const n = document.querySelectorAll('[data-testid=message][data-role=assistant]').length;
      const live = [...document.querySelectorAll('[data-testid=statusbar] .live')].map((e) => e.textContent).join(', ');
      const done = n > arguments[0] && m && m.dataset.status !== 'streaming' && m.querySelector('[data-testid=stats]');
      return { live, done: !!done, stats: done ? m.querySelector('[data-testid=stats]').textContent : null,
               status: done ? m.dataset.status : null };`, before);
    if (r.live) live = r.live;
    if (r.done) return { ...r, live };
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error('the reply did not finish within 300 s');
}

async function shot(s, name) {
  const path = join(shots, `${name}.png`);
  writeFileSync(path, await s.screenshot());
  console.log(`screenshot: ${path}`);
}

const tests = {
  async 'a chat message gets a streamed reply with its stats'(s) {
    await s.until('the window', `return !!document.querySelector('[data-testid=composer]')`, 60000);
    await waitReady(s, 'GGUF');
    const r = await chat(s, 'What is the capital of France?');
    assert.equal(r.status, 'complete');
    assert.ok(r.text.trim().length > 0, 'a reply');
    assert.match(r.who, /GGUF · smollm2/);
    assert.match(r.stats, /tokens · TTFT .* tok\/s/);
    await shot(s, 'chat_reply');
    // A longer reply, to read the live decode rate off the status bar (printed for the
    // record, not judged: the machines are shared).
    // The app samples at its default temperature with a fresh seed, so a reply can end after a
    // few tokens (or copy the chat's previous reply) before the status bar shows a live rate:
    // up to three tries, each in a new chat.
    let long;
    for (let attempt = 0; attempt < 3 && !long?.live; attempt++) {
      await s.click('[data-testid=new-chat]');
      await s.until('an empty chat', `return document.querySelectorAll('[data-testid=message]').length === 0`, 30000);
      long = await chatWatchingStatusBar(s, 'Count from 1 to 100, separated by commas.');
    }
    assert.equal(long.status, 'complete');
    assert.match(long.live ?? '', /@gguf: [\d.]+ tok\/s/, 'the status bar showed the live rate');
    console.log(`app decode: status bar "${long.live}"; message stats "${long.stats}"`);
  },

  async 'switching to MLX, the next reply comes from MLX'(s) {
    await s.until('the window', `return !!document.querySelector('[data-testid=engine-mlx]')`, 60000);
    await s.click('[data-testid=engine-mlx]');
    await waitReady(s, 'MLX');
    const r = await chat(s, 'Name a colour.');
    assert.equal(r.status, 'complete');
    assert.match(r.who, /MLX · smollm2/);
    await shot(s, 'mlx_reply');
  },

  async 'the endpoint panel shows a URL, and its curl snippet works as shown'(s) {
    await s.until('the window', `return !!document.querySelector('[data-testid=tab-endpoint]')`, 60000);
    await s.click('[data-testid=tab-endpoint]');
    const url = await s.until('the endpoint URL', `return document.querySelector('[data-testid=endpoint-url]')?.textContent.startsWith('http') ? document.querySelector('[data-testid=endpoint-url]').textContent : null`, 30000);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const models = execFileSync('curl', ['-sf', `${url}/models`]).toString();
    assert.match(models, /smollm2-135m-instruct-q4_1@gguf/);
    const snippet = await s.exec(`return document.querySelector('[data-testid=snippet-curl]').textContent`);
    const reply = JSON.parse(execFileSync('bash', ['-c', snippet.replace(/^curl /, 'curl -sf ')]).toString());
    assert.ok(reply.choices[0].message.content.length > 0, JSON.stringify(reply));
    const logged = await s.until('the request in the log', `return [...document.querySelectorAll('[data-testid=request-row]')].map((r) => r.textContent).find((t) => t.includes('/v1/chat/completions') && t.includes('200')) ?? null`, 30000);
    assert.match(logged, /POST.*smollm2-135m-instruct-q4_1@gguf/);
    await shot(s, 'endpoint_panel');
  },

  async 'side by side fills both columns with stats and a summary'(s) {
    await s.until('the window', `return !!document.querySelector('[data-testid=tab-compare]')`, 60000);
    await s.click('[data-testid=tab-compare]');
    await s.until('the model list', `return document.querySelector('[data-testid=compare-1-model]')?.value === 'smollm2-135m-instruct-q4_1'`, 30000);
    await s.exec(`const n = document.querySelector('.panel input.num'); n.value = '24'; n.dispatchEvent(new Event('input', { bubbles: true }));`);
    await s.click('[data-testid=compare-run]');
    const summary = await s.until('the comparison to finish', `return document.querySelector('[data-testid=compare-summary]')?.textContent ?? null`, 600000);
    assert.match(summary, /faster decode/);
    assert.match(summary, /fair \(sequential\)/);
    for (const i of [0, 1]) {
      const stats = await s.exec(`return document.querySelector('[data-testid=compare-stats-${i}]').textContent`);
      assert.match(stats, /\d+ tokens · TTFT \d+ ms · [\d.]+ tok\/s · peak/, `column ${i}: ${stats}`);
      const text = await s.exec(`return document.querySelector('[data-testid=compare-column-${i}] .out').textContent`);
      assert.ok(text.trim().length > 0, `column ${i} has the reply`);
    }
    await shot(s, 'side_by_side');
  },

  async 'the quick benchmark runs both engines in workers and shows the results table'(s) {
    await s.until('the window', `return !!document.querySelector('[data-testid=tab-bench]')`, 60000);
    await s.click('[data-testid=tab-bench]');
    await s.until('the model list', `return document.querySelector('[data-testid=bench-model]')?.value === 'smollm2-135m-instruct-q4_1'`, 30000);
    await s.click('[data-testid=bench-run]');
    await s.until('progress', `return !!document.querySelector('[data-testid=bench-progress] progress')`, 60000);
    const rows = await s.until('the results table', `const r = [...document.querySelectorAll('[data-testid=bench-row]')].map((x) => x.textContent); return r.length ? r : null`, 600000);
    assert.equal(rows.length, 2, rows.join(' | '));
    assert.match(rows[0], /^GGUF\d+[\d.]+/);
    assert.match(rows[1], /^MLX\d+[\d.]+/);
    const history = await s.exec(`return document.querySelector('[data-testid=bench-history]').textContent`);
    assert.match(history, /quick.*complete|quick.*tok\/s/);
    await shot(s, 'quick_benchmark');
  },
};

/** kill -9 the app mid-reply; relaunched, the chat and the partial reply are there. */
async function killMidReply(base) {
  let s = await Session.start(base, app);
  try {
    await s.until('the window', `return !!document.querySelector('[data-testid=composer]')`, 60000);
    await waitReady(s, 'GGUF');
    await s.click('[data-testid=new-chat]');
    await s.type('[data-testid=composer]', 'Write a long story about a lighthouse keeper and the sea.' + ENTER);
    const partial = await s.until('some streamed text', `${lastAssistant}
      const t = m?.querySelector('.body')?.textContent ?? '';
      return m?.dataset.status === 'streaming' && t.length > 40 ? t : null;`, 300000);
    // Let the periodic save (every 200 ms) catch up with what we saw.
    await new Promise((r) => setTimeout(r, 600));
    await shot(s, 'before_kill');
    execFileSync('pkill', ['-9', '-x', 'parallax-app']);
  } finally {
    await s.end();
  }
  await new Promise((r) => setTimeout(r, 1000));
  s = await Session.start(base, app);
  try {
    await s.until('the window', `return document.querySelectorAll('[data-testid=conversation]').length > 0`, 60000);
    await s.click('[data-testid=conversation]');
    const kept = await s.until('the interrupted reply', `${lastAssistant}
      return m?.dataset.status === 'interrupted' ? m.querySelector('.body').textContent : null;`, 30000);
    assert.ok(kept.trim().length > 40, `the partial reply was kept: ${kept}`);
    assert.ok(await s.exec(`return !!document.querySelector('[data-testid=interrupted]')`));
    await shot(s, 'after_kill_relaunch');
  } finally {
    await s.end();
  }
}

let failed = 0;
for (const [name, test] of Object.entries({ ...tests, 'kill -9 mid-reply keeps the chat and the partial reply, marked interrupted': null })) {
  try {
    if (test) {
      const s = await Session.start(driver, app);
      try {
        await test(s);
      } catch (e) {
        await shot(s, `FAILED_${name.replace(/\W+/g, '_')}`).catch(() => {});
        throw e;
      } finally {
        await s.end();
      }
    } else {
      await killMidReply(driver);
    }
    console.log(`ok: ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL: ${name}\n  ${String(e.stack ?? e).split('\n').slice(0, 5).join('\n  ')}`);
  }
}
const total = Object.keys(tests).length + 1;
console.log(`${total - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
