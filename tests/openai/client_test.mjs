// The official `openai` npm package against a running `parallax serve`.
// Usage: node client_test.mjs BASE_URL API_KEY MODEL [MODEL ...]   (e.g. http://127.0.0.1:PORT/v1)
// Run by crates/cli/tests/openai_clients.rs; prints one line per check and `N passed, N failed`.
import http from "node:http";
import OpenAI from "openai";

const [BASE, KEY, ...MODELS] = process.argv.slice(2);
const url = new URL(BASE);
const client = new OpenAI({ baseURL: BASE, apiKey: KEY, maxRetries: 0, timeout: 600_000 });
const QUESTION = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Name three colours." },
];
const results = [];

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${typeof what === "string" ? what : JSON.stringify(what)}`);
}

async function check(name, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok    ${name}`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL  ${name}: ${e?.stack ?? e}`);
  }
}

// A request the client cannot make (malformed JSON, a foreign Host): node:http sends headers as given.
function raw(method, path, body = "", headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path,
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers } },
      (res) => {
        let data = "";
        res.on("data", (c) => (data += c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function expectError(status, fn, { code, param } = {}) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    assert(e.status === status, `status ${e.status}, want ${status}`);
    assert(code === undefined || e.code === code, `code ${e.code}, want ${code}`);
    assert(param === undefined || e.param === param, `param ${e.param}, want ${param}`);
    return;
  }
  throw new Error(`expected a ${status}`);
}

async function perModel(model) {
  const chat = (extra = {}) =>
    client.chat.completions.create({ model, messages: QUESTION, max_tokens: 8, temperature: 0, ...extra });
  const text = (r) => r.choices[0].message.content;

  await check(`${model}: chat`, async () => {
    const r = await chat();
    assert(r.choices[0].message.role === "assistant" && text(r), r);
    assert(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, r.usage);
  });
  await check(`${model}: streamed chat + include_usage`, async () => {
    const whole = text(await chat());
    const stream = await chat({ stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const streamed = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content ?? "").join("");
    assert(streamed === whole, { streamed, whole });
    const last = chunks[chunks.length - 1];
    assert(last.usage && last.usage.completion_tokens > 0 && last.choices.length === 0, last);
  });
  await check(`${model}: stop sequence`, async () => {
    const whole = text(await chat());
    const stop = whole[3];
    const cut = (await chat({ stop: [stop] })).choices[0];
    assert(cut.message.content === whole.slice(0, whole.indexOf(stop)), { whole, stop, got: cut.message.content });
    assert(cut.finish_reason === "stop", cut);
  });
  await check(`${model}: seed reproduces`, async () => {
    const sampled = () => chat({ temperature: 1.0, seed: 99 });
    assert(text(await sampled()) === text(await sampled()), "same seed, same text");
  });
  await check(`${model}: 8 concurrent streams`, async () => {
    const one = async (i) => {
      const s = await client.chat.completions.create({
        model, messages: [{ role: "user", content: `Count to ${i + 3}.` }], max_tokens: 6, temperature: 0, stream: true });
      let t = "";
      for await (const c of s) t += c.choices[0]?.delta?.content ?? "";
      return t;
    };
    const texts = await Promise.all([...Array(8).keys()].map(one));
    assert(texts.length === 8 && texts.every((t) => t.length > 0), texts);
  });
  await check(`${model}: disconnect mid-stream, then success`, async () => {
    const stream = await chat({ stream: true, max_tokens: 200 });
    let n = 0;
    for await (const _ of stream) if (++n === 2) break; // leaving the loop aborts the request
    const deadline = Date.now() + 60_000;
    for (;;) {
      const h = JSON.parse((await raw("GET", "/health")).body);
      if (h.loaded.every((m) => m.queued === 0)) break;
      assert(Date.now() < deadline, "the abandoned generation never stopped");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(text(await chat()), "a request after the disconnect");
  });
}

async function errors() {
  const model = MODELS[0];
  const ok = { model, messages: QUESTION, max_tokens: 4 };
  await check("malformed JSON -> 400", async () => {
    assert((await raw("POST", "/v1/chat/completions", "{nope")).status === 400, "400");
  });
  await check("missing messages -> 400 param", () =>
    expectError(400, () => client.chat.completions.create({ model, max_tokens: 4 }), { param: "messages" }));
  await check("wrong type -> 400 param", () =>
    expectError(400, () => client.chat.completions.create({ ...ok, temperature: "hot" }), { param: "temperature" }));
  await check("unknown model -> 404", () =>
    expectError(404, () => client.chat.completions.create({ ...ok, model: "no-such-model" }), { code: "model_not_found" }));
  await check("prompt over the context -> 400", () =>
    expectError(400, () => client.chat.completions.create({ ...ok, messages: [{ role: "user", content: "word ".repeat(9000) }] }),
      { code: "context_length_exceeded" }));
  await check("body too large -> 413", () =>
    expectError(413, () => client.chat.completions.create({ ...ok, messages: [{ role: "user", content: "x".repeat(5 << 20) }] })));
  const wrongKey = new OpenAI({ baseURL: BASE, apiKey: "wrong", maxRetries: 0 });
  await check("wrong key -> 401", () => expectError(401, () => wrongKey.models.list()));
  await check("foreign Host -> 403", async () => {
    assert((await raw("GET", "/v1/models", "", { host: "attacker.example" })).status === 403, "403");
  });
  await check("CORS: allowlisted origin echoed, foreign never", async () => {
    const foreign = await raw("GET", "/v1/models", "", { origin: "http://evil.example" });
    assert(!("access-control-allow-origin" in foreign.headers), foreign.headers);
    const local = await raw("GET", "/v1/models", "", { origin: "tauri://localhost" });
    assert(local.headers["access-control-allow-origin"] === "tauri://localhost", local.headers);
  });
  await check("embeddings", async () => {
    const r = await client.embeddings.create({ model: "all-minilm-l6-v2", input: "a red apple" });
    assert(r.data.length === 1 && r.data[0].embedding.length === 384, r.data.length);
  });
  await check("server still healthy", async () => {
    assert((await raw("GET", "/health")).status === 200, "200");
  });
}

for (const m of MODELS) await perModel(m);
await errors();
const passed = results.filter(Boolean).length;
const failed = results.length - passed;
console.log(`node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
