// A reasoning model's <think>…</think> block, split from its answer for display (the endpoint
// splits it server-side as reasoning_content; the chat keeps the whole reply and shows the
// block collapsed). `open`: the block has not closed yet (still streaming).
export type Reasoning = { reasoning: string | null; answer: string; open: boolean };

export function splitReasoning(text: string): Reasoning {
  const start = text.trimStart();
  if (!start.startsWith('<think>')) return { reasoning: null, answer: text, open: false };
  const body = start.slice('<think>'.length);
  const close = body.indexOf('</think>');
  if (close < 0) return { reasoning: body.trim(), answer: '', open: true };
  return { reasoning: body.slice(0, close).trim(), answer: body.slice(close + '</think>'.length).trimStart(), open: false };
}
