"""The OpenAI <-> Anthropic Messages translator, and the fake Anthropic API it is tested against.

The fake is checked against the official ``anthropic`` SDK; the translator's output is read by
the official ``openai`` SDK through a tiny gateway (chat_request -> mock -> ChatStream).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironplane.core.errors import InvalidError, UnavailableError
from ironplane.gateway.providers.anthropic import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    ChatStream,
    chat_request,
    chat_response,
    error_response,
    stream_include_usage,
)
from tests.gateway.anthropic_mock import (
    AnthropicMock,
    anthropic_upstream,
    check_body,
    error_body,
    make_message,
    stream_events,
)

UPSTREAM = "claude-upstream-1"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def translate(**request: Any) -> dict[str, Any]:
    """chat_request on a dict; the result must also pass the fake API's request checks."""
    body, stream = chat_request(json.dumps(request).encode(), UPSTREAM)
    out = json.loads(body)
    assert stream is bool(request.get("stream"))
    assert check_body(out) is None, check_body(out)
    return out


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


# --- requests -------------------------------------------------------------------------------


def test_request_basics_system_and_dropped_fields() -> None:
    out = translate(
        model="my-claude",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            user("Hi"),
        ],
        frequency_penalty=0.5,
        presence_penalty=0.1,
        logit_bias={"50256": -100},
        seed=7,
        response_format={"type": "json_object"},
        n=1,
        logprobs=False,
        stream_options={"include_usage": True},
    )
    assert out == {
        "model": UPSTREAM,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "Be brief.\n\nUse metric.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }


def test_request_sampling_stop_user_and_stream() -> None:
    out = translate(
        model="m",
        messages=[user("Hi")],
        max_tokens=10,
        max_completion_tokens=20,
        temperature=0.3,
        top_p=1,
        stop=["END", "", "STOP"],
        user="alice",
        stream=True,
    )
    assert out["max_tokens"] == 20
    assert (out["temperature"], out["top_p"]) == (0.3, 1)
    assert out["stop_sequences"] == ["END", "STOP"]
    assert out["metadata"] == {"user_id": "alice"}
    assert out["stream"] is True
    assert translate(model="m", messages=[user("x")], stop="###")["stop_sequences"] == ["###"]
    assert translate(model="m", messages=[user("x")], max_tokens=5)["max_tokens"] == 5


def test_request_merges_roles_and_images() -> None:
    out = translate(
        model="m",
        messages=[
            user("one"),
            {"role": "system", "content": "late system"},
            user(
                [
                    {"type": "text", "text": "two"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/cat.jpg", "detail": "low"},
                    },
                ]
            ),
            {"role": "assistant", "content": "a1"},
            {"role": "assistant", "content": [{"type": "text", "text": "a2"}]},
            {"role": "assistant", "content": ""},
            user("three"),
        ],
    )
    assert out["system"] == "late system"
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "one"},
                {"type": "text", "text": "two"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a1"}, {"type": "text", "text": "a2"}],
        },
        {"role": "user", "content": [{"type": "text", "text": "three"}]},
    ]


def test_request_tool_round_trip() -> None:
    out = translate(
        model="m",
        messages=[
            user("Weather in Oslo and Rome?"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "20C"}],
            },
            user("Thanks; which is warmer?"),
        ],
        tools=[WEATHER],
        tool_choice="auto",
    )
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert out["tool_choice"] == {"type": "auto"}
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},
        ],
    }
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "12C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "20C"},
            {"type": "text", "text": "Thanks; which is warmer?"},
        ],
    }


def test_tool_results_lead_their_user_turn() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    out = translate(
        model="m",
        messages=[
            user("q"),
            {"role": "assistant", "tool_calls": [call]},
            user("note"),
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
        ],
        tools=[WEATHER],
    )
    assert [block["type"] for block in out["messages"][2]["content"]] == ["tool_result", "text"]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, None, None),
    ],
)
def test_tool_choice(choice: Any, parallel: bool | None, expected: dict[str, Any] | None) -> None:
    request: dict[str, Any] = {"model": "m", "messages": [user("x")], "tools": [WEATHER]}
    if choice is not None:
        request["tool_choice"] = choice
    if parallel is not None:
        request["parallel_tool_calls"] = parallel
    assert translate(**request).get("tool_choice") == expected


def test_tool_defaults_and_no_tools() -> None:
    bare = {"type": "function", "function": {"name": "ping"}}
    out = translate(model="m", messages=[user("x")], tools=[bare], tool_choice="none")
    assert out["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]
    out = translate(
        model="m", messages=[user("x")], tools=[], tool_choice="auto", parallel_tool_calls=False
    )
    assert "tools" not in out and "tool_choice" not in out


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    out = translate(
        model="m", messages=[user("Say a word"), {"role": "assistant", "content": "The word is: "}]
    )
    assert out["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The word is:"}],
    }
    out = translate(
        model="m", messages=[user("Say a word"), {"role": "assistant", "content": "  "}]
    )
    assert [m["role"] for m in out["messages"]] == ["user"]


def test_stream_include_usage() -> None:
    assert stream_include_usage(b'{"stream": true, "stream_options": {"include_usage": true}}')
    assert not stream_include_usage(b'{"stream": true}')
    assert not stream_include_usage(b'{"stream_options": {"include_usage": "yes"}}')


_MSG = [user("x")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "request body: not valid JSON"),
        (b"[1, 2]", "request body: expected an object, got an array"),
        (b'{"model": "m"}', "messages: got null; send a non-empty array"),
        ({"messages": []}, "messages: empty"),
        ({"messages": "hi"}, "messages: got a string"),
        ({"messages": [1]}, "messages[0]: expected an object, got a number"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role: got 'function'"),
        (
            {"messages": [{"role": "user"}]},
            "messages[0].content: expected a string or an array of content parts, got null",
        ),
        (
            {"messages": [user("a"), user([{"type": "input_audio", "input_audio": {}}])]},
            "messages[1].content[0].type: 'input_audio' parts are not supported; send text or image_url parts",
        ),
        (
            {"messages": [user([{"type": "text"}])]},
            "messages[0].content[0].text: expected a string, got null",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url"}]}, user("x")]},
            "messages[0].content[0].type: 'image_url' parts are not supported; send text parts",
        ),
        (
            {
                "messages": [
                    user(
                        [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]
                    )
                ]
            },
            "messages[0].content[0].image_url.url: image type 'image/bmp' is not supported",
        ),
        (
            {
                "messages": [
                    user([{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}])
                ]
            },
            "not base64-encoded",
        ),
        (
            {"messages": [user([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}])]},
            "messages[0].content[0].image_url.url: unsupported URL scheme",
        ),
        (
            {"messages": [user([{"type": "image_url", "image_url": {}}])]},
            "messages[0].content[0].image_url.url: expected a non-empty string, got null",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "function": {"name": "f", "arguments": "{oops"}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments: not valid JSON",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments: expected an object, got an array",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]},
            "messages[0].tool_calls[0].id: expected a non-empty string, got null",
        ),
        (
            {"messages": [{"role": "assistant", "function_call": {"name": "f"}}]},
            "messages[0].function_call: legacy function calls are not supported",
        ),
        (
            {"messages": [{"role": "tool", "content": "r"}]},
            "messages[0].tool_call_id: expected a non-empty string, got null; send the id of the assistant tool call",
        ),
        (
            {"messages": [{"role": "assistant", "content": ""}]},
            "messages: no user or assistant message has content",
        ),
        (
            {"messages": _MSG, "n": 2},
            "n: got 2; Anthropic models return one choice per request; send n=1",
        ),
        ({"messages": _MSG, "logprobs": True}, "logprobs: not available"),
        (
            {"messages": _MSG, "functions": [{"name": "f"}]},
            "functions: the legacy functions API is not supported; send tools instead",
        ),
        (
            {"messages": _MSG, "temperature": 1.5},
            "temperature: got 1.5; Anthropic models accept 0 to 1",
        ),
        ({"messages": _MSG, "top_p": "high"}, "top_p: got 'high'"),
        ({"messages": _MSG, "max_tokens": 0}, "max_tokens: expected a positive integer, got 0"),
        (
            {"messages": _MSG, "max_completion_tokens": True},
            "max_completion_tokens: expected a positive integer, got True",
        ),
        ({"messages": _MSG, "stop": [1]}, "stop: got [1]; send a string or an array of strings"),
        ({"messages": _MSG, "user": 5}, "user: expected a string, got a number"),
        ({"messages": _MSG, "stream": "yes"}, "stream: expected a boolean, got a string"),
        ({"messages": _MSG, "tools": {"x": 1}}, "tools: expected an array, got an object"),
        (
            {"messages": _MSG, "tools": [{"type": "web_search"}]},
            "tools[0].type: got 'web_search'; send function tools only",
        ),
        (
            {"messages": _MSG, "tools": [{"type": "function", "function": {"parameters": {}}}]},
            "tools[0].function.name: expected a non-empty string, got null",
        ),
        (
            {
                "messages": _MSG,
                "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}],
            },
            "tools[0].function.parameters: expected an object, got an array",
        ),
        (
            {
                "messages": _MSG,
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            "tool_choice.function.name: no tool named 'nope'",
        ),
        (
            {"messages": _MSG, "tools": [WEATHER], "tool_choice": "sometimes"},
            "tool_choice: got 'sometimes'",
        ),
        (
            {"messages": _MSG, "tool_choice": "required"},
            "tool_choice: 'required' needs tools; send tools or drop tool_choice",
        ),
        (
            {"messages": _MSG, "tools": [WEATHER], "parallel_tool_calls": "no"},
            "parallel_tool_calls: got a string",
        ),
    ],
)
def test_request_refusals_name_the_field(body: bytes | dict[str, Any], message: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps({"model": "m", **body}).encode()
    with pytest.raises(InvalidError) as info:
        chat_request(raw, UPSTREAM)
    assert message in str(info.value)


# --- responses ------------------------------------------------------------------------------


def test_response_text() -> None:
    message = make_message(
        text="Hello there.", input_tokens=30, cache_read_input_tokens=5, output_tokens=4
    )
    message["usage"]["cache_creation_input_tokens"] = 2
    body, prompt, completion = chat_response(json.dumps(message).encode(), "my-claude")
    out = json.loads(body)
    assert (prompt, completion) == (37, 4)
    assert out["id"] == "chatcmpl-" + message["id"]
    assert out["object"] == "chat.completion" and out["model"] == "my-claude"
    assert isinstance(out["created"], int) and out["created"] > 1_700_000_000
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 37,
        "completion_tokens": 4,
        "total_tokens": 41,
        "prompt_tokens_details": {"cached_tokens": 5},
    }


def test_response_tool_use_and_thinking_blocks() -> None:
    message = make_message(tool=("get_weather", {"city": "Oslo", "days": [1, 2]}))
    message["content"].insert(0, {"type": "thinking", "thinking": "hmm", "signature": "sig"})
    out = json.loads(chat_response(json.dumps(message).encode(), "m")[0])
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == message["content"][1]["id"] and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo", "days": [1, 2]}


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("something_new", "stop"),
    ],
)
def test_response_finish_reasons(stop_reason: str, finish: str) -> None:
    message = make_message(text="x", stop_reason=stop_reason)
    assert (
        json.loads(chat_response(json.dumps(message).encode(), "m")[0])["choices"][0][
            "finish_reason"
        ]
        == finish
    )


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502</html>",
        b'{"type": "error", "error": {}}',
        b"[]",
        b'{"type": "message", "content": 5}',
    ],
)
def test_response_refuses_what_is_not_a_message(body: bytes) -> None:
    with pytest.raises(UnavailableError):
        chat_response(body, "m")


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "openai_type"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "authentication_error"),
        (403, "permission_error", "permission_error"),
        (404, "not_found_error", "not_found_error"),
        (413, "request_too_large", "invalid_request_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "api_error", "server_error"),
        (529, "overloaded_error", "server_error"),
        (418, "teapot_error", "invalid_request_error"),
    ],
)
def test_error_response_maps_anthropic_errors(status: int, kind: str, openai_type: str) -> None:
    body = error_body(kind, "Something went wrong")
    error = json.loads(error_response(status, body))["error"]
    request_id = json.loads(body)["request_id"]
    assert error == {
        "message": f"Something went wrong (upstream request_id {request_id})",
        "type": openai_type,
        "param": None,
        "code": kind,
    }


@pytest.mark.parametrize(
    ("status", "body", "openai_type", "message"),
    [
        (
            502,
            b"<html><body>Bad   gateway</body></html>",
            "server_error",
            "the upstream answered HTTP 502: <html><body>Bad gateway</body></html>",
        ),
        (429, b"", "rate_limit_error", "the upstream answered HTTP 429"),
        (
            400,
            b'{"detail": "nope"}',
            "invalid_request_error",
            'the upstream answered HTTP 400: {"detail": "nope"}',
        ),
        (
            503,
            b"\xff\xfe\x00garbage",
            "server_error",
            "the upstream answered HTTP 503: \ufffd\ufffd\x00garbage",
        ),
        (
            401,
            b'{"error": {"message": 5}}',
            "authentication_error",
            "the upstream failed with HTTP 401",
        ),
    ],
)
def test_error_response_survives_garbage(
    status: int, body: bytes, openai_type: str, message: str
) -> None:
    error = json.loads(error_response(status, body))["error"]
    assert error == {"message": message, "type": openai_type, "param": None, "code": None}


def test_error_response_truncates_long_garbage() -> None:
    error = json.loads(error_response(500, b"x" * 10_000))["error"]
    assert len(error["message"]) < 250


# --- streams --------------------------------------------------------------------------------


def sse_payloads(raw: bytes) -> list[Any]:
    """OpenAI SSE bytes -> the data payloads ("[DONE]" kept as a string), checking the framing."""
    assert raw.endswith(b"\n\n") or raw == b""
    out: list[Any] = []
    for event in raw.decode().split("\n\n")[:-1]:
        assert event.startswith("data: ") and "\n" not in event, event
        data = event[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def run_stream(
    chunks: list[bytes], include_usage: bool = True, model: str = "my-claude"
) -> tuple[list[Any], ChatStream]:
    stream = ChatStream(model, include_usage)
    raw = b"".join(stream.feed(chunk) for chunk in chunks) + stream.finish()
    assert stream.finish() == b""
    return sse_payloads(raw), stream


def assemble(payloads: list[Any]) -> dict[str, Any]:
    """What an OpenAI client reconstructs from the chunks."""
    text, calls, finish, usage = "", {}, None, None
    for payload in payloads:
        if payload == "[DONE]" or "error" in payload:
            continue
        if not payload["choices"]:
            usage = payload["usage"]
            continue
        choice = payload["choices"][0]
        text += choice["delta"].get("content") or ""
        for call in choice["delta"].get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
            entry["id"] = call.get("id") or entry["id"]
            entry["name"] = call.get("function", {}).get("name") or entry["name"]
            entry["arguments"] += call.get("function", {}).get("arguments", "")
        finish = choice["finish_reason"] or finish
    return {
        "text": text,
        "calls": [calls[i] for i in sorted(calls)],
        "finish": finish,
        "usage": usage,
    }


def test_stream_text_with_usage() -> None:
    message = make_message(
        text="Hello there, world.", input_tokens=40, cache_read_input_tokens=8, output_tokens=5
    )
    payloads, stream = run_stream(stream_events(message))
    assert payloads[-1] == "[DONE]"
    first, *chunks, usage_chunk, _ = payloads
    for payload in [first, *chunks, usage_chunk]:
        assert payload["id"] == "chatcmpl-" + message["id"]
        assert payload["object"] == "chat.completion.chunk"
        assert payload["model"] == "my-claude" and isinstance(payload["created"], int)
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert all(chunk["usage"] is None for chunk in chunks)
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert [c["choices"][0]["delta"]["content"] for c in chunks[:-1]] == [
        "Hello",
        " there,",
        " world.",
    ]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 48,
        "completion_tokens": 5,
        "total_tokens": 53,
        "prompt_tokens_details": {"cached_tokens": 8},
    }
    assert (stream.prompt_tokens, stream.completion_tokens) == (48, 5)


def test_stream_tool_calls_without_usage() -> None:
    message = make_message(text="Let me check.", tool=("get_weather", {"city": "Oslo"}))
    message["content"].append(
        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {"tz": "CET"}}
    )
    payloads, _ = run_stream(stream_events(message), include_usage=False)
    assert payloads[-1] == "[DONE]" and all("usage" not in p for p in payloads[:-1])
    starts = [
        p["choices"][0]["delta"]["tool_calls"][0]
        for p in payloads[:-1]
        if "id" in p["choices"][0]["delta"].get("tool_calls", [{}])[0]
    ]
    assert starts == [
        {
            "index": 0,
            "id": message["content"][1]["id"],
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "toolu_2",
            "type": "function",
            "function": {"name": "get_time", "arguments": ""},
        },
    ]
    result = assemble(payloads)
    assert result["text"] == "Let me check."
    assert [json.loads(call["arguments"]) for call in result["calls"]] == [
        {"city": "Oslo"},
        {"tz": "CET"},
    ]
    assert result["finish"] == "tool_calls" and result["usage"] is None


def test_stream_ignores_ping_thinking_and_unknown_events() -> None:
    events = stream_events(make_message(text="Hi"))
    thinking = [
        b'event: content_block_start\ndata: {"type":"content_block_start","index":5,"content_block":{"type":"thinking","thinking":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":5,"delta":{"type":"thinking_delta","thinking":"hmm"}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":5,"delta":{"type":"signature_delta","signature":"abc"}}\n\n',
        b'event: brand_new\ndata: {"type":"brand_new","delta":"not an object"}\n\n',
        b": a comment line\n\n",
        b'event: ping\ndata: {"type": "ping"}\n\n',
    ]
    plain, _ = run_stream(events)
    noisy, _ = run_stream([events[0], *thinking, *events[1:]])
    assert normalise(noisy) == normalise(plain)


def test_stream_upstream_error_event() -> None:
    events = stream_events(
        make_message(text="Hello there"),
        error={"type": "overloaded_error", "message": "Overloaded"},
    )
    stream = ChatStream("m", True)
    raw = b"".join(stream.feed(e) for e in events)
    assert stream.feed(b"event: message_stop\ndata: {}\n\n") == b""
    assert stream.finish() == b""
    *chunks, error = sse_payloads(raw)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", "Hello"]
    assert error == {
        "error": {
            "message": "Overloaded",
            "type": "server_error",
            "param": None,
            "code": "overloaded_error",
        }
    }


def test_stream_cut_before_message_stop_is_an_error() -> None:
    payloads, _ = run_stream(stream_events(make_message(text="Half an ans"), cut=True))
    assert "[DONE]" not in payloads
    assert payloads[-1]["error"]["code"] == "upstream_incomplete"
    assert "ended before message_stop" in payloads[-1]["error"]["message"]
    assert assemble(payloads)["text"] == "Half an ans"


def test_stream_non_json_data_is_an_error() -> None:
    payloads, _ = run_stream(
        [
            b"event: message_start\ndata: {not json\n\n",
            b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
        ]
    )
    assert payloads == [
        {
            "error": {
                "message": "the upstream sent a non-JSON stream event",
                "type": "server_error",
                "param": None,
                "code": "upstream_bad_stream",
            }
        }
    ]


def test_stream_finish_reads_a_last_event_without_blank_line() -> None:
    events = stream_events(make_message(text="Hi"))
    payloads, _ = run_stream([*events[:-1], events[-1].rstrip(b"\n")])
    assert payloads[-1] == "[DONE]" and assemble(payloads)["finish"] == "stop"


def test_stream_multi_line_data_and_missing_event_names() -> None:
    start = b'data: {"type": "message_start",\ndata:  "message": {"id": "msg_1", "usage": {"input_tokens": 3}}}\n\n'
    delta = b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}\n\n'
    stop = b'data: {"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":2}}\n\ndata: {"type":"message_stop"}\n\n'
    payloads, stream = run_stream([start, delta, stop])
    assert payloads[0]["id"] == "chatcmpl-msg_1"
    assert (stream.prompt_tokens, stream.completion_tokens) == (3, 2)
    assert assemble(payloads) | {"calls": None} == {
        "text": "ok",
        "calls": None,
        "finish": "length",
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "total_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def test_stream_falls_back_to_event_names_when_data_has_no_type() -> None:
    named = [
        b'event: message_start\ndata: {"message": {"id": "msg_2"}}\n\n',
        b'event:content_block_delta\ndata:{"index": 0, "delta": {"type": "text_delta", "text": "yes"}}\n\n',
        b"event: message_stop\ndata: {}\n\n",
    ]
    payloads, _ = run_stream(named, include_usage=False)
    assert payloads[0]["id"] == "chatcmpl-msg_2"
    assert assemble(payloads)["text"] == "yes" and payloads[-1] == "[DONE]"


def normalise(payloads: list[Any]) -> list[Any]:
    return [p if isinstance(p, str) or "created" not in p else p | {"created": 0} for p in payloads]


_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    text=_texts,
    tool=st.none() | st.dictionaries(st.text(max_size=5), st.integers() | _texts, max_size=3),
    outcome=st.sampled_from(["ok", "error", "cut"]),
    crlf=st.booleans(),
    include_usage=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=40),
)
def test_stream_output_does_not_depend_on_where_bytes_split(
    text: str,
    tool: dict[str, Any] | None,
    outcome: str,
    crlf: bool,
    include_usage: bool,
    cuts: list[int],
) -> None:
    message = make_message(
        text=text, tool=None if tool is None else ("fn", tool), input_tokens=9, output_tokens=3
    )
    error = {"type": "api_error", "message": "boom"} if outcome == "error" else None
    raw = b"".join(stream_events(message, error=error, cut=outcome == "cut"))
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    whole, _ = run_stream([raw], include_usage)
    points = sorted({cut % (len(raw) + 1) for cut in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    split, stream = run_stream(pieces, include_usage)
    assert normalise(split) == normalise(whole)
    result = assemble(split)
    if outcome == "ok":
        assert split[-1] == "[DONE]"
        assert result["text"] == text
        assert [json.loads(c["arguments"] or "{}") for c in result["calls"]] == (
            [] if tool is None else [tool]
        )
        assert result["finish"] == ("tool_calls" if tool is not None else "stop")
        assert (result["usage"] is not None) == include_usage
        assert (stream.prompt_tokens, stream.completion_tokens) == (9, 3)
    else:
        assert "error" in split[-1] and "[DONE]" not in split


# --- the fake Anthropic API, checked with the official anthropic SDK ------------------------


def anthropic_client(mock: AnthropicMock, **headers: str) -> anthropic.Anthropic:
    # This SDK sends api_key as a Bearer token and its own anthropic-version; the 2023-06-01
    # wire the gateway speaks (and the mock checks) carries the key in x-api-key.
    default = {"x-api-key": mock.api_key, "anthropic-version": ANTHROPIC_VERSION} | headers
    return anthropic.Anthropic(
        base_url=mock.url, api_key=mock.api_key, default_headers=default, max_retries=0, timeout=10
    )


def test_mock_messages_create_with_the_sdk() -> None:
    with (
        anthropic_upstream(reply_text="Hi from Claude", input_tokens=11, output_tokens=4) as mock,
        anthropic_client(mock) as client,
    ):
        message = client.messages.create(
            model="claude-test",
            max_tokens=64,
            system="Be kind.",
            messages=[{"role": "user", "content": "Hello"}],
        )
        assert (
            message.type == "message"
            and message.role == "assistant"
            and message.model == "claude-test"
        )
        assert message.content[0].type == "text" and message.content[0].text == "Hi from Claude"
        assert message.stop_reason == "end_turn"
        assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 4)
        headers, body = mock.requests[-1]
        assert (
            headers["x-api-key"] == mock.api_key
            and headers["anthropic-version"] == ANTHROPIC_VERSION
        )
        assert body == {
            "model": "claude-test",
            "max_tokens": 64,
            "system": "Be kind.",
            "messages": [{"role": "user", "content": "Hello"}],
        }


def test_mock_messages_stream_with_the_sdk() -> None:
    with (
        anthropic_upstream(
            reply_text="Checking the weather now.",
            reply_tool=("get_weather", {"city": "Oslo", "unit": "C"}),
            pace_s=0.001,
        ) as mock,
        anthropic_client(mock) as client,
    ):
        tools: Any = [{"name": "get_weather", "input_schema": {"type": "object"}}]
        with client.messages.stream(
            model="claude-test",
            max_tokens=64,
            tools=tools,
            messages=[{"role": "user", "content": "Weather?"}],
        ) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_message()
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert {
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
        } <= set(kinds)
        assert final.stop_reason == "tool_use"
        assert (
            final.content[0].type == "text" and final.content[0].text == "Checking the weather now."
        )
        assert final.content[1].type == "tool_use" and final.content[1].input == {
            "city": "Oslo",
            "unit": "C",
        }
        assert (final.usage.input_tokens, final.usage.output_tokens) == (17, 5)


def test_mock_checks_credentials_and_version_with_the_sdk() -> None:
    with anthropic_upstream() as mock:
        with (
            anthropic_client(mock, **{"x-api-key": "sk-wrong"}) as client,
            pytest.raises(anthropic.AuthenticationError) as auth,
        ):
            client.messages.create(
                model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        assert auth.value.status_code == 401
        assert auth.value.body == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            "request_id": auth.value.body["request_id"],
        }
        with (
            anthropic_client(mock, **{"anthropic-version": "2099-01-01"}) as client,
            pytest.raises(anthropic.BadRequestError) as version,
        ):
            client.messages.create(
                model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        assert "anthropic-version" in version.value.message
        with anthropic_client(mock) as client, pytest.raises(anthropic.BadRequestError) as bad:
            client.messages.create(
                model="c", max_tokens=5, messages=[{"role": "system", "content": "x"}]
            )
        assert "messages.0.role" in bad.value.message


def test_mock_failures_with_the_sdk() -> None:
    with anthropic_upstream() as mock, anthropic_client(mock) as client:
        mock.fail_with = (529, error_body("overloaded_error", "Overloaded"))
        with pytest.raises(anthropic.APIStatusError) as failed:
            client.messages.create(
                model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        assert failed.value.status_code == 529
        mock.fail_with = None
        mock.stream_error = {"type": "overloaded_error", "message": "Overloaded"}
        with (
            pytest.raises(anthropic.APIStatusError) as streamed,
            client.messages.stream(
                model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            ) as stream,
        ):
            for _ in stream:
                pass
        assert "overloaded_error" in streamed.value.message


@pytest.mark.anyio
async def test_mock_async_context_with_the_async_sdk() -> None:
    async with anthropic_upstream(reply_text="async hello") as mock:
        headers = {"x-api-key": mock.api_key, "anthropic-version": ANTHROPIC_VERSION}
        async with anthropic.AsyncAnthropic(
            base_url=mock.url, api_key=mock.api_key, default_headers=headers, max_retries=0
        ) as client:
            message = await client.messages.create(
                model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    assert message.content[0].type == "text" and message.content[0].text == "async hello"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {
                "model": "c",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "frequency_penalty": 1,
            },
            "frequency_penalty: Extra inputs are not permitted",
        ),
        (
            {
                "model": "c",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
            },
            "text content blocks must be non-empty",
        ),
        (
            {
                "model": "c",
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": "y "},
                ],
            },
            "trailing whitespace",
        ),
        (
            {
                "model": "c",
                "max_tokens": 5,
                "tools": [{"name": "f", "input_schema": {}}],
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                    },
                    {"role": "user", "content": "y"},
                ],
            },
            "`tool_use` ids were found without `tool_result` blocks",
        ),
        (
            {
                "model": "c",
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9"}]}
                ],
            },
            "unexpected `tool_use_id`",
        ),
        ({"model": "c", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ],
)
def test_mock_validates_bodies_like_the_api(body: dict[str, Any], problem: str) -> None:
    assert problem in (check_body(body) or "")


# --- end to end: the openai SDK reading what the translator makes of the mock's answers ------


class _Gateway(BaseHTTPRequestHandler):
    """A minimal gateway: chat_request -> the mock -> chat_response / ChatStream / error_response."""

    upstream = ""
    api_key = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["content-length"]))
        try:
            body, stream = chat_request(raw, UPSTREAM)
        except InvalidError as exc:
            self._send(
                400,
                json.dumps(
                    {
                        "error": {
                            "message": exc.message,
                            "type": "invalid_request_error",
                            "param": None,
                            "code": exc.code,
                        }
                    }
                ).encode(),
            )
            return
        model = json.loads(raw)["model"]
        url = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        try:
            conn.request(
                "POST",
                "/v1/messages",
                body,
                {
                    "x-api-key": self.api_key,
                    "anthropic-version": ANTHROPIC_VERSION,
                    "content-type": "application/json",
                },
            )
            response = conn.getresponse()
            if response.status != 200:
                self._send(response.status, error_response(response.status, response.read()))
            elif not stream:
                self._send(200, chat_response(response.read(), model)[0])
            else:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                translator = ChatStream(model, stream_include_usage(raw))
                while data := response.read1(65536):
                    self.wfile.write(translator.feed(data))
                    self.wfile.flush()
                self.wfile.write(translator.finish())
        finally:
            conn.close()


@contextlib.contextmanager
def openai_client(mock: AnthropicMock) -> Iterator[openai.OpenAI]:
    handler = type("Gateway", (_Gateway,), {"upstream": mock.url, "api_key": mock.api_key})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{server.server_port}/v1",
            api_key="sk-client",
            max_retries=0,
            timeout=10,
        ) as client:
            yield client
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_openai_sdk_reads_a_translated_stream() -> None:
    with (
        anthropic_upstream(
            reply_text="Bonjour, le monde! ✓", input_tokens=21, output_tokens=6, pace_s=0.001
        ) as mock,
        openai_client(mock) as client,
    ):
        with client.chat.completions.create(
            model="my-claude",
            messages=[
                {"role": "system", "content": "Speak French."},
                {"role": "user", "content": "Hello"},
            ],
            stream=True,
            stream_options={"include_usage": True},
        ) as stream:
            chunks = list(stream)
        sent = mock.requests[-1][1]
        assert (
            sent["model"] == UPSTREAM
            and sent["system"] == "Speak French."
            and sent["stream"] is True
        )
    assert {chunk.model for chunk in chunks} == {"my-claude"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Bonjour, le monde! ✓"
    )
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (
        chunks[-1].usage.prompt_tokens,
        chunks[-1].usage.completion_tokens,
        chunks[-1].usage.total_tokens,
    ) == (21, 6, 27)


def test_openai_sdk_reads_translated_tool_calls() -> None:
    with (
        anthropic_upstream(reply_text="", reply_tool=("get_weather", {"city": "Oslo"})) as mock,
        openai_client(mock) as client,
    ):
        with client.chat.completions.create(
            model="my-claude",
            messages=[{"role": "user", "content": "Weather?"}],
            tools=[WEATHER],
            tool_choice="required",
            stream=True,
        ) as stream:
            chunks = list(stream)
        assert mock.requests[-1][1]["tool_choice"] == {"type": "any"}
        completion = client.chat.completions.create(
            model="my-claude", messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER]
        )
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
    assert (
        calls[0].id
        and calls[0].id.startswith("toolu_")
        and calls[0].function
        and calls[0].function.name == "get_weather"
    )
    assert json.loads(
        "".join(call.function.arguments or "" for call in calls if call.function)
    ) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls and json.loads(
        choice.message.tool_calls[0].function.arguments
    ) == {"city": "Oslo"}


def test_openai_sdk_non_streaming_and_errors() -> None:
    with (
        anthropic_upstream(reply_text="Plain answer.", input_tokens=7, output_tokens=2) as mock,
        openai_client(mock) as client,
    ):
        completion = client.chat.completions.create(
            model="my-claude", messages=[{"role": "user", "content": "Hi"}], max_tokens=50
        )
        assert mock.requests[-1][1]["max_tokens"] == 50
        assert (
            completion.model == "my-claude"
            and completion.choices[0].message.content == "Plain answer."
        )
        assert completion.usage is not None and completion.usage.total_tokens == 9
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(
                model="my-claude", messages=[{"role": "user", "content": "Hi"}], n=3
            )
        assert bad.value.code == "invalid" and "n: got 3" in bad.value.message
        mock.fail_with = (529, error_body("overloaded_error", "Overloaded"))
        with pytest.raises(openai.InternalServerError) as overloaded:
            client.chat.completions.create(
                model="my-claude", messages=[{"role": "user", "content": "Hi"}]
            )
        assert overloaded.value.status_code == 529 and overloaded.value.code == "overloaded_error"
        assert overloaded.value.type == "server_error" and "Overloaded" in overloaded.value.message
        mock.fail_with = None
        mock.stream_error = {"type": "overloaded_error", "message": "Overloaded mid-stream"}
        with (
            pytest.raises(openai.APIError, match="Overloaded mid-stream"),
            client.chat.completions.create(
                model="my-claude", messages=[{"role": "user", "content": "Hi"}], stream=True
            ) as stream,
        ):
            list(stream)
        mock.stream_error, mock.cut_stream = None, True
        with (
            pytest.raises(openai.APIError, match="ended before message_stop"),
            client.chat.completions.create(
                model="my-claude", messages=[{"role": "user", "content": "Hi"}], stream=True
            ) as stream,
        ):
            list(stream)
