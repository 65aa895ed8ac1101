#!/usr/bin/env python3
"""Figures for the OpenAI endpoint, with the official `openai` client against a running
`parallax serve`:

1. the latency the HTTP layer adds: client-side TTFT (request sent -> first content chunk)
   minus the engine's own in-process TTFT (the `timings.ttft_ms` the server reports for the
   same request), median of N streamed requests;
2. throughput with 8 concurrent clients: generated tokens (from `usage`) / wall time.

Usage: .venv/bin/python scripts/bench/endpoint_overhead.py [BASE_URL] [MODEL]
"""
import asyncio
import statistics
import sys
import time

import openai

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:11480/v1"
MODEL = sys.argv[2] if len(sys.argv) > 2 else "smollm2-135m-instruct-q4_1@gguf"
N = 20
MESSAGES = [{"role": "user", "content": "Write one sentence about the sea."}]


def overhead(client):
    diffs, client_ttfts = [], []
    for _ in range(N + 1):  # the first request loads the model: not counted
        start = time.perf_counter()
        first = None
        server_ttft = None
        for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0, stream=True):
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
            extra = chunk.model_extra or {}
            if "timings" in extra:
                server_ttft = extra["timings"]["ttft_ms"]
        client_ttft = (first - start) * 1000
        client_ttfts.append(client_ttft)
        diffs.append(client_ttft - server_ttft)
    diffs, client_ttfts = diffs[1:], client_ttfts[1:]
    print(f"HTTP layer: client TTFT median {statistics.median(client_ttfts):.2f} ms, "
          f"added over in-process TTFT: median {statistics.median(diffs):.2f} ms "
          f"(min {min(diffs):.2f}, max {max(diffs):.2f}, n={len(diffs)})")


async def concurrent(clients=8, max_tokens=64):
    client = openai.AsyncOpenAI(base_url=BASE, api_key="unused", max_retries=0, timeout=600)

    async def one(i):
        r = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"Tell me fact number {i} about the sea."}],
            max_tokens=max_tokens, temperature=0.7, seed=i, stream=True, stream_options={"include_usage": True})
        tokens = 0
        async for chunk in r:
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        return tokens

    single_start = time.perf_counter()
    single = await one(100)
    single_s = time.perf_counter() - single_start
    start = time.perf_counter()
    counts = await asyncio.gather(*(one(i) for i in range(clients)))
    wall = time.perf_counter() - start
    await client.close()
    print(f"1 client: {single} tokens in {single_s:.2f} s = {single / single_s:.1f} tok/s; "
          f"{clients} concurrent clients: {sum(counts)} tokens in {wall:.2f} s = {sum(counts) / wall:.1f} tok/s aggregate "
          f"(requests to one model are queued, not batched)")


def main():
    client = openai.OpenAI(base_url=BASE, api_key="unused", max_retries=0, timeout=600)
    print(f"model {MODEL} at {BASE}")
    overhead(client)
    asyncio.run(concurrent())


if __name__ == "__main__":
    main()
