// The chat's state and logic (Svelte 5 runes), independent of any component: what the UI
// tests drive through mocked IPC.
import type {
  AppInfo, AppSettings, ChatEvent, ChatSettings, Choice, Conversation, ConversationSummary, Message,
  ModelOption, MonitorEvent, Snapshot,
} from './bindings';
import { errorOf, type Transport } from './transport';
import { modelsFor } from './format';

export type ModelState = 'idle' | 'loading' | 'ready' | 'failed';

export class ChatStore {
  info = $state<AppInfo | null>(null);
  models = $state<ModelOption[]>([]);
  engine = $state('gguf');
  model = $state('');
  modelState = $state<ModelState>('idle');
  modelError = $state('');
  conversations = $state<ConversationSummary[]>([]);
  current = $state<Conversation | null>(null);
  /** The reply being written, while one is. */
  streamingId = $state<number | null>(null);
  loadingReply = $state(false);
  error = $state<{ code: string; message: string } | null>(null);
  search = $state('');
  snapshot = $state<Snapshot | null>(null);
  /** The monitor's recent snapshots (the monitor panel's charts), oldest first. */
  history = $state.raw<Snapshot[]>([]);
  /** Load, unload and reload events as they arrived (kept longer than the chart's window). */
  events = $state.raw<{ at_unix_ms: number; ev: MonitorEvent }[]>([]);

  constructor(private t: Transport) {}

  get choice(): Choice {
    return { engine: this.engine, model: this.model };
  }

  get busy(): boolean {
    return this.streamingId !== null;
  }

  /** On launch: settings, models and chats first (the window is already up), then the
   *  default model loads in the background. */
  async init(): Promise<void> {
    try {
      this.info = await this.t.appInfo();
      this.engine = this.info.settings.default_engine;
      this.model = this.info.settings.default_model;
      this.models = await this.t.listModels();
      await this.refresh();
      if (this.conversations.length > 0) await this.open(this.conversations[0].id);
      this.t.onMonitor((s) => this.onSnapshot(s)).catch(() => {});
    } catch (e) {
      this.error = errorOf(e);
    }
    void this.preload();
  }

  onSnapshot(s: Snapshot): void {
    this.snapshot = s;
    // Two minutes at the default 500 ms interval.
    this.history = [...this.history.slice(-239), s];
    if (s.events.length) {
      this.events = [...this.events, ...s.events.map((ev) => ({ at_unix_ms: s.at_unix_ms, ev }))].slice(-100);
    }
  }

  /** Re-reads the models (after an import or a removal). */
  async reloadModels(): Promise<void> {
    await this.guard(async () => {
      this.models = await this.t.listModels();
    });
  }

  async importModel(folder: boolean): Promise<void> {
    await this.guard(async () => {
      const id = await this.t.importModel(folder);
      if (!id) return;
      this.models = await this.t.listModels();
      await this.selectModel(id);
    });
  }

  async removeModel(path: string): Promise<void> {
    await this.guard(async () => {
      await this.t.removeModel(path);
      this.models = await this.t.listModels();
      if (!this.models.some((m) => m.id === this.model) && this.models.length > 0) {
        await this.selectModel(this.models[0].id);
      }
    });
  }

  async reveal(path: string): Promise<void> {
    await this.guard(() => this.t.revealPath(path));
  }

  async saveSettings(settings: AppSettings): Promise<boolean> {
    try {
      const saved = await this.t.setSettings(settings);
      if (this.info) this.info.settings = saved;
      this.error = null;
      return true;
    } catch (e) {
      this.error = errorOf(e);
      return false;
    }
  }

  async preload(): Promise<void> {
    const wanted = `${this.model}@${this.engine}`;
    this.modelState = 'loading';
    this.modelError = '';
    try {
      await this.t.preloadModel(this.choice);
      if (wanted === `${this.model}@${this.engine}`) this.modelState = 'ready';
    } catch (e) {
      if (wanted === `${this.model}@${this.engine}`) {
        this.modelState = 'failed';
        this.modelError = errorOf(e).message;
      }
    }
  }

  /** Switching takes effect for the next reply, mid-conversation too. */
  async selectEngine(engine: string): Promise<void> {
    if (engine === this.engine) return;
    this.engine = engine;
    // A remote engine runs its own models: keep the model where the engine has it.
    const runs = modelsFor(this.models, this.info?.engines, engine);
    if (!runs.some((m) => m.id === this.model) && runs.length > 0) this.model = runs[0].id;
    await this.preload();
  }

  /** Re-reads the engines and models after the remotes changed. */
  async reloadEngines(): Promise<void> {
    await this.guard(async () => {
      const info = await this.t.appInfo();
      this.models = await this.t.listModels();
      if (this.info) this.info.engines = info.engines;
      else this.info = info;
      if (!this.info.engines.some((e) => e.name === this.engine)) await this.selectEngine(this.info.settings.default_engine);
    });
  }

  async selectModel(model: string): Promise<void> {
    if (model === this.model) return;
    this.model = model;
    await this.preload();
  }

  async refresh(): Promise<void> {
    this.conversations = await this.t.listConversations(this.search || undefined);
  }

  async open(id: number): Promise<void> {
    this.current = await this.t.getConversation(id);
  }

  async newChat(): Promise<void> {
    this.current = await this.t.newConversation();
    await this.refresh();
  }

  async rename(id: number, title: string): Promise<void> {
    await this.guard(async () => {
      await this.t.renameConversation(id, title);
      if (this.current?.id === id) this.current.title = title;
      await this.refresh();
    });
  }

  async remove(id: number): Promise<void> {
    await this.guard(async () => {
      await this.t.deleteConversation(id);
      if (this.current?.id === id) this.current = null;
      await this.refresh();
    });
  }

  async updateSettings(settings: ChatSettings): Promise<void> {
    const c = this.current;
    if (!c) return;
    await this.guard(async () => {
      await this.t.updateChatSettings(c.id, settings);
      c.settings = settings;
    });
  }

  async send(text: string): Promise<boolean> {
    if (!text.trim() || this.busy) return false;
    if (!this.current) await this.newChat();
    const c = this.current!;
    // Named after its first message at once, so even an interrupted first reply has a title.
    if (c.messages.length === 0 && c.title === 'New chat') await this.rename(c.id, text.trim().slice(0, 40));
    const ok = await this.turn(() => this.t.sendMessage(c.id, text, this.choice, (e) => this.onEvent(e)));
    await this.refresh();
    return ok;
  }

  /** Sends the typed result of the tool call `callId`; the model answers it. */
  async sendToolResult(callId: string, text: string): Promise<boolean> {
    const c = this.current;
    if (!c || this.busy || !text.trim()) return false;
    const ok = await this.turn(() => this.t.sendToolResult(c.id, callId, text, this.choice, (e) => this.onEvent(e)));
    await this.refresh();
    return ok;
  }

  async regenerate(): Promise<void> {
    const c = this.current;
    if (!c || this.busy) return;
    const roles = c.messages.map((m) => m.role);
    const lastUser = Math.max(roles.lastIndexOf('user'), roles.lastIndexOf('tool'));
    c.messages = c.messages.slice(0, lastUser + 1);
    await this.turn(() => this.t.regenerate(c.id, this.choice, (e) => this.onEvent(e)));
  }

  async editAndResend(messageId: number, text: string): Promise<void> {
    const c = this.current;
    if (!c || this.busy) return;
    const at = c.messages.findIndex((m) => m.id === messageId);
    if (at >= 0) c.messages = c.messages.slice(0, at);
    await this.turn(() => this.t.editAndResend(messageId, text, this.choice, (e) => this.onEvent(e)));
  }

  async stop(): Promise<void> {
    if (this.current && this.busy) await this.t.stopReply(this.current.id);
  }

  async deleteMessage(id: number): Promise<void> {
    const c = this.current;
    if (!c) return;
    await this.guard(async () => {
      await this.t.deleteMessage(id);
      c.messages = c.messages.filter((m) => m.id !== id);
    });
  }

  dismissError(): void {
    this.error = null;
  }

  private async turn(run: () => Promise<Message>): Promise<boolean> {
    this.error = null;
    try {
      await run();
      return true;
    } catch (e) {
      this.error = errorOf(e);
      return false;
    } finally {
      this.streamingId = null;
      this.loadingReply = false;
    }
  }

  private async guard(run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  private replace(m: Message): void {
    const c = this.current;
    if (!c || c.id !== m.conversation_id) return;
    const i = c.messages.findIndex((x) => x.id === m.id);
    if (i >= 0) c.messages[i] = m;
    else c.messages.push(m);
  }

  onEvent(e: ChatEvent): void {
    switch (e.kind) {
      case 'started':
        if (e.user) this.replace(e.user);
        this.replace(e.reply);
        this.streamingId = e.reply.id;
        break;
      case 'loading':
        this.loadingReply = true;
        this.modelState = 'loading';
        break;
      case 'token': {
        this.loadingReply = false;
        this.modelState = 'ready';
        const m = this.current?.messages.find((x) => x.id === this.streamingId);
        if (m) m.content += e.text;
        break;
      }
      case 'finished':
        this.replace(e.reply);
        this.streamingId = null;
        break;
      case 'failed':
        this.replace(e.reply);
        this.streamingId = null;
        this.error = e.error;
        if (this.modelState === 'loading') this.modelState = 'failed';
        break;
    }
  }
}
