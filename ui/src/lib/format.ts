import type { EngineStatus, ModelOption } from './bindings';

// Numbers as people read them.
export function bytes(b: number): string {
  if (b >= 1e9) return `${(b / 1e9).toFixed(2)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(0)} kB`;
  return `${b} B`;
}

export function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`;
}

export function engineName(e: string | null | undefined): string {
  return e === 'mlx' ? 'MLX' : e === 'gguf' ? 'GGUF' : (e ?? '');
}

/** The models an engine runs: a remote engine's own (from its server), else the local ones. */
export function modelsFor(models: ModelOption[], engines: EngineStatus[] | undefined, engine: string): ModelOption[] {
  const remote = engines?.find((e) => e.name === engine)?.remote ?? false;
  return models.filter((m) => (remote ? m.remote === engine : m.remote == null));
}
