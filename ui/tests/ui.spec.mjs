// The chat's component logic, through the UI, over mocked IPC.
import assert from 'node:assert/strict';

const calls = (page, cmd) => page.evaluate((c) => window.__calls.filter((x) => x.cmd === c), cmd);

async function send(page, text) {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Enter');
}

async function lastAssistant(page) {
  return page.locator('[data-testid=message][data-role=assistant]').last();
}

export const tests = {
  async 'a remote added in the settings becomes an engine with its own models, its key never shown'(page) {
    await page.getByText('Ready · GGUF').waitFor();
    await page.getByTestId('tab-settings').click();
    await page.getByTestId('remote-name').fill('cluster');
    await page.getByTestId('remote-url').fill('http://10.0.0.5:8080');
    await page.getByTestId('remote-key').fill('sk-secret-123');
    assert.equal(await page.getByTestId('remote-key').getAttribute('type'), 'password');
    await page.getByTestId('remote-add').click();
    await page.getByTestId('remote-row').waitFor();
    const row = await page.getByTestId('remote-row').textContent();
    assert.match(row, /cluster.*http:\/\/10\.0\.0\.5:8080.*key: OS keyring/s);
    assert.match(row, /network 3 ms · 1 models/);
    assert.ok(!(await page.content()).includes('sk-secret-123') || (await page.getByTestId('remote-key').inputValue()) === '', 'the key is cleared once stored');
    const added = (await calls(page, 'add_remote'))[0].args.remote;
    assert.deepEqual(added, { name: 'cluster', url: 'http://10.0.0.5:8080', key: 'sk-secret-123', key_env: null, timeout_secs: null });
    // A second one by the same name: the typed error shows.
    await page.getByTestId('remote-name').fill('cluster');
    await page.getByTestId('remote-url').fill('http://x');
    await page.getByTestId('remote-add').click();
    await page.getByText('a remote named `cluster` exists').waitFor();
    // The engine switch has it; choosing it shows only its models, and back.
    await page.getByTestId('new-chat').click();
    await page.getByTestId('engine-cluster').click();
    const options = await page.getByTestId('model-picker').locator('option').allTextContents();
    assert.equal(options.length, 1);
    assert.match(options[0], /big-model@gguf/);
    const last = (await calls(page, 'preload_model')).at(-1).args.choice;
    assert.deepEqual(last, { engine: 'cluster', model: 'big-model@gguf' });
    // The monitor lists it with its latency and what its server publishes, memory not measured.
    await page.getByTestId('tab-monitor').click();
    await page.getByTestId('remote-monitor').waitFor();
    const mon = await page.getByTestId('remote-monitor').textContent();
    assert.match(mon, /cluster.*3 ms.*remote: not measured.*predicted_tokens_seconds 71\.1 \(llama-server \/metrics\)/s);
    await page.getByTestId('new-chat').click();
    await page.getByTestId('engine-gguf').click();
    assert.equal((await page.getByTestId('model-picker').locator('option').allTextContents()).length, 3);
    // Side by side: a column on the remote runs its model.
    await page.getByTestId('tab-compare').click();
    await page.getByTestId('compare-1-engine-cluster').click();
    assert.deepEqual(await page.getByTestId('compare-1-model').locator('option').allTextContents(), ['big-model@gguf on cluster']);
    await page.getByTestId('compare-prompt').fill('Hi');
    await page.getByTestId('compare-run').click();
    await page.getByTestId('compare-summary').waitFor();
    const cols = (await calls(page, 'compare')).at(-1).args.request.columns;
    assert.deepEqual(cols[1], { engine: 'cluster', model: 'big-model@gguf' });
    // The benchmark: a remote model is an engine of the run, as <model>@<remote>.
    await page.getByTestId('tab-bench').click();
    await page.getByTestId('bench-engine-mlx').uncheck();
    await page.getByTestId('bench-remote-big-model@gguf@cluster').check();
    await page.getByTestId('bench-run').click();
    await page.getByTestId('bench-results').waitFor();
    assert.deepEqual((await calls(page, 'start_bench')).at(-1).args.request.engines.toSorted(), ['big-model@gguf@cluster', 'gguf']);
    // Removed: the engine goes.
    await page.getByTestId('tab-settings').click();
    await page.getByTestId('remote-remove-cluster').click();
    await page.getByText('None yet.').waitFor();
    await page.getByTestId('new-chat').click();
    assert.equal(await page.getByTestId('engine-cluster').count(), 0);
  },

  async 'on launch the engines and catalog show, and the default model loads in the background'(page) {
    await page.getByTestId('engine-gguf').waitFor();
    assert.equal(await page.getByTestId('engine-gguf').getAttribute('aria-pressed'), 'true');
    const options = await page.getByTestId('model-picker').locator('option').allTextContents();
    assert.equal(options.length, 3);
    assert.match(options[0], /Q4_1 · 98\.4 MB/);
    assert.match(options[1], /may not fit/);
    // Grouped by source; a model found in LM Studio that no engine can run is listed, greyed, with the reason.
    const groups = await page.getByTestId('model-picker').locator('optgroup').evaluateAll((gs) => gs.map((g) => g.label));
    assert.deepEqual(groups, ['Catalog', 'LM Studio']);
    const found = page.getByTestId('model-picker').locator('optgroup[label="LM Studio"] option');
    assert.equal(await found.isDisabled(), true);
    assert.match(await found.textContent(), /GGUF cannot run it: part 2 of 2 is missing/);
    await page.waitForFunction(() =>
      document.querySelector('[data-testid=model-state]')?.textContent?.includes('Loading smollm2-135m-instruct-q4_1 on GGUF…'));
    await page.getByText('Ready · GGUF').waitFor();
    assert.deepEqual((await calls(page, 'preload_model'))[0].args.choice, { engine: 'gguf', model: 'smollm2-135m-instruct-q4_1' });
  },

  async 'enter sends, the reply streams with stats, and the chat is named after the first message'(page) {
    await page.getByText('Ready · GGUF').waitFor();
    await page.getByTestId('composer').fill('line one');
    await page.getByTestId('composer').press('Shift+Enter');
    await page.getByTestId('composer').pressSequentially('line two');
    assert.equal(await page.getByTestId('composer').inputValue(), 'line one\nline two', 'Shift+Enter is a newline');
    await page.getByTestId('composer').press('Enter');
    assert.equal(await page.getByTestId('composer').inputValue(), '', 'Enter sent it');
    await page.getByTestId('stop').waitFor();
    const reply = await lastAssistant(page);
    await reply.getByTestId('stats').waitFor();
    assert.match(await reply.getByTestId('stats').textContent(), /21 → 9 tokens · TTFT 84 ms · 23\.4 tok\/s · stop/);
    assert.match(await reply.locator('.who').textContent(), /GGUF · smollm2/);
    const sent = (await calls(page, 'send_message'))[0].args;
    assert.equal(sent.content, 'line one\nline two');
    await page.getByTestId('conversation').filter({ hasText: 'line one' }).waitFor();
    await send(page, 'and again');
    const second = page.locator('[data-testid=message][data-role=assistant]').nth(1);
    await second.getByTestId('stats').waitFor();
    assert.match(await second.getByTestId('stats').textContent(), /21 tokens \(15 cached\) → 9 tokens/,
      'a later turn says how much of its prompt came from the cache');
  },

  async 'markdown is rendered and sanitised, code is highlighted and copyable'(page) {
    await page.getByText('Ready · GGUF').waitFor();
    await send(page, 'show code');
    const reply = await lastAssistant(page);
    await reply.getByTestId('stats').waitFor();
    await reply.locator('div.code .hljs-keyword').first().waitFor();
    assert.equal(await reply.locator('div.code button.copy').count(), 1);
    assert.equal(await reply.locator('script').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'model output cannot run script');
  },

  async 'switching to MLX mid-conversation sends the next message to MLX'(page) {
    await page.getByText('Ready · GGUF').waitFor();
    await send(page, 'first');
    await (await lastAssistant(page)).getByTestId('stats').waitFor();
    await page.getByTestId('engine-mlx').click();
    await page.getByText('Ready · MLX').waitFor();
    await send(page, 'second');
    await page.locator('[data-testid=message][data-role=assistant]').nth(1).getByTestId('stats').waitFor();
    const sends = await calls(page, 'send_message');
    assert.deepEqual(sends.map((s) => s.args.choice.engine), ['gguf', 'mlx']);
    const who = await page.locator('[data-role=assistant] .who').allTextContents();
    assert.match(who[0], /GGUF/);
    assert.match(who[1], /MLX/);
  },

  async 'escape stops a streaming reply and it is marked stopped'(page) {
    await page.evaluate(() => (window.__fake.tokenDelayMs = 400));
    await page.getByText('Ready · GGUF').waitFor();
    await send(page, 'long story');
    await page.getByTestId('stop').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('[data-role=assistant][data-status=stopped]').waitFor();
    assert.equal((await calls(page, 'stop_reply')).length, 1);
    await page.getByTestId('send').waitFor();
  },

  async 'a failed reply shows the error as a sentence, and a failed load says why'(page) {
    await page.evaluate(() => {
      window.__fake.failSend = { code: 'insufficient_memory', message: 'This model needs about 3.1 GB and 1.2 GB is free: close some apps or pick a smaller quantisation' };
      window.__fake.failPreload = { code: 'model_not_found', message: 'model file not found: /m/b.gguf' };
    });
    await page.getByTestId('model-picker').selectOption('gemma3-270m-q4_k_m');
    await page.getByText('Could not load: model file not found: /m/b.gguf').waitFor();
    await send(page, 'hello');
    await page.getByTestId('error').getByText('needs about 3.1 GB and 1.2 GB is free').waitFor();
    await page.locator('[data-role=assistant][data-status=failed]').waitFor();
  },

  async 'regenerate, edit and resend, delete and search work on the stored chat'(page) {
    await page.getByText('Ready · GGUF').waitFor();
    await send(page, 'pick a colour');
    await (await lastAssistant(page)).getByTestId('stats').waitFor();
    await page.getByTestId('regenerate').click();
    await page.getByTestId('regenerate').waitFor();
    assert.equal((await calls(page, 'regenerate')).length, 1);
    assert.equal(await page.locator('[data-testid=message]').count(), 2);
    await page.locator('[data-role=user]').getByText('Edit').click();
    await page.getByLabel('Edit message').fill('pick a fruit');
    await page.getByText('Save & resend').click();
    await page.getByTestId('regenerate').waitFor();
    assert.equal((await calls(page, 'edit_and_resend'))[0].args.content, 'pick a fruit');
    assert.equal(await page.locator('[data-role=user]').textContent().then((t) => t.includes('pick a fruit')), true);
    await page.getByRole('button', { name: 'New chat' }).click();
    await page.getByLabel('Search chats').fill('fruit');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=conversation]').length === 1);
  },

  async 'an interrupted reply from a killed app is shown as interrupted'(page) {
    await page.getByTestId('conversation').first().click();
    await page.getByTestId('interrupted').waitFor();
    assert.match(await page.locator('[data-role=assistant]').textContent(), /Once upon a/);
  },

  async 'ctrl+k focuses the model picker'(page) {
    await page.getByTestId('engine-gguf').waitFor();
    await page.keyboard.press('Control+k');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'model-picker');
  },

  async 'at 900x600 the whole chat fits without horizontal scrolling'(page) {
    await page.getByTestId('composer').waitFor();
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(fits);
    assert.ok(await page.getByTestId('send').isVisible());
    assert.ok(await page.getByTestId('model-picker').isVisible());
  },
};

// Per-test options (the runner reads `viewport` and `fake` off the function).
tests['an interrupted reply from a killed app is shown as interrupted'].fake = {
  conversations: [{
    id: 7, title: 'Story', created_ms: 1, updated_ms: 2,
    settings: { system_prompt: '', temperature: 0.7, top_p: 0.95, top_k: 40, max_tokens: 512, seed: null },
    messages: [
      { id: 1, conversation_id: 7, role: 'user', content: 'Tell me a story', status: 'complete', engine: null, model: null, stats: null, created_ms: 1 },
      { id: 2, conversation_id: 7, role: 'assistant', content: 'Once upon a', status: 'interrupted', engine: 'gguf', model: 'smollm2-135m-instruct-q4_1', stats: null, created_ms: 2 },
    ],
  }],
};
tests['at 900x600 the whole chat fits without horizontal scrolling'].viewport = { width: 900, height: 600 };
tests['on launch the engines and catalog show, and the default model loads in the background'].fake = { preloadMs: 1500 };

tests['the endpoint panel shows the URL and snippets for the selected model'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-endpoint').click();
  assert.equal(await page.getByTestId('endpoint-url').textContent(), 'http://127.0.0.1:11480/v1');
  assert.equal(await page.getByTestId('endpoint-status').textContent(), 'Running');
  const curl = await page.getByTestId('snippet-curl').textContent();
  assert.match(curl, /curl http:\/\/127\.0\.0\.1:11480\/v1\/chat\/completions/);
  assert.match(curl, /"model": "smollm2-135m-instruct-q4_1@gguf"/);
  assert.match(await page.getByTestId('snippet-python').textContent(), /base_url="http:\/\/127\.0\.0\.1:11480\/v1"/);
  await page.getByTestId('endpoint-toggle').click();
  await page.getByTestId('endpoint-status').getByText('Not running — The endpoint is off').waitFor();
  assert.deepEqual((await calls(page, 'set_endpoint_running'))[0].args, { on: false });
  await page.getByTestId('endpoint-toggle').click();
  await page.getByTestId('endpoint-status').getByText('Running').waitFor();
  await page.getByTestId('new-chat').click();
  await page.getByTestId('composer').waitFor();
};

tests['side by side streams both columns with live figures, then the summary, and saves it'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-compare').click();
  assert.equal(await page.getByTestId('compare-1-engine-mlx').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.getByTestId('same-weights').isEnabled(), true, 'Q4_1 can run as the same weights');
  await page.getByTestId('same-weights').check();
  await page.getByTestId('compare-prompt').fill('Why is the sky blue?');
  await page.getByTestId('compare-run').click();
  await page.getByTestId('compare-summary').waitFor();
  const req = (await calls(page, 'compare'))[0].args.request;
  assert.equal(req.concurrent, false, 'fair mode by default');
  assert.equal(req.same_weights, true);
  assert.deepEqual(req.columns.map((c) => c.engine), ['gguf', 'mlx']);
  assert.equal(req.settings.max_tokens, 96);
  for (const i of [0, 1]) {
    assert.match(await page.getByTestId(`compare-column-${i}`).textContent(), /Here is code/);
    assert.match(await page.getByTestId(`compare-stats-${i}`).textContent(), /4 tokens · TTFT \d+ ms · \d+\.\d tok\/s · peak 1\d\d\.\d MB/);
  }
  assert.match(await page.getByTestId('compare-summary').textContent(), /MLX 1\.5× faster decode.*fair \(sequential\) · same weights · seed 42/);
  assert.equal(await page.locator('[data-testid=compare-chart-tps] canvas').count(), 1, 'the live chart is drawn');
  await page.getByTestId('compare-save').click();
  await page.getByTestId('compare-saved').waitFor();
  assert.equal((await calls(page, 'save_comparison')).length, 1);
};

tests['side by side in concurrent mode is labelled, and a K-quant model cannot claim same weights'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-compare').click();
  await page.getByTestId('compare-0-model').selectOption('gemma3-270m-q4_k_m');
  assert.equal(await page.getByTestId('same-weights').isEnabled(), false);
  await page.getByTestId('mode-concurrent').click();
  await page.getByText('Concurrent: both engines share the CPU').waitFor();
  await page.getByTestId('compare-run').click();
  await page.getByTestId('compare-summary').getByText('concurrent').waitFor();
  const req = (await calls(page, 'compare'))[0].args.request;
  assert.equal(req.concurrent, true);
  assert.deepEqual(req.columns.map((c) => c.model), ['gemma3-270m-q4_k_m', 'smollm2-135m-instruct-q4_1']);
};

tests['the quick benchmark shows progress, then the results table, history and sanitised plots'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-bench').click();
  await page.getByTestId('bench-run').click();
  await page.getByTestId('bench-cancel').waitFor();
  await page.getByTestId('bench-progress').getByText(/\d\/3 jobs/).first().waitFor();
  await page.getByTestId('bench-results').waitFor();
  const rows = await page.getByTestId('bench-row').allTextContents();
  assert.equal(rows.length, 2);
  assert.match(rows[0], /GGUF.*41\.3/);
  assert.match(rows[1], /MLX.*18\.2/);
  assert.match(await page.getByTestId('bench-history').textContent(), /quick.*gguf 40\.0 tok\/s/);
  assert.match(await page.getByTestId('bench-report').textContent(), /Test CPU · 2 cores/);
  assert.equal(await page.locator('.plots svg').count(), 1);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a plot cannot run script');
  const req = (await calls(page, 'start_bench'))[0].args.request;
  assert.deepEqual({ suite: req.suite, engines: req.engines, model: req.model }, { suite: 'quick', engines: ['gguf', 'mlx'], model: 'smollm2-135m-instruct-q4_1' });
};

tests['cancelling a benchmark keeps it in the history as cancelled'] = async (page) => {
  await page.evaluate(() => (window.__fake.benchJobMs = 400));
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-bench').click();
  await page.getByTestId('bench-engine-mlx').uncheck();
  await page.getByTestId('bench-run').click();
  await page.getByTestId('bench-cancel').click();
  await page.getByTestId('bench-report').getByText('cancelled').waitFor();
  assert.equal((await calls(page, 'cancel_bench')).length, 1);
  assert.deepEqual((await calls(page, 'start_bench'))[0].args.request.engines, ['gguf']);
};

tests['the monitor charts live snapshots with markers, and the reload policy is saved'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-monitor').click();
  await page.getByTestId('monitor-now').waitFor();
  await page.getByTestId('monitor-events').getByText('reload').waitFor();
  assert.equal(await page.locator('[data-testid=monitor-chart-memory] canvas').count(), 1);
  assert.match(await page.getByTestId('monitor-engine').first().textContent(), /@mlx on cpu: slots 2\/4 busy · 1 waiting/);
  await page.getByTestId('policy-mlx-every').fill('50');
  await page.getByTestId('policy-save').click();
  await page.getByText('Saved: applies from the next request.').waitFor();
  const saved = (await calls(page, 'set_settings')).at(-1).args.settings;
  assert.deepEqual(saved.reload_policies, { mlx: { after_generations: 50, rss_growth_mb: null } });
};
tests['the monitor charts live snapshots with markers, and the reload policy is saved'].fake = { monitorMs: 100 };

tests['settings are saved, and a bad value gets a sentence back'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-settings').click();
  await page.getByTestId('settings-interval').fill('100');
  await page.getByTestId('settings-save').click();
  await page.getByTestId('error').getByText('between 250 and 1000 ms').waitFor();
  await page.getByTestId('settings-interval').fill('750');
  await page.getByTestId('settings-engine').selectOption('mlx');
  await page.getByTestId('settings-save').click();
  await page.getByTestId('settings-saved').getByText('Saved').waitFor();
  assert.equal(await page.getByTestId('error').count(), 0, 'the earlier error is cleared');
  const saved = (await calls(page, 'set_settings')).at(-1).args.settings;
  assert.equal(saved.monitor_interval_ms, 750);
  assert.equal(saved.default_engine, 'mlx');
};

tests['a model is imported from the dialog, revealed, and removed again'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('model-actions').click();
  await page.getByTestId('import-file').click();
  await page.getByText('Ready · GGUF').waitFor();
  assert.equal(await page.getByTestId('model-picker').inputValue(), 'my-model (imported)');
  await page.getByTestId('model-actions').click();
  await page.getByTestId('reveal-model').click();
  assert.equal((await calls(page, 'reveal_path'))[0].args.path, '/home/me/my-model.gguf');
  await page.getByTestId('model-actions').click();
  await page.getByTestId('remove-model').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=model-picker] option').length === 3);
  assert.equal((await calls(page, 'import_model'))[0].args.folder, false);
};

tests['the endpoint panel lists the requests it served'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await page.getByTestId('tab-endpoint').click();
  await page.getByTestId('request-row').first().waitFor();
  const rows = await page.getByTestId('request-row').allTextContents();
  assert.match(rows[0], /POST.*\/v1\/chat\/completions.*smollm2@gguf.*12 → 5.*87 ms.*200/);
  assert.match(rows[1], /GET.*\/v1\/nowhere.*404/);
};
tests['the endpoint panel lists the requests it served'].fake = {
  requests: [
    { id: 2, at_unix_ms: 1, method: 'POST', path: '/v1/chat/completions', model: 'smollm2@gguf', status: 200, prompt_tokens: 12, completion_tokens: 5, latency_ms: 87 },
    { id: 1, at_unix_ms: 1, method: 'GET', path: '/v1/nowhere', model: null, status: 404, prompt_tokens: null, completion_tokens: null, latency_ms: 1 },
  ],
};

tests['a chat defines tools, shows the calls, sends the typed result, and can ask for JSON output'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await send(page, 'hello');
  await (await lastAssistant(page)).getByTestId('stats').waitFor();
  await page.getByRole('button', { name: 'Chat settings' }).click();
  await page.getByTestId('tools').fill('[{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]');
  await page.getByTestId('tool-choice').selectOption('required');
  await page.getByTestId('json-output').check();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const saved = (await calls(page, 'update_chat_settings')).at(-1).args.settings;
  assert.equal(saved.tool_choice, 'required');
  assert.equal(saved.json_output, true);
  assert.match(saved.tools, /get_weather/);
  await send(page, 'What is the weather in Paris?');
  const call = (await lastAssistant(page)).getByTestId('tool-call');
  await call.waitFor();
  assert.match(await call.textContent(), /get_weather/);
  assert.match(await call.textContent(), /"city": "Paris"/);
  await call.getByTestId('tool-result-input').fill('{"celsius": 21}');
  await call.getByTestId('tool-result-send').click();
  await page.locator('[data-testid=message][data-role=tool]').waitFor();
  const sent = (await calls(page, 'send_tool_result'))[0].args;
  assert.equal(sent.content, '{"celsius": 21}');
  assert.match(sent.callId, /^call/);
  await page.locator('[data-testid=message][data-role=assistant]').nth(2).getByTestId('stats').waitFor();
  assert.equal(await page.getByTestId('tool-result-input').count(), 0, 'an answered call takes no more results');
};

tests['a reasoning block shows collapsed above the answer'] = async (page) => {
  await page.getByText('Ready · GGUF').waitFor();
  await send(page, 'Which colour is the sky?');
  const reply = await lastAssistant(page);
  await reply.getByTestId('stats').waitFor();
  const reasoning = reply.getByTestId('reasoning');
  assert.equal(await reasoning.getAttribute('open'), null, 'collapsed');
  assert.match(await reasoning.textContent(), /The user asks about the sky/);
  assert.equal((await reply.locator('.markdown').textContent()).trim(), 'Blue.');
  await reasoning.locator('summary').click();
  assert.notEqual(await reasoning.getAttribute('open'), null, 'opens on click');
};
tests['a reasoning block shows collapsed above the answer'].fake = {
  tokens: ['<think>\n', 'The user asks about the sky.', '\n</think>\n\n', 'Blue.'],
};
