// The side-by-side panel's state: one prompt, two engine/model columns, fair (sequential) or
// concurrent, live figures four times a second, and the summary at the end.
import type {
  BenchRun, ChatSettings, Choice, ColumnLive, ColumnResult, CompareEvent, CompareResult, ModelOption,
} from './bindings';
import { errorOf, type Transport } from './transport';

export type ColumnState = 'idle' | 'waiting' | 'loading' | 'running' | 'done' | 'stopped' | 'failed';

export interface ColumnView {
  choice: Choice;
  state: ColumnState;
  text: string;
  live: ColumnLive | null;
  result: ColumnResult | null;
}

/** Quantisations MLX runs as they are, so both engines run the very same weights. */
const SAME_WEIGHT_QUANTS = ['Q4_0', 'Q4_1', 'Q8_0'];

export function sameWeightsPossible(m: ModelOption | undefined): boolean {
  return !!m && m.format === 'gguf' && SAME_WEIGHT_QUANTS.includes(m.quantization);
}

/** The chart's rows: seconds since the run started, then per column tok/s and memory (MB). */
export interface CompareSeries {
  t: number[];
  tps: (number | null)[][];
  mem: (number | null)[][];
  rss: (number | null)[];
}

const emptySeries = (): CompareSeries => ({ t: [], tps: [[], []], mem: [[], []], rss: [] });

export class CompareStore {
  prompt = $state('Explain in three sentences why the sky is blue.');
  concurrent = $state(false);
  sameWeights = $state(false);
  maxTokens = $state(96);
  columns = $state<ColumnView[]>([]);
  running = $state(false);
  result = $state<CompareResult | null>(null);
  saved = $state<BenchRun | null>(null);
  error = $state<{ code: string; message: string } | null>(null);
  series = $state<CompareSeries>(emptySeries());
  private started = 0;

  constructor(private t: Transport, model: string) {
    this.columns = [
      { choice: { engine: 'gguf', model }, state: 'idle', text: '', live: null, result: null },
      { choice: { engine: 'mlx', model }, state: 'idle', text: '', live: null, result: null },
    ];
  }

  setModel(column: number, model: string): void {
    this.columns[column].choice.model = model;
    if (this.sameWeights) this.columns[1 - column].choice.model = model;
  }

  setSameWeights(on: boolean): void {
    this.sameWeights = on;
    if (on) this.columns[1].choice.model = this.columns[0].choice.model;
  }

  async run(defaults: ChatSettings): Promise<void> {
    if (this.running || !this.prompt.trim()) return;
    this.error = null;
    this.result = null;
    this.saved = null;
    this.series = emptySeries();
    for (const c of this.columns) {
      c.state = this.concurrent ? 'running' : 'waiting';
      c.text = '';
      c.live = null;
      c.result = null;
    }
    this.running = true;
    this.started = performance.now();
    try {
      this.result = await this.t.compare(
        {
          prompt: this.prompt,
          columns: this.columns.map((c) => ({ ...c.choice })),
          concurrent: this.concurrent,
          same_weights: this.sameWeights,
          settings: { ...defaults, max_tokens: this.maxTokens },
        },
        (e) => this.onEvent(e),
      );
    } catch (e) {
      this.error = errorOf(e);
      for (const c of this.columns) if (c.state !== 'done') c.state = 'idle';
    } finally {
      this.running = false;
    }
  }

  async stop(): Promise<void> {
    if (this.running) await this.t.stopComparison();
  }

  async save(): Promise<void> {
    try {
      this.saved = await this.t.saveComparison();
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  onEvent(e: CompareEvent): void {
    const c = this.columns[e.column];
    if (!c) return;
    switch (e.kind) {
      case 'loading':
        c.state = 'loading';
        break;
      case 'started':
        c.state = 'running';
        break;
      case 'token':
        c.text += e.text;
        break;
      case 'tick': {
        c.live = e.live;
        const s = this.series;
        s.t.push((performance.now() - this.started) / 1000);
        for (let i = 0; i < 2; i++) {
          s.tps[i].push(i === e.column ? e.live.tokens_per_second : null);
          s.mem[i].push(i === e.column ? e.live.engine_memory_bytes / 1e6 : null);
        }
        s.rss.push(e.live.process_rss_bytes / 1e6);
        break;
      }
      case 'finished':
        c.result = e.result;
        c.text = e.result.text || c.text;
        c.state = e.result.error ? 'failed' : e.result.stopped ? 'stopped' : 'done';
        break;
    }
  }
}
