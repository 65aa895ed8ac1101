// Generated from the Rust types by ts-rs (crates/desktop/src/bindings.rs). Do not edit.

export type ChatSettings = { system_prompt: string, temperature: number, top_p: number, top_k: number, max_tokens: number, 
/**
 * Fixed seed for reproducible replies; none draws a fresh one per reply.
 */
seed: number | null, };

export type Role = "system" | "user" | "assistant";

export type MessageStatus = "complete" | "streaming" | "stopped" | "interrupted" | "failed";

export type MessageStats = { prompt_tokens: number, completion_tokens: number, ttft_ms: number, decode_tps: number, prompt_tps: number, total_ms: number, 
/**
 * stop, length, cancelled (as the generation loop reports it).
 */
finish_reason: string, };

export type Message = { id: number, conversation_id: number, role: Role, content: string, status: MessageStatus, 
/**
 * The engine and model that wrote this reply (assistant messages).
 */
engine: string | null, model: string | null, stats: MessageStats | null, created_ms: number, };

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
 * A sentence for the picker, e.g. "needs about 0.2 GB of 9.8 GB free".
 */
summary: string, };

export type ModelOption = { id: string, format: string, quantization: string, architecture: string, size_bytes: number, context_length: number, 
/**
 * On disk (fetched by `make models`).
 */
fetched: boolean, path: string, fit: MemoryFit, };

export type AppSettings = { default_engine: string, default_model: string, 
/**
 * Extra folders searched for imported models.
 */
model_folders: Array<string>, endpoint_enabled: boolean, endpoint_port: number, 
/**
 * Required as `Authorization: Bearer …` when set.
 */
api_key: string | null, monitor_interval_ms: number, 
/**
 * Settings new chats start with.
 */
chat_defaults: ChatSettings, };

export type EngineStatus = { name: string, available: boolean, 
/**
 * How it runs ("MLX on the CPU …"), or why it cannot.
 */
detail: string, };

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
 * Of one core: 200% is two cores busy.
 */
cpu_percent: number, };

export type SystemStats = { total_bytes: number, available_bytes: number, swap_total_bytes: number, swap_used_bytes: number, };

export type EngineStats = { id: string, weight_bytes: number, kv_cache_bytes: number, allocator_active_bytes: number | null, allocator_peak_bytes: number | null, allocator_cache_bytes: number | null, };

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

