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
      benchJobs: 3,
      benchJobMs: 120,
      monitorMs: 0,
    },
    window.__fakeOptions || {},
  ));
  const calls = (window.__calls = []);
  const remotes = [];
  let nextId = 100;
  const now = () => Date.now();
  const stopped = new Set();
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const settings = {
    default_engine: 'gguf', default_model: 'smollm2-135m-instruct-q4_1', model_folders: [],
    endpoint_enabled: true, endpoint_port: 11480, api_key: null, monitor_interval_ms: 500,
    chat_defaults: { system_prompt: '', temperature: 0.7, top_p: 0.95, top_k: 40, max_tokens: 512, seed: null, tools: '', tool_choice: 'auto', json_output: false },
    imported_models: [], reload_policies: {},
  };
  const fit = (size) => ({ weights_bytes: size, kv_cache_bytes: 1e8, needed_bytes: size + 1.6e8, available_bytes: 8e9, fits: true, summary: 'needs about 0.3 GB of 8.0 GB free' });
  const models = [
    { id: 'smollm2-135m-instruct-q4_1', format: 'gguf', quantization: 'Q4_1', architecture: 'llama', size_bytes: 98362432, context_length: 8192, fetched: true, imported: false, path: '/m/a.gguf', source: 'Catalog', gguf_unsupported: null, mlx_unsupported: null, fit: fit(98362432) },
    { id: 'gemma3-270m-q4_k_m', format: 'gguf', quantization: 'Q4_K_M', architecture: 'gemma3', size_bytes: 253000000, context_length: 32768, fetched: true, imported: false, path: '/m/b.gguf', source: 'Catalog', gguf_unsupported: null, mlx_unsupported: null, fit: { ...fit(253000000), fits: false, summary: 'This model needs about 3.1 GB and 1.2 GB is free: close some apps or pick a smaller quantisation' } },
    { id: 'lmstudio:pub/Big-GGUF/big-00001-of-00002.gguf', format: 'gguf', quantization: 'Q8_0', architecture: 'qwen2', size_bytes: 45000000, context_length: 0, fetched: true, imported: false, path: '/home/me/.lmstudio/models/pub/Big-GGUF/big-00001-of-00002.gguf', source: 'LM Studio', gguf_unsupported: 'part 2 of 2 is missing', mlx_unsupported: 'part 2 of 2 is missing', fit: fit(45000000) },
  ];
  const convs = new Map(fake.conversations.map((c) => [c.id, c]));
  const summary = (c) => ({ id: c.id, title: c.title, updated_ms: c.updated_ms, messages: c.messages.length });
  const msg = (conv, role, content, extra = {}) => ({
    id: nextId++, conversation_id: conv, role, content, status: 'complete', engine: null, model: null, stats: null, created_ms: now(), tool_calls: [], tool_call_id: null, ...extra,
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
    // With tools, the first reply calls one (as `tool_choice: required` makes the engine do).
    const answeredCalls = c.messages.filter((m) => m.role === 'tool').length;
    if (r.status === 'complete' && c.settings.tools && c.settings.tool_choice === 'required' && answeredCalls === 0) {
      r.tool_calls = [{ id: `call${nextId}`, name: 'get_weather', arguments: '{"city": "Paris"}' }];
    }
    if (r.status === 'complete') {
      // A later turn reuses the earlier turns' KV cache (prompt caching), as the engine reports it.
      const earlier = c.messages.some((m) => m.role === 'assistant' && m !== r && m.status === 'complete');
      r.stats = { prompt_tokens: 21, cached_tokens: earlier ? 15 : 0, completion_tokens: 9, ttft_ms: 84, decode_tps: 23.4, prompt_tps: 250, total_ms: 470, finish_reason: 'stop' };
    }
    ch.onmessage({ kind: 'finished', reply: { ...r } });
    return { ...r };
  }
  const benchRuns = [];
  let benchCancelled = false;
  let comparing = null;
  let endpointOn = true;
  const endpointStatus = () => (endpointOn
    ? { running: true, url: 'http://127.0.0.1:11480/v1', port: 11480, api_key_required: false, allowed_origins: [], error: null }
    : { running: false, url: null, port: null, api_key_required: false, allowed_origins: [], error: 'The endpoint is off: start it here or in Settings.' });
  // Events before the harness has wired `__emit` (the page is still loading) are dropped.
  const emit = (event, payload) => window.__emit?.(event, payload);
  async function runBench(req) {
    benchCancelled = false;
    await sleep(10);
    emit('bench', { kind: 'started', out_dir: '/data/benchmarks/1-quick' });
    for (const engine of req.engines) {
      for (let done = 1; done <= fake.benchJobs; done++) {
        await sleep(fake.benchJobMs);
        if (benchCancelled) break;
        emit('bench', { kind: 'progress', engine, done, total: fake.benchJobs, eta_s: (fake.benchJobs - done) * 0.12 });
      }
    }
    const run = {
      id: benchRuns.length + 1, out_dir: '/data/benchmarks/1-quick', suite: req.suite, model: req.model, engines: req.engines,
      fingerprint: JSON.stringify({ cpu: 'Test CPU', cores: 2, total_ram_bytes: 24e9, os: 'Debian 12', gpu: 'none', parallax_version: '0.1.0', git_hash: 'abc123' }),
      summary: req.engines.map((e) => `${e} 40.0 tok/s`).join(' · '), status: benchCancelled ? 'cancelled' : 'complete', created_ms: now(),
    };
    benchRuns.unshift(run);
    emit('bench', { kind: 'finished', run });
  }
  const row = (engine, tps) => ({ engine, runs: 6, decode_tps: tps, ttft_ms: 90, prompt_tps: 300, load_ms: 400, peak_rss_bytes: 3e8, peak_allocator_bytes: engine === 'mlx' ? 2e8 : null, leak_slope_mb: null, incomplete: null });
  if (fake.monitorMs > 0) {
    let n = 0;
    setInterval(() => {
      n++;
      emit('monitor', {
        at_unix_ms: now(), process: { pid: 1, rss_bytes: 3e8 + n * 1e6, peak_rss_bytes: 3.5e8, cpu_percent: 50 + (n % 5) },
        system: { total_bytes: 24e9, available_bytes: 12e9, swap_total_bytes: 0, swap_used_bytes: 0 },
        engines: [{ id: 'smollm2-135m-instruct-q4_1@mlx', weight_bytes: 9e7, kv_cache_bytes: 2e7, allocator_active_bytes: 1.2e8, allocator_peak_bytes: 1.5e8, allocator_cache_bytes: 3e7, slots: 4, busy: 2, waiting: 1, device: 'cpu' }],
        gpu_used_bytes: null, gpu_total_bytes: null,
        generations: [{ id: 'g', engine: 'smollm2-135m-instruct-q4_1@mlx', tokens: n, tokens_per_second: 20, ttft_ms: 80, inter_token_ms: 50 }],
        queue_depth: 0,
        events: n === 2 ? [{ kind: 'load', id: 'smollm2-135m-instruct-q4_1@mlx' }] : n === 4 ? [{ kind: 'reload', id: 'smollm2-135m-instruct-q4_1@mlx', reason: '2 generations since load (policy: every 2)' }] : [],
      });
    }, fake.monitorMs);
  }
  async function compare(req, ch) {
    comparing = { stopped: false };
    const run = async (column) => {
      ch.onmessage({ kind: 'started', column });
      let text = '';
      for (let i = 0; i < fake.tokens.length; i++) {
        await sleep(fake.tokenDelayMs);
        if (comparing.stopped) break;
        text += fake.tokens[i];
        ch.onmessage({ kind: 'token', column, text: fake.tokens[i] });
        ch.onmessage({ kind: 'tick', column, live: { elapsed_ms: i * 30, tokens: i + 1, ttft_ms: 40, tokens_per_second: column ? 30 : 20, engine_memory_bytes: column ? 1.1e8 : 1.3e8, process_rss_bytes: 4e8 } });
      }
      const stopped = comparing.stopped;
      const result = {
        choice: req.columns[column], text, load_ms: null, peak_engine_memory_bytes: column ? 1.1e8 : 1.3e8, peak_process_rss_bytes: 4e8, stopped, error: null,
        stats: stopped ? null : { prompt_tokens: 21, cached_tokens: 0, completion_tokens: fake.tokens.length, ttft_ms: column ? 50 : 100, decode_tps: column ? 30 : 20, prompt_tps: 250, total_ms: 400, finish_reason: 'length' },
      };
      ch.onmessage({ kind: 'finished', column, result });
      return result;
    };
    const columns = req.concurrent ? await Promise.all([run(0), run(1)]) : [await run(0), await run(1)];
    comparing = null;
    return { mode: req.concurrent ? 'concurrent' : 'fair (sequential)', same_weights: req.same_weights, seed: 42, prompt: req.prompt, columns,
      summary: 'MLX 1.5× faster decode, MLX 2.0× quicker first token, MLX 15% less peak memory' };
  }
  window.__mockHandler = async (cmd, args) => {
    calls.push({ cmd, args: args && JSON.parse(JSON.stringify(args, (k, v) => (k === 'onEvent' ? undefined : v))) });
    switch (cmd) {
      case 'app_info':
        return { version: '0.1.0', data_dir: '/tmp/x', settings, engines: [
          { name: 'gguf', available: true, detail: 'candle on the CPU', remote: false },
          { name: 'mlx', available: true, detail: 'MLX on the CPU', remote: false },
          ...remotes.map((r) => ({ name: r.name, available: !r.error, detail: `remote ${r.url}`, remote: true }))] };
      case 'list_models':
        return [...models, ...remotes.flatMap((r) => r.models.map((id) => ({
          id, format: 'remote', quantization: '', architecture: 'unknown', size_bytes: 0, context_length: 0, fetched: true, imported: false,
          path: r.url, source: `Remote ${r.name}`, gguf_unsupported: 'a remote model runs on its server', mlx_unsupported: 'a remote model runs on its server',
          remote: r.name, fit: { ...fit(0), summary: `remote: runs on ${r.name}; memory not measured here` } })))];
      case 'list_remotes': return remotes;
      case 'add_remote': {
        const r = args.remote;
        if (remotes.some((x) => x.name === r.name)) throw { code: 'remote_config', message: `a remote named \`${r.name}\` exists; remove it first` };
        remotes.push({ name: r.name, url: r.url, key: r.key ? 'OS keyring' : r.key_env ? `environment variable ${r.key_env}` : 'none',
          timeout_secs: r.timeout_secs ?? 300, latency_ms: 3.2, models: ['big-model@gguf'], error: null,
          published: [{ name: 'predicted_tokens_seconds', value: 71.1, source: 'llama-server /metrics' }] });
        return remotes;
      }
      case 'remove_remote': {
        const at = remotes.findIndex((x) => x.name === args.name);
        if (at >= 0) remotes.splice(at, 1);
        return remotes;
      }
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
      case 'send_tool_result': {
        const c = convs.get(args.conversationId);
        const t = msg(c.id, 'tool', args.content, { tool_call_id: args.callId });
        c.messages.push(t);
        return reply(c, args.choice, args.onEvent, { ...t });
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
      case 'set_settings':
        if (args.settings.monitor_interval_ms < 250) throw { code: 'invalid_setting', message: 'The monitor interval must be between 250 and 1000 ms.' };
        Object.assign(settings, args.settings);
        return args.settings;
      case 'set_endpoint_running':
        endpointOn = args.on;
        return endpointStatus();
      case 'endpoint_status': return endpointStatus();
      case 'endpoint_requests': return fake.requests || [];
      case 'import_model': {
        const m = { ...models[0], id: 'my-model (imported)', imported: true, source: 'Imported', path: '/home/me/my-model.gguf' };
        models.push(m);
        return m.id;
      }
      case 'remove_model': {
        const i = models.findIndex((m) => m.path === args.path && m.imported);
        if (i < 0) throw { code: 'not_imported', message: 'Only imported models can be removed.' };
        models.splice(i, 1);
        return null;
      }
      case 'reveal_path': return null;
      case 'compare': return compare(args.request, args.onEvent);
      case 'stop_comparison': if (comparing) comparing.stopped = true; return !!comparing;
      case 'save_comparison': {
        const run = { id: benchRuns.length + 1, out_dir: '/data/benchmarks/2-side-by-side', suite: 'side-by-side', model: 'smollm2-135m-instruct-q4_1', engines: ['gguf', 'mlx'], fingerprint: '{}', summary: 'MLX 1.5× faster decode', status: 'complete', created_ms: now() };
        benchRuns.unshift(run);
        return run;
      }
      case 'start_bench': void runBench(args.request); return '/data/benchmarks/1-quick';
      case 'cancel_bench': benchCancelled = true; return true;
      case 'bench_runs': return benchRuns;
      case 'bench_report': {
        const run = benchRuns.find((r) => r.id === args.id);
        return { run, engines: run.engines.map((e) => row(e, e === 'mlx' ? 18.2 : 41.3)), markdown: '# Parallax benchmark', plots: [['decode.svg', '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/><script>window.__pwned=2</script></svg>']] };
      }
      case 'delete_bench_run': benchRuns.splice(benchRuns.findIndex((r) => r.id === args.id), 1); return null;
      case 'export_bench': return `/home/me/results.${args.format === 'markdown' ? 'md' : args.format}`;
      case 'open_bench_folder': return null;
      case 'first_paint': return 123;
      default: throw { code: 'unknown_command', message: `no command ${cmd}` };
    }
  };
})();
