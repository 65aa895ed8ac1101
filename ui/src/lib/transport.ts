// The one door between the UI and the core. Components never call Tauri directly: they get a
// Transport, which the app wires to Tauri IPC and the UI tests wire to mocked IPC.
import { invoke, Channel } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type {
  AppInfo, AppSettings, BenchEvent, BenchReport, BenchRequest, BenchRun, ChatEvent, ChatSettings, Choice,
  CompareEvent, CompareRequest, CompareResult, Conversation, ConversationSummary, EndpointStatus, Message,
  ModelOption, RemoteInfo, RemoteInput, RequestRecord, Snapshot,
} from './bindings';


export interface Transport {
  appInfo(): Promise<AppInfo>;
  listModels(context?: number): Promise<ModelOption[]>;
  preloadModel(choice: Choice): Promise<void>;
  listConversations(search?: string): Promise<ConversationSummary[]>;
  getConversation(id: number): Promise<Conversation>;
  newConversation(title?: string): Promise<Conversation>;
  renameConversation(id: number, title: string): Promise<void>;
  deleteConversation(id: number): Promise<void>;
  updateChatSettings(id: number, settings: ChatSettings): Promise<void>;
  sendMessage(conversationId: number, content: string, choice: Choice, onEvent: (e: ChatEvent) => void): Promise<Message>;
  /** Answers a reply's tool call with the result the user typed; the model replies. */
  sendToolResult(conversationId: number, callId: string, content: string, choice: Choice, onEvent: (e: ChatEvent) => void): Promise<Message>;
  regenerate(conversationId: number, choice: Choice, onEvent: (e: ChatEvent) => void): Promise<Message>;
  editAndResend(messageId: number, content: string, choice: Choice, onEvent: (e: ChatEvent) => void): Promise<Message>;
  stopReply(conversationId: number): Promise<boolean>;
  deleteMessage(id: number): Promise<void>;
  getSettings(): Promise<AppSettings>;
  setSettings(settings: AppSettings): Promise<AppSettings>;
  /** The registered remote engines; with `probe`, each one's latency and models. */
  listRemotes(probe: boolean): Promise<RemoteInfo[]>;
  addRemote(remote: RemoteInput): Promise<RemoteInfo[]>;
  removeRemote(name: string): Promise<RemoteInfo[]>;
  endpointStatus(): Promise<EndpointStatus>;
  endpointRequests(): Promise<RequestRecord[]>;
  /** Starts or stops the endpoint now (and at the next launch). */
  setEndpointRunning(on: boolean): Promise<EndpointStatus>;
  /** Opens the native dialog; the imported model's id, or null when cancelled. */
  importModel(folder: boolean): Promise<string | null>;
  removeModel(path: string): Promise<void>;
  revealPath(path: string): Promise<void>;
  compare(request: CompareRequest, onEvent: (e: CompareEvent) => void): Promise<CompareResult>;
  stopComparison(): Promise<boolean>;
  saveComparison(): Promise<BenchRun>;
  startBench(request: BenchRequest): Promise<string>;
  cancelBench(): Promise<boolean>;
  benchRuns(): Promise<BenchRun[]>;
  benchReport(id: number): Promise<BenchReport>;
  deleteBenchRun(id: number): Promise<void>;
  /** Asks where to save (native dialog); the path written, or null when cancelled. */
  exportBench(id: number, format: 'json' | 'csv' | 'markdown'): Promise<string | null>;
  openBenchFolder(id: number): Promise<void>;
  firstPaint(): Promise<number>;
  onMonitor(cb: (s: Snapshot) => void): Promise<() => void>;
  onBench(cb: (e: BenchEvent) => void): Promise<() => void>;
}

function channel<T>(onEvent: (e: T) => void): Channel<T> {
  const ch = new Channel<T>();
  ch.onmessage = onEvent;
  return ch;
}

export const tauriTransport: Transport = {
  appInfo: () => invoke<AppInfo>('app_info'),
  listModels: (context) => invoke<ModelOption[]>('list_models', { context: context ?? null }),
  preloadModel: (choice) => invoke<void>('preload_model', { choice }),
  listConversations: (search) => invoke<ConversationSummary[]>('list_conversations', { search: search ?? null }),
  getConversation: (id) => invoke<Conversation>('get_conversation', { id }),
  newConversation: (title) => invoke<Conversation>('new_conversation', { title: title ?? null }),
  renameConversation: (id, title) => invoke<void>('rename_conversation', { id, title }),
  deleteConversation: (id) => invoke<void>('delete_conversation', { id }),
  updateChatSettings: (id, settings) => invoke<void>('update_chat_settings', { id, settings }),
  sendMessage: (conversationId, content, choice, onEvent) =>
    invoke<Message>('send_message', { conversationId, content, choice, onEvent: channel(onEvent) }),
  sendToolResult: (conversationId, callId, content, choice, onEvent) =>
    invoke<Message>('send_tool_result', { conversationId, callId, content, choice, onEvent: channel(onEvent) }),
  regenerate: (conversationId, choice, onEvent) =>
    invoke<Message>('regenerate', { conversationId, choice, onEvent: channel(onEvent) }),
  editAndResend: (messageId, content, choice, onEvent) =>
    invoke<Message>('edit_and_resend', { messageId, content, choice, onEvent: channel(onEvent) }),
  stopReply: (conversationId) => invoke<boolean>('stop_reply', { conversationId }),
  deleteMessage: (id) => invoke<void>('delete_message', { id }),
  getSettings: () => invoke<AppSettings>('get_settings'),
  setSettings: (settings) => invoke<AppSettings>('set_settings', { settings }),
  listRemotes: (probe) => invoke<RemoteInfo[]>('list_remotes', { probe }),
  addRemote: (remote) => invoke<RemoteInfo[]>('add_remote', { remote }),
  removeRemote: (name) => invoke<RemoteInfo[]>('remove_remote', { name }),
  endpointStatus: () => invoke<EndpointStatus>('endpoint_status'),
  endpointRequests: () => invoke<RequestRecord[]>('endpoint_requests'),
  setEndpointRunning: (on) => invoke<EndpointStatus>('set_endpoint_running', { on }),
  importModel: (folder) => invoke<string | null>('import_model', { folder }),
  removeModel: (path) => invoke<void>('remove_model', { path }),
  revealPath: (path) => invoke<void>('reveal_path', { path }),
  compare: (request, onEvent) => invoke<CompareResult>('compare', { request, onEvent: channel(onEvent) }),
  stopComparison: () => invoke<boolean>('stop_comparison'),
  saveComparison: () => invoke<BenchRun>('save_comparison'),
  startBench: (request) => invoke<string>('start_bench', { request }),
  cancelBench: () => invoke<boolean>('cancel_bench'),
  benchRuns: () => invoke<BenchRun[]>('bench_runs'),
  benchReport: (id) => invoke<BenchReport>('bench_report', { id }),
  deleteBenchRun: (id) => invoke<void>('delete_bench_run', { id }),
  exportBench: (id, format) => invoke<string | null>('export_bench', { id, format }),
  openBenchFolder: (id) => invoke<void>('open_bench_folder', { id }),
  firstPaint: () => invoke<number>('first_paint'),
  onMonitor: (cb) => listen<Snapshot>('monitor', (e) => cb(e.payload)),
  onBench: (cb) => listen<BenchEvent>('bench', (e) => cb(e.payload)),
};

/// Errors from the core arrive as { code, message }; anything else becomes one.
export function errorOf(e: unknown): { code: string; message: string } {
  if (e && typeof e === 'object' && 'message' in e && 'code' in e) {
    return e as { code: string; message: string };
  }
  return { code: 'unexpected', message: String(e) };
}
