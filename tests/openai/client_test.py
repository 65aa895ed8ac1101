#!/usr/bin/env python3
"""The official `openai` Python package against a running `parallax serve`.

Usage: client_test.py BASE_URL API_KEY MODEL [MODEL ...]   (e.g. http://127.0.0.1:PORT/v1)
Run by crates/cli/tests/openai_clients.rs; prints one line per check and `N passed, N failed`.
"""
import asyncio
import http.client
import json
import sys
import time
import urllib.parse

import openai

from checks import check, tally

BASE, KEY, MODELS = sys.argv[1], sys.argv[2], sys.argv[3:]
URL = urllib.parse.urlparse(BASE)
client = openai.OpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=300)
QUESTION = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three colours."}]


def raw(method, path, body=b"", headers=None):
    """A request the client library cannot make (malformed JSON, a foreign Host)."""
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=60)
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **(headers or {})}
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()


def expect_error(cls, status, fn, code=None, param=None):
    try:
        fn()
    except cls as e:
        assert e.status_code == status, e.status_code
        err = e.body if isinstance(e.body, dict) else {}
        assert code is None or err.get("code") == code, err
        assert param is None or err.get("param") == param, err
        return
    raise AssertionError(f"expected {cls.__name__}")


def per_model(model):
    def chat(max_tokens=8, **kw):
        return client.chat.completions.create(model=model, messages=QUESTION, max_tokens=max_tokens, temperature=0, **kw)

    def non_streamed():
        r = chat()
        assert r.choices[0].message.role == "assistant" and r.choices[0].message.content, r
        assert r.usage.completion_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        assert r.model.startswith(model.split("@")[0])

    def streamed_with_usage():
        whole = chat().choices[0].message.content
        stream = chat(stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole, (text, whole)
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0 and not chunks[-1].choices
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")

    def stop_sequence():
        whole = chat().choices[0].message.content
        stop = whole[3]
        cut = chat(stop=[stop]).choices[0]
        assert cut.message.content == whole[: whole.index(stop)], (whole, stop, cut.message.content)
        assert cut.finish_reason == "stop"

    def seed_reproduces():
        a = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8, temperature=1.0, seed=1234)
        b = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8, temperature=1.0, seed=1234)
        assert a.choices[0].message.content == b.choices[0].message.content

    def logprobs():
        r = chat(logprobs=True, top_logprobs=2)
        content = r.choices[0].logprobs.content
        assert len(content) == r.usage.completion_tokens and all(t.logprob <= 0 for t in content)

    def concurrent_streams():
        aclient = openai.AsyncOpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=600)

        async def one(i):
            stream = await aclient.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"Count to {i + 3}."}], max_tokens=6, temperature=0, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        async def all_of():
            try:
                return await asyncio.gather(*(one(i) for i in range(8)))
            finally:
                await aclient.close()

        texts = asyncio.run(all_of())
        assert len(texts) == 8 and all(texts), texts

    def disconnect_then_success():
        stream = chat(stream=True, max_tokens=200)
        it = iter(stream)
        next(it)
        next(it)
        stream.close()
        # The server notices at its next token and frees the queue; then a request succeeds.
        deadline = time.time() + 60
        while time.time() < deadline:
            _, _, body = raw("GET", "/health")
            if all(m["queued"] == 0 for m in json.loads(body)["loaded"]):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the abandoned generation never stopped")
        assert chat().choices[0].message.content

    def json_schema_answer():
        schema = {"type": "object", "additionalProperties": False, "required": ["colours", "count"],
                  "properties": {"colours": {"type": "array", "items": {"type": "string", "maxLength": 12},
                                             "minItems": 3, "maxItems": 3},
                                 "count": {"type": "integer", "minimum": 0, "maximum": 9}}}
        r = client.chat.completions.create(
            model=model, messages=QUESTION, max_tokens=80, temperature=1.0, seed=3,
            response_format={"type": "json_schema", "json_schema": {"name": "colours", "schema": schema, "strict": True}})
        v = json.loads(r.choices[0].message.content)
        assert set(v) == {"colours", "count"} and len(v["colours"]) == 3 and 0 <= v["count"] <= 9, v

    def json_object_streamed():
        stream = chat(max_tokens=48, stream=True, response_format={"type": "json_object"})
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.lstrip().startswith("{"), text

    def n_and_sampling_extras():
        r = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=6, temperature=1.0, seed=9, n=3,
                                           extra_body={"top_k": 1, "min_p": 0.1, "repetition_penalty": 1.1})
        texts = [c.message.content for c in r.choices]
        assert [c.index for c in r.choices] == [0, 1, 2], r
        # top_k 1 keeps one candidate: every choice is the same text whatever its seed.
        assert len(set(texts)) == 1, texts

    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["city"],
                       "properties": {"city": {"type": "string", "maxLength": 20}}}}}
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]

    def tool_round_trip():
        r = client.chat.completions.create(model=model, messages=ask, tools=[weather], tool_choice="required",
                                           max_tokens=64, temperature=0)
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        call = choice.message.tool_calls[0]
        assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments)["city"], str)
        turns = ask + [choice.message.model_dump(exclude_none=True),
                       {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"celsius": 21})}]
        final = client.chat.completions.create(model=model, messages=turns, tools=[weather], tool_choice="none",
                                               max_tokens=16, temperature=0)
        assert final.choices[0].message.content and not final.choices[0].message.tool_calls, final

    def streamed_tool_call():
        stream = client.chat.completions.create(
            model=model, messages=ask, tools=[weather], max_tokens=64, temperature=0, stream=True,
            tool_choice={"type": "function", "function": {"name": "get_weather"}})
        name, args, reasons = "", "", []
        for c in stream:
            for call in c.choices[0].delta.tool_calls or []:
                name += call.function.name or ""
                args += call.function.arguments or ""
            reasons.append(c.choices[0].finish_reason)
        assert name == "get_weather" and "city" in json.loads(args) and reasons[-1] == "tool_calls", (name, args)

    resp_weather = {"type": "function", **weather["function"]}

    def responses_api():
        r = client.responses.create(model=model, input="Name three colours.", instructions="You are terse.",
                                    max_output_tokens=12, temperature=0)
        assert r.output_text and r.status in ("completed", "incomplete"), r
        events = list(client.responses.create(model=model, input="Name three colours.", instructions="You are terse.",
                                              max_output_tokens=12, temperature=0, stream=True))
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == r.output_text, (text, r.output_text)
        assert events[0].type == "response.created" and events[-1].type in ("response.completed", "response.incomplete")
        assert [e.sequence_number for e in events] == list(range(len(events)))

    def responses_function_tools():
        r = client.responses.create(model=model, input=ask, tools=[resp_weather], tool_choice="required",
                                    max_output_tokens=64, temperature=0)
        call = next(o for o in r.output if o.type == "function_call")
        assert call.name == "get_weather" and "city" in json.loads(call.arguments), call
        final = client.responses.create(
            model=model, tools=[resp_weather], tool_choice="none", max_output_tokens=16, temperature=0,
            input=ask + [call.model_dump(exclude_none=True),
                         {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"celsius": 21})}])
        assert final.output_text, final

    for name, fn in [("chat", non_streamed), ("streamed chat + include_usage", streamed_with_usage),
                     ("responses: create, streamed events", responses_api),
                     ("responses: function call round trip", responses_function_tools),
                     ("tool round trip: call, result, final answer", tool_round_trip),
                     ("streamed tool call", streamed_tool_call),
                     ("json_schema answer validates", json_schema_answer),
                     ("json_object streamed", json_object_streamed),
                     ("n = 3 with top_k / min_p / repetition_penalty", n_and_sampling_extras),
                     ("stop sequence", stop_sequence), ("seed reproduces", seed_reproduces), ("logprobs", logprobs),
                     ("8 concurrent streams", concurrent_streams), ("disconnect mid-stream, then success", disconnect_then_success)]:
        check(f"{model}: {name}", fn)


def errors():
    model = MODELS[0]
    ok_chat = dict(model=model, messages=QUESTION, max_tokens=4)
    check("malformed JSON -> 400", lambda: (lambda s: None if s[0] == 400 else (_ for _ in ()).throw(AssertionError(s)))(raw("POST", "/v1/chat/completions", b"{nope")))
    check("missing messages -> 400 param", lambda: expect_error(openai.BadRequestError, 400, lambda: client.chat.completions.create(model=model, messages=[], max_tokens=4), param="messages"))
    check("wrong type -> 400 param", lambda: expect_error(openai.BadRequestError, 400, lambda: client.chat.completions.create(**ok_chat, temperature="hot"), param="temperature"))
    bad_schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "not": {}}}}
    check("schema that does not compile -> 400 param", lambda: expect_error(openai.BadRequestError, 400, lambda: client.chat.completions.create(**ok_chat, response_format=bad_schema), param="response_format"))
    check("tool_choice naming no tool -> 400 param", lambda: expect_error(openai.BadRequestError, 400, lambda: client.chat.completions.create(**ok_chat, tools=[{"type": "function", "function": {"name": "f"}}], tool_choice={"type": "function", "function": {"name": "g"}}), param="tool_choice"))
    check("tool message without tool_call_id -> 400", lambda: expect_error(openai.BadRequestError, 400, lambda: client.chat.completions.create(**{**ok_chat, "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}]})))
    check("responses: previous_response_id -> 400 param", lambda: expect_error(openai.BadRequestError, 400, lambda: client.responses.create(model=model, input="hi", previous_response_id="resp_1"), param="previous_response_id"))
    check("n out of range -> 400 param", lambda: expect_error(openai.BadRequestError, 400, lambda: client.chat.completions.create(**ok_chat, n=9), param="n"))
    check("unknown model -> 404", lambda: expect_error(openai.NotFoundError, 404, lambda: client.chat.completions.create(**{**ok_chat, "model": "no-such-model"}), code="model_not_found"))
    check("prompt over the context -> 400", lambda: expect_error(openai.BadRequestError, 400, lambda: client.chat.completions.create(**{**ok_chat, "messages": [{"role": "user", "content": "word " * 9000}]}), code="context_length_exceeded"))
    check("body too large -> 413", lambda: expect_error(openai.APIStatusError, 413, lambda: client.chat.completions.create(**{**ok_chat, "messages": [{"role": "user", "content": "x" * (5 << 20)}]})))
    wrong_key = openai.OpenAI(base_url=BASE, api_key="wrong", max_retries=0)
    check("wrong key -> 401", lambda: expect_error(openai.AuthenticationError, 401, lambda: wrong_key.models.list()))

    def foreign_host():
        status, _, _ = raw("GET", "/v1/models", headers={"Host": "attacker.example"})
        assert status == 403, status

    def origins():
        _, h, _ = raw("GET", "/v1/models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in h, h
        _, h, _ = raw("GET", "/v1/models", headers={"Origin": "http://localhost:5173"})
        assert h.get("access-control-allow-origin") == "http://localhost:5173", h

    check("foreign Host -> 403", foreign_host)
    check("CORS: allowlisted origin echoed, foreign never", origins)

    def embeddings():
        r = client.embeddings.create(model="all-minilm-l6-v2", input=["a red apple", "a red apple"])
        assert len(r.data) == 2 and len(r.data[0].embedding) == 384 and r.data[0].embedding == r.data[1].embedding
        assert r.usage.prompt_tokens > 0

    check("embeddings (client default: base64)", embeddings)
    check("models list", lambda: (lambda ids: None if f"{MODELS[0]}" in ids else (_ for _ in ()).throw(AssertionError(ids)))([m.id for m in client.models.list()]))
    check("server still healthy", lambda: (lambda s: None if s[0] == 200 else (_ for _ in ()).throw(AssertionError(s)))(raw("GET", "/health")))


for m in MODELS:
    per_model(m)
errors()
tally("python")
