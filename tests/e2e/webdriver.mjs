// A minimal W3C WebDriver client (fetch only) for tauri-driver: sessions, elements, keys,
// scripts and screenshots. Enough for our E2E tests, no extra dependency.
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async start(base, application) {
    const res = await fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capabilities: { alwaysMatch: { 'tauri:options': { application } } } }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`session: ${JSON.stringify(body)}`);
    return new Session(base, body.value.sessionId);
  }

  async cmd(method, path, body) {
    const res = await fetch(`${this.base}/session/${this.id}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value ?? json)}`);
    return json.value;
  }

  async find(css) {
    const v = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return v[ELEMENT];
  }

  async findAll(css) {
    const v = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return v.map((e) => e[ELEMENT]);
  }

  async click(css) {
    await this.cmd('POST', `/element/${await this.find(css)}/click`, {});
  }

  async type(css, text) {
    await this.cmd('POST', `/element/${await this.find(css)}/value`, { text });
  }

  /** Runs `script` (a function body) in the page. */
  async exec(script, ...args) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  /** Polls `script` until it returns something truthy. */
  async until(what, script, timeoutMs = 120000, ...args) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.exec(script, ...args).catch(() => null);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }

  async end() {
    await fetch(`${this.base}/session/${this.id}`, { method: 'DELETE' }).catch(() => {});
  }
}
