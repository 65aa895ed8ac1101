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
  async 'on launch the engines and catalog show, and the default model loads in the background'(page) {
    await page.getByTestId('engine-gguf').waitFor();
    assert.equal(await page.getByTestId('engine-gguf').getAttribute('aria-pressed'), 'true');
    const options = await page.getByTestId('model-picker').locator('option').allTextContents();
    assert.equal(options.length, 2);
    assert.match(options[0], /Q4_1 · 98\.4 MB/);
    assert.match(options[1], /may not fit/);
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
  await page.getByTestId('new-chat').click();
  await page.getByTestId('composer').waitFor();
};
