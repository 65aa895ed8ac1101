#!/usr/bin/env python3
"""The official `anthropic` Python package against a running `parallax serve` (its Messages API).

Usage: anthropic_test.py BASE_URL API_KEY MODEL [MODEL ...]   (BASE_URL as for client_test.py, …/v1)
Run by crates/cli/tests/openai_clients.rs; prints one line per check and `N passed, N failed`.
"""
import json
import sys

import anthropic

from checks import check, tally

BASE, KEY, MODELS = sys.argv[1].removesuffix("/v1"), sys.argv[2], sys.argv[3:]
client = anthropic.Anthropic(base_url=BASE, api_key=KEY, max_retries=0, timeout=300)
WEATHER = {"name": "get_weather", "description": "Current weather of a city",
           "input_schema": {"type": "object", "additionalProperties": False, "required": ["city"],
                            "properties": {"city": {"type": "string", "maxLength": 20}}}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def per_model(model):
    def message():
        r = client.messages.create(model=model, max_tokens=12, extra_body={"temperature": 0}, system="You are terse.",
                                   messages=[{"role": "user", "content": "Name three colours."}])
        assert r.role == "assistant" and r.content[0].type == "text" and r.content[0].text, r
        assert r.stop_reason in ("end_turn", "max_tokens") and r.usage.output_tokens > 0, r

    def streamed():
        whole = client.messages.create(model=model, max_tokens=12, extra_body={"temperature": 0},
                                       messages=[{"role": "user", "content": "Name three colours."}])
        with client.messages.stream(model=model, max_tokens=12, extra_body={"temperature": 0},
                                    messages=[{"role": "user", "content": "Name three colours."}]) as s:
            text = "".join(s.text_stream)
            final = s.get_final_message()
        assert text == whole.content[0].text, (text, whole)
        assert final.usage.output_tokens == whole.usage.output_tokens, final

    def stop_sequence():
        ask = dict(model=model, max_tokens=16, extra_body={"temperature": 0},
                   messages=[{"role": "user", "content": "Name three colours."}])
        text = client.messages.create(**ask).content[0].text
        assert len(text) > 6, text
        stop = text[3:6]
        r = client.messages.create(stop_sequences=[stop, "never-said"], **ask)
        assert r.stop_reason == "stop_sequence" and r.stop_sequence == stop, r
        assert r.content[0].text == text[:text.find(stop)], (r, text)

    def tool_round_trip():
        r = client.messages.create(model=model, max_tokens=64, extra_body={"temperature": 0}, tools=[WEATHER],
                                   tool_choice={"type": "any"}, messages=ASK)
        assert r.stop_reason == "tool_use", r
        use = next(b for b in r.content if b.type == "tool_use")
        assert use.name == "get_weather" and isinstance(use.input["city"], str), use
        turns = ASK + [{"role": "assistant", "content": [b.model_dump() for b in r.content]},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                     "content": json.dumps({"celsius": 21})}]}]
        final = client.messages.create(model=model, max_tokens=16, extra_body={"temperature": 0}, tools=[WEATHER],
                                       tool_choice={"type": "none"}, messages=turns)
        assert final.content[0].type == "text" and final.content[0].text, final

    def streamed_tool_use():
        with client.messages.stream(model=model, max_tokens=64, extra_body={"temperature": 0}, tools=[WEATHER],
                                    tool_choice={"type": "tool", "name": "get_weather"}, messages=ASK) as s:
            final = s.get_final_message()
        use = [b for b in final.content if b.type == "tool_use"]
        assert final.stop_reason == "tool_use" and use and use[0].input.get("city"), final

    def count_tokens():
        n = client.messages.count_tokens(model=model, messages=ASK).input_tokens
        r = client.messages.create(model=model, max_tokens=2, messages=ASK)
        assert n == r.usage.input_tokens, (n, r.usage)

    for name, fn in [("message", message), ("streamed message", streamed), ("stop_sequences", stop_sequence),
                     ("tool round trip", tool_round_trip),
                     ("streamed tool_use", streamed_tool_use), ("count_tokens", count_tokens)]:
        check(f"{model}: {name}", fn)


def errors():
    def no_max_tokens():
        try:
            client.messages.create(model=MODELS[0], messages=ASK, max_tokens=None)
        except (anthropic.BadRequestError, TypeError) as e:
            if isinstance(e, anthropic.BadRequestError):
                assert e.status_code == 400 and e.body["error"]["type"] == "invalid_request_error", e.body
                assert "max_tokens" in e.body["error"]["message"], e.body
            return
        raise AssertionError("expected a 400")

    def raw_without_max_tokens():
        import httpx2 as httpx
        r = httpx.post(f"{BASE}/v1/messages", headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
                       json={"model": MODELS[0], "messages": ASK}, timeout=60)
        assert r.status_code == 400 and r.json()["type"] == "error", r.text
        assert "max_tokens" in r.json()["error"]["message"], r.text

    def wrong_key():
        bad = anthropic.Anthropic(base_url=BASE, api_key="wrong", max_retries=0)
        try:
            bad.messages.create(model=MODELS[0], max_tokens=2, messages=ASK)
        except anthropic.AuthenticationError as e:
            assert e.status_code == 401
            return
        raise AssertionError("expected a 401")

    check("no max_tokens -> 400", no_max_tokens)
    check("no max_tokens (raw) -> 400 in Anthropic's shape", raw_without_max_tokens)
    check("wrong x-api-key -> 401", wrong_key)


for m in MODELS:
    per_model(m)
errors()
tally("anthropic")
