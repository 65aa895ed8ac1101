// Generated from the Rust types by ts-rs (crates/desktop/src/bindings.rs). Do not edit.

export type ChatSettings = { system_prompt: string, temperature: number, top_p: number, top_k: number, max_tokens: number, 
/**
 * Fixed seed for reproducible replies; none draws a fresh one per reply.
 */
seed: number | null, 
/**
 * Functions the model may call, as the user wrote them: a JSON array of
 * `{"name", "description", "parameters"}` (or OpenAI's `{"type": "function", "function": …}`);
 * empty for none. The model's calls are shown, and the user types each result.
 */
tools: string, 
/**
 * Whether the model must call one of the tools: `auto` (it decides), `required`, `none`.
 */
tool_choice: string, 
/**
 * Replies are constrained to one valid JSON value.
 */
json_output: boolean, };

export type Role = "system" | "user" | "assistant" | "tool";

export type MessageStatus = "complete" | "streaming" | "stopped" | "interrupted" | "failed";

export type MessageStats = { prompt_tokens: number, 
/**
 * Of the prompt tokens, those reused from the KV cache (prompt caching), not prefilled.
 */
cached_tokens: number, completion_tokens: number, ttft_ms: number, decode_tps: number, prompt_tps: number, total_ms: number, 
/**
 * stop, length, cancelled (as the generation loop reports it).
 */
finish_reason: string, };

export type ToolCallRecord = { id: string, name: string, 
/**
 * The arguments, as JSON text.
 */
arguments: string, };

export type Message = { id: number, conversation_id: number, role: Role, content: string, status: MessageStatus, 
/**
 * The engine and model that wrote this reply (assistant messages).
 */
engine: string | null, model: string | null, stats: MessageStats | null, created_ms: number, 
/**
 * The calls an assistant reply made.
 */
tool_calls: Array<ToolCallRecord>, 
/**
 * The call a tool message answers.
 */
tool_call_id: string | null, };

export type ConversationSummary = { id: number, title: string, updated_ms: number, messages: number, };

export type Conversation = { id: number, title: string, settings: ChatSettings, created_ms: number, updated_ms: number, messages: Array<Message>, };

export type AppError = { code: string, message: string, };

export type ChatEvent = { "kind": "started", user: Message | null, reply: Message, } | { "kind": "loading", engine: string, model: string, } | { "kind": "token", text: string, } | { "kind": "finished", reply: Message, } | { "kind": "failed", reply: Message, error: AppError, };

export type Choice = { engine: string, model: string, };

export type MemoryFit = { weights_bytes: number, kv_cache_bytes: number, 
/**
 * Weights, KV cache and runtime overhead together.
 */
needed_bytes: number, available_bytes: number, fits: boolean, 
/**
 * A mixture of experts: the weight bytes one token reads, which its speed follows (its
 * memory follows the whole `weights_bytes`).
 */
active_weights_bytes: number | null, 
/**
 * A sentence for the picker, e.g. "needs about 0.2 GB of 9.8 GB free".
 */
summary: string, };

export type ModelOption = { id: string, format: string, quantization: string, architecture: string, size_bytes: number, context_length: number, 
/**
 * On disk (fetched by `make models`).
 */
fetched: boolean, path: string, 
/**
 * Added by the user (can be removed); catalog models come from `make models`.
 */
imported: boolean, 
/**
 * Where it was found: "Catalog", "Imported", "Model folders", "Hugging Face cache", "LM Studio".
 */
source: string, 
/**
 * Why the GGUF engine cannot run it (`None`: it can).
 */
gguf_unsupported: string | null, 
/**
 * Why the MLX engine cannot run it (`None`: it can).
 */
mlx_unsupported: string | null, 
/**
 * The remote engine that serves it (`None`: a local model).
 */
remote: string | null, fit: MemoryFit, };

export type AppSettings = { default_engine: string, default_model: string, 
/**
 * Folders whose `.gguf` files and MLX model folders join the picker.
 */
model_folders: Array<string>, endpoint_enabled: boolean, endpoint_port: number, 
/**
 * Required as `Authorization: Bearer …` when set.
 */
api_key: string | null, monitor_interval_ms: number, 
/**
 * Settings new chats start with.
 */
chat_defaults: ChatSettings, 
/**
 * Imported GGUF files and MLX folders, by absolute path.
 */
imported_models: Array<string>, 
/**
 * Per engine: reload after N generations or X MB of RSS growth (the monitor shows each).
 */
reload_policies: { [key in string]: ReloadPolicy }, };

export type EngineStatus = { name: string, available: boolean, 
/**
 * How it runs ("MLX on the CPU …"), or why it cannot.
 */
detail: string, 
/**
 * A registered remote server (its models are listed with `remote` set to this name).
 */
remote: boolean, };

export type PublishedFigure = { name: string, value: number, source: string, };

export type RemoteInfo = { name: string, url: string, 
/**
 * Where its key is: "none", "OS keyring", or "environment variable NAME".
 */
key: string, timeout_secs: number, 
/**
 * One `/v1/models` round trip: the network and the server, no model work.
 */
latency_ms: number | null, 
/**
 * Its models, as the picker names them with this remote as the engine.
 */
models: Array<string>, 
/**
 * Why it could not be probed (unreachable, key refused, …).
 */
error: AppError | null, 
/**
 * What the server publishes about itself (llama-server's `/metrics`, `/slots`), each with
 * its source. Memory is never among them: "remote: not measured".
 */
published: Array<PublishedFigure>, };

export type RemoteInput = { name: string, url: string, 
/**
 * A key to keep in the OS keyring.
 */
key: string | null, 
/**
 * Or the environment variable to read the key from at each use.
 */
key_env: string | null, timeout_secs: number | null, };

export type AppInfo = { version: string, engines: Array<EngineStatus>, data_dir: string, settings: AppSettings, };

export type EndpointStatus = { running: boolean, 
/**
 * The base URL clients use, e.g. http://127.0.0.1:11480/v1.
 */
url: string | null, port: number | null, api_key_required: boolean, allowed_origins: Array<string>, 
/**
 * Why it is not running, when it failed to start.
 */
error: string | null, };

export type ProcessStats = { pid: number, rss_bytes: number, 
/**
 * High-water mark (VmHWM on Linux; elsewhere the largest RSS sampled).
 */
peak_rss_bytes: number, 
/**
 * File-backed resident pages (`RssFile` + `RssShmem`: mapped weights the OS can drop and
 * read again); Linux only.
 */
rss_file_bytes: number | null, 
/**
 * Anonymous resident pages (`RssAnon`: copied weights, KV cache, scratch); Linux only.
 */
rss_anon_bytes: number | null, 
/**
 * Of one core: 200% is two cores busy.
 */
cpu_percent: number, };

export type SystemStats = { total_bytes: number, available_bytes: number, swap_total_bytes: number, swap_used_bytes: number, };

export type EngineStats = { id: string, weight_bytes: number, kv_cache_bytes: number, allocator_active_bytes: number | null, allocator_peak_bytes: number | null, allocator_cache_bytes: number | null, 
/**
 * Where it computes: "cpu", "cuda:0", "metal" (empty when not known).
 */
device: string, 
/**
 * Generations it runs at once (continuous batching), of which `busy` run now.
 */
slots: number, busy: number, 
/**
 * Requests waiting for a slot.
 */
waiting: number, };

export type GenerationStats = { id: string, engine: string, tokens: number, tokens_per_second: number, ttft_ms: number | null, 
/**
 * Mean time between the last tokens.
 */
inter_token_ms: number | null, };

export type MonitorEvent = { "kind": "load", id: string, } | { "kind": "unload", id: string, } | { "kind": "reload", id: string, reason: string, };

export type Snapshot = { 
/**
 * Milliseconds since the Unix epoch.
 */
at_unix_ms: number, process: ProcessStats, system: SystemStats, engines: Array<EngineStats>, 
/**
 * GPU memory in use and total, where a GPU is visible.
 */
gpu_used_bytes: number | null, gpu_total_bytes: number | null, generations: Array<GenerationStats>, queue_depth: number, 
/**
 * Lifecycle events since the previous snapshot.
 */
events: Array<MonitorEvent>, };

export type ReloadPolicy = { after_generations: number | null, rss_growth_mb: number | null, };

export type RequestRecord = { id: number, at_unix_ms: number, method: string, path: string, model: string | null, 
/**
 * 0 until the response starts.
 */
status: number, prompt_tokens: number | null, completion_tokens: number | null, 
/**
 * Arrival → response (for a stream: → its last event), in ms; `None` while running.
 */
latency_ms: number | null, };

export type BenchRun = { id: number, 
/**
 * The folder with results.json, results.csv, report.md and the plots.
 */
out_dir: string, 
/**
 * "quick", "standard", …, or "side-by-side".
 */
suite: string, model: string, engines: Array<string>, 
/**
 * The machine and build it ran on (JSON, as the results carry it).
 */
fingerprint: string, summary: string, 
/**
 * "complete", "cancelled" or "failed".
 */
status: string, created_ms: number, };

export type CompareRequest = { prompt: string, 
/**
 * Exactly two: the left and the right column.
 */
columns: Array<Choice>, 
/**
 * Both at once instead of one after the other.
 */
concurrent: boolean, 
/**
 * Both columns run the same GGUF file, which must be Q4_0, Q4_1 or Q8_0.
 */
same_weights: boolean, 
/**
 * System prompt, sampling and answer length, the same for both.
 */
settings: ChatSettings, };

export type ColumnLive = { 
/**
 * Since this column's request was sent.
 */
elapsed_ms: number, tokens: number, ttft_ms: number | null, tokens_per_second: number, 
/**
 * The engine's own memory: weights plus KV cache (GGUF), or MLX's allocator.
 */
engine_memory_bytes: number, 
/**
 * The whole app's resident memory (both engines live in it).
 */
process_rss_bytes: number, 
/**
 * Of it, file-backed pages (mapped weights) and anonymous ones (copies, KV); Linux only.
 */
process_rss_file_bytes: number | null, process_rss_anon_bytes: number | null, };

export type ColumnResult = { choice: Choice, text: string, stats: MessageStats | null, 
/**
 * Model load time, when this comparison loaded it.
 */
load_ms: number | null, 
/**
 * The most the engine held during the run (weights + KV, or MLX's allocator peak).
 */
peak_engine_memory_bytes: number, peak_process_rss_bytes: number, stopped: boolean, error: AppError | null, };

export type CompareEvent = { "kind": "loading", column: number, } | { "kind": "started", column: number, } | { "kind": "token", column: number, text: string, } | { "kind": "tick", column: number, live: ColumnLive, } | { "kind": "finished", column: number, result: ColumnResult, };

export type CompareResult = { 
/**
 * "fair (sequential)" or "concurrent".
 */
mode: string, same_weights: boolean, seed: number, prompt: string, columns: Array<ColumnResult>, 
/**
 * e.g. "MLX 1.8× faster decode, 12% less peak memory".
 */
summary: string, };

export type BenchRequest = { 
/**
 * "quick", "standard", "leak" or "context".
 */
suite: string, engines: Array<string>, model: string, 
/**
 * Repetitions per prompt (standard).
 */
reps: number, concurrent: boolean, same_weights: boolean, reload_every: number | null, };

export type BenchEvent = { "kind": "started", out_dir: string, } | { "kind": "progress", engine: string, done: number, total: number, eta_s: number | null, } | { "kind": "finished", run: BenchRun, } | { "kind": "failed", error: AppError, };

export type EngineRow = { engine: string, runs: number, 
/**
 * Medians over the measured runs, outliers removed.
 */
decode_tps: number | null, ttft_ms: number | null, prompt_tps: number | null, load_ms: number | null, peak_rss_bytes: number | null, peak_allocator_bytes: number | null, 
/**
 * MB per generation, where the leak suite ran.
 */
leak_slope_mb: number | null, incomplete: string | null, };

export type BenchReport = { run: BenchRun, engines: Array<EngineRow>, markdown: string, 
/**
 * (file name, SVG text), drawn by the bench crate.
 */
plots: Array<[string, string]>, };

