// The benchmarks panel's state: the run being set up or running (progress and ETA per engine
// from `bench` events), the history of runs, and the report of the one selected.
import type { BenchEvent, BenchReport, BenchRequest, BenchRun } from './bindings';
import { errorOf, type Transport } from './transport';

export interface EngineProgress {
  done: number;
  total: number;
  eta_s: number | null;
}

export class BenchStore {
  request = $state<BenchRequest>({
    suite: 'quick', engines: ['gguf', 'mlx'], model: '', reps: 3, concurrent: false, same_weights: false, reload_every: null,
  });
  running = $state(false);
  cancelling = $state(false);
  outDir = $state('');
  progress = $state<Record<string, EngineProgress>>({});
  runs = $state<BenchRun[]>([]);
  report = $state<BenchReport | null>(null);
  error = $state<{ code: string; message: string } | null>(null);
  notice = $state('');
  private unlisten: (() => void) | null = null;

  constructor(private t: Transport, model: string) {
    this.request.model = model;
  }

  async init(): Promise<void> {
    if (!this.unlisten) this.unlisten = await this.t.onBench((e) => this.onEvent(e));
    await this.refresh();
  }

  dispose(): void {
    this.unlisten?.();
    this.unlisten = null;
  }

  async refresh(): Promise<void> {
    try {
      this.runs = await this.t.benchRuns();
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  toggleEngine(engine: string, on: boolean): void {
    const rest = this.request.engines.filter((e) => e !== engine);
    this.request.engines = on ? [...rest, engine].sort() : rest;
  }

  async start(): Promise<void> {
    this.error = null;
    this.notice = '';
    this.progress = {};
    try {
      this.outDir = await this.t.startBench({ ...this.request, engines: [...this.request.engines] });
      this.running = true;
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  async cancel(): Promise<void> {
    this.cancelling = await this.t.cancelBench();
  }

  async open(id: number): Promise<void> {
    try {
      this.report = await this.t.benchReport(id);
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  async remove(id: number): Promise<void> {
    try {
      await this.t.deleteBenchRun(id);
      if (this.report?.run.id === id) this.report = null;
      await this.refresh();
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  async exportAs(format: 'json' | 'csv' | 'markdown'): Promise<void> {
    if (!this.report) return;
    try {
      const path = await this.t.exportBench(this.report.run.id, format);
      if (path) this.notice = `Exported to ${path}`;
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  async openFolder(): Promise<void> {
    if (!this.report) return;
    try {
      await this.t.openBenchFolder(this.report.run.id);
    } catch (e) {
      this.error = errorOf(e);
    }
  }

  onEvent(e: BenchEvent): void {
    switch (e.kind) {
      case 'started':
        this.running = true;
        this.outDir = e.out_dir;
        break;
      case 'progress':
        this.progress[e.engine] = { done: e.done, total: e.total, eta_s: e.eta_s };
        break;
      case 'finished':
        this.running = false;
        this.cancelling = false;
        void this.refresh().then(() => this.open(e.run.id));
        break;
      case 'failed':
        this.running = false;
        this.cancelling = false;
        this.error = e.error;
        void this.refresh();
        break;
    }
  }
}

export function eta(s: number | null): string {
  if (s == null) return '';
  const r = Math.round(s);
  return r >= 60 ? `${Math.floor(r / 60)}m${String(r % 60).padStart(2, '0')}s` : `${r}s`;
}
