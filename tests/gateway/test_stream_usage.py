"""Streams whose client did not ask for usage are billed by their real usage.

The gateway asks OpenAI-style upstreams for it (``stream_options.include_usage``) and keeps
the usage chunk from the client, which gets the stream it asked for; a client that asked gets
the upstream's stream as it is, and bodies that do not stream are not re-encoded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ironplane.gateway.stream_usage import ask_for_usage, complete_events, take_usage
from ironplane.gateway.usage import UsageRecord
from tests.gateway.conftest import KEY, Handle, base_config, running_gateway, targets
from tests.gateway.openai_mock import MockUpstream

MESSAGES = [{"role": "user", "content": "hi"}]
AUTH = {"Authorization": f"Bearer {KEY}"}
PRICES = {"gpt": {"input": 1.0, "output": 3.0}, "split": {"input": 1.0, "output": 3.0}}
COST = (5 * 1.0 + 5 * 3.0) / 1e6
"""The mock's stream: 5 prompt and 5 completion tokens, at $1 / $3 per million."""


def _records(gw: Handle) -> list[UsageRecord]:
    seen: list[UsageRecord] = []

    def plug() -> None:
        gw.running.gateway.governor.sink = seen.append

    gw.call(plug)
    return seen


def _events(gw: Handle, body: dict[str, Any]) -> list[str]:
    """The data of every event the client received, raw."""
    r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    return [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]


def test_a_stream_without_include_usage_is_billed_by_its_real_usage(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("ok"), split=targets("splitusage"))
    cfg["prices"] = PRICES
    with running_gateway(cfg, tmp_path) as gw:
        records = _records(gw)
        for model in ("gpt", "split"):  # split: the usage chunk comes in two reads
            events = _events(gw, {"model": model, "messages": MESSAGES, "stream": True})
            # What the client asked for: the content chunks, the finish chunk and [DONE].
            assert events[-1] == "[DONE]"
            chunks = [json.loads(e) for e in events[:-1]]
            assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == (
                "tok0 tok1 tok2 tok3 tok4 "
            )
            assert len(chunks) == 6 and all(c["choices"] for c in chunks)
            assert all("prompt_tokens" not in e for e in events)
            # The upstream was asked for usage (and got the target's model name).
            sent = upstream.requests[-1].json
            assert sent["stream_options"] == {"include_usage": True}
            assert sent["model"] == ("ok" if model == "gpt" else "splitusage")
        assert [(r.prompt_tokens, r.completion_tokens, r.stream) for r in records] == [
            (5, 5, True),
            (5, 5, True),
        ]
        assert [r.cost for r in records] == [pytest.approx(COST)] * 2
        # An upstream that ignores stream_options: estimated (5 content events, no prompt).
        cfg["models"][0]["targets"][0]["model"] = "nousage"
        gw.write_config(cfg)
        assert gw.call(gw.running.reload)
        events = _events(gw, {"model": "gpt", "messages": MESSAGES, "stream": True})
        assert len(events) == 7 and events[-1] == "[DONE]"
        assert (records[-1].prompt_tokens, records[-1].completion_tokens) == (0, 5)


def test_other_stream_options_are_kept_and_a_client_that_asks_gets_the_stream_as_is(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    # "same": the upstream's model name is the gateway's, so nothing needs rewriting.
    cfg = base_config(upstream.url, same=targets("same"))
    with running_gateway(cfg, tmp_path) as gw:
        records = _records(gw)
        options = {"include_usage": False, "continuous_usage_stats": False}
        body = {"model": "same", "messages": MESSAGES, "stream": True, "stream_options": options}
        events = _events(gw, body)
        assert upstream.requests[-1].json["stream_options"] == {
            "include_usage": True,
            "continuous_usage_stats": False,
        }
        assert all("prompt_tokens" not in e for e in events)

        # The client asked: its body goes upstream byte for byte, the stream comes back as is.
        for raw in (
            b'{"model": "same", "stream": true,  "stream_options": {"include_usage": true}}',
            b'{"model": "same",  "messages": [{"role":"user","content":"hi"}]}',  # no stream
        ):
            r = httpx.post(
                gw.url + "/v1/chat/completions",
                content=raw,
                headers={**AUTH, "Content-Type": "application/json"},
            )
            assert r.status_code == 200
            assert upstream.requests[-1].body == raw
        streamed = httpx.post(
            gw.url + "/v1/chat/completions",
            json=body | {"stream_options": {"include_usage": True}},
            headers=AUTH,
        )
        usage = [json.loads(e[6:]) for e in streamed.text.split("\n") if "prompt_tokens" in e]
        assert len(usage) == 1 and usage[0]["choices"] == []
        assert usage[0]["usage"]["prompt_tokens"] == 5
        assert [(r.prompt_tokens, r.completion_tokens) for r in records] == [(5, 5)] * 2 + [
            (5, 7),
            (5, 5),
        ]


def test_ask_for_usage_keeps_every_other_field() -> None:
    body = b'{"model":"a","stream":true,"x":[1, 2],"stream_options":{"include_usage":false,"y":1}}'
    out = json.loads(ask_for_usage(body, None))
    assert out == {
        "model": "a",
        "stream": True,
        "x": [1, 2],
        "stream_options": {"include_usage": True, "y": 1},
    }
    assert json.loads(ask_for_usage(b'{"model":"a","stream_options":null}', "b")) == {
        "model": "b",
        "stream_options": {"include_usage": True},
    }


def test_take_usage_strips_only_a_usage_only_chunk() -> None:
    content = b'data: {"choices":[{"delta":{}}],"usage":null}\n\n'
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
    done = b"data: [DONE]\n\n"
    assert take_usage(content + usage + done, strip=True) == (content + done, (3, 4))
    assert take_usage(content + usage + done, strip=False) == (content + usage + done, (3, 4))
    assert take_usage(usage, strip=True) == (b"", (3, 4))
    # Usage riding on a chunk with content (some servers) is read, never stripped.
    both = b'data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":1}}\r\n\r\n'
    assert take_usage(both, strip=True) == (both, (1, 0))
    # The same words inside a string are content, not usage.
    text = b'data: {"choices":[{"delta":{"content":"say \\"prompt_tokens\\""}}]}\n\n'
    assert take_usage(text, strip=True) == (text, None)


def test_complete_events_holds_back_an_unfinished_event() -> None:
    assert complete_events(b"data: 1\n\ndata: 2\n\n") == (b"data: 1\n\ndata: 2\n\n", b"")
    assert complete_events(b'data: 1\n\ndata: {"us') == (b"data: 1\n\n", b'data: {"us')
    assert complete_events(b"data: 1\r\n\r\ndata: 2") == (b"data: 1\r\n\r\n", b"data: 2")
    assert complete_events(b"data: {") == (b"", b"data: {")
    big = b"data: " + b"x" * 20000
    assert complete_events(big) == (big, b"")  # content, not a usage chunk: not held
