// A scripted stand-in for the Rust core, injected before the page loads. It answers every
// command the way parallax-desktop does (same shapes as the generated bindings) and records
// the calls, so the tests can check what the UI asked for. `window.__fake` tunes it.
(() => {
  const fake = (window.__fake = Object.assign(
    {
      tokens: ['Hello', ' there', '! Here is code:\n\n```rust\nfn main() {}\n```\n', '<script>window.__pwned = 1</script>done.'],
      tokenDelayMs: 30,
      preloadMs: 150,
      failSend: null,
      failPreload: null,
      conversations: [],
    },
    window.__fakeOptions || {},
  ));
  const calls = (window.__calls = []);
  let nextId = 100;
  const now = () => Date.now();
  const stopped = new Set();
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const settings = {
    default_engine: 'gguf', default_model: 'smollm2-135m-instruct-q4_1', model_folders: [],
    endpoint_enabled: true, endpoint_port: 11480, api_key: null, monitor_interval_ms: 500,
    chat_defaults: { system_prompt: '', temperature: 0.7, top_p: 0.95, top_k: 40, max_tokens: 512, seed: null },
  };
  const fit = (size) => ({ weights_bytes: size, kv_cache_bytes: 1e8, needed_bytes: size + 1.6e8, available_bytes: 8e9, fits: true, summary: 'needs about 0.3 GB of 8.0 GB free' });
  const models = [
    { id: 'smollm2-135m-instruct-q4_1', format: 'gguf', quantization: 'Q4_1', architecture: 'llama', size_bytes: 98362432, context_length: 8192, fetched: true, path: '/m/a.gguf', fit: fit(98362432) },
    { id: 'gemma3-270m-q4_k_m', format: 'gguf', quantization: 'Q4_K_M', architecture: 'gemma3', size_bytes: 253000000, context_length: 32768, fetched: true, path: '/m/b.gguf', fit: { ...fit(253000000), fits: false, summary: 'This model needs about 3.1 GB and 1.2 GB is free: close some apps or pick a smaller quantisation' } },
  ];
  const convs = new Map(fake.conversations.map((c) => [c.id, c]));
  const summary = (c) => ({ id: c.id, title: c.title, updated_ms: c.updated_ms, messages: c.messages.length });
  const msg = (conv, role, content, extra = {}) => ({
    id: nextId++, conversation_id: conv, role, content, status: 'complete', engine: null, model: null, stats: null, created_ms: now(), ...extra,
  });
  async function reply(c, choice, ch, user) {
    const r = msg(c.id, 'assistant', '', { status: 'streaming', engine: choice.engine, model: choice.model });
    c.messages.push(r);
    ch.onmessage({ kind: 'started', user, reply: { ...r } });
    if (fake.failSend) {
      r.status = 'failed';
      r.content = fake.failSend.message;
      ch.onmessage({ kind: 'failed', reply: { ...r }, error: fake.failSend });
      return { ...r };
    }
    for (const t of fake.tokens) {
      await sleep(fake.tokenDelayMs);
      if (stopped.has(c.id)) break;
      r.content += t;
      ch.onmessage({ kind: 'token', text: t });
    }
    r.status = stopped.has(c.id) ? 'stopped' : 'complete';
    stopped.delete(c.id);
    if (r.status === 'complete') {
      r.stats = { prompt_tokens: 21, completion_tokens: 9, ttft_ms: 84, decode_tps: 23.4, prompt_tps: 250, total_ms: 470, finish_reason: 'stop' };
    }
    ch.onmessage({ kind: 'finished', reply: { ...r } });
    return { ...r };
  }
  window.__mockHandler = async (cmd, args) => {
    calls.push({ cmd, args: args && JSON.parse(JSON.stringify(args, (k, v) => (k === 'onEvent' ? undefined : v))) });
    switch (cmd) {
      case 'app_info':
        return { version: '0.1.0', data_dir: '/tmp/x', settings, engines: [
          { name: 'gguf', available: true, detail: 'candle on the CPU' },
          { name: 'mlx', available: true, detail: 'MLX on the CPU' }] };
      case 'list_models': return models;
      case 'preload_model':
        await sleep(fake.preloadMs);
        if (fake.failPreload) throw fake.failPreload;
        return null;
      case 'list_conversations': {
        const q = (args.search || '').toLowerCase();
        return [...convs.values()]
          .filter((c) => !q || c.title.toLowerCase().includes(q) || c.messages.some((m) => m.content.toLowerCase().includes(q)))
          .sort((a, b) => b.updated_ms - a.updated_ms)
          .map(summary);
      }
      case 'get_conversation': return structuredClone(convs.get(args.id));
      case 'new_conversation': {
        const c = { id: nextId++, title: args.title || 'New chat', settings: { ...settings.chat_defaults }, created_ms: now(), updated_ms: now(), messages: [] };
        convs.set(c.id, c);
        return structuredClone(c);
      }
      case 'rename_conversation': convs.get(args.id).title = args.title; return null;
      case 'delete_conversation': convs.delete(args.id); return null;
      case 'update_chat_settings': convs.get(args.id).settings = args.settings; return null;
      case 'send_message': {
        const c = convs.get(args.conversationId);
        const u = msg(c.id, 'user', args.content);
        c.messages.push(u);
        c.updated_ms = now();
        return reply(c, args.choice, args.onEvent, { ...u });
      }
      case 'regenerate': {
        const c = convs.get(args.conversationId);
        const last = c.messages.map((m) => m.role).lastIndexOf('user');
        c.messages = c.messages.slice(0, last + 1);
        return reply(c, args.choice, args.onEvent, null);
      }
      case 'edit_and_resend': {
        const c = [...convs.values()].find((x) => x.messages.some((m) => m.id === args.messageId));
        c.messages = c.messages.slice(0, c.messages.findIndex((m) => m.id === args.messageId));
        const u = msg(c.id, 'user', args.content);
        c.messages.push(u);
        return reply(c, args.choice, args.onEvent, { ...u });
      }
      case 'stop_reply': stopped.add(args.conversationId); return true;
      case 'delete_message':
        for (const c of convs.values()) c.messages = c.messages.filter((m) => m.id !== args.id);
        return null;
      case 'get_settings': return settings;
      case 'set_settings': return args.settings;
      case 'endpoint_status': return { running: true, url: 'http://127.0.0.1:11480/v1', port: 11480, api_key_required: false, allowed_origins: [], error: null };
      default: throw { code: 'unknown_command', message: `no command ${cmd}` };
    }
  };
})();
