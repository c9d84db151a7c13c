"""HTTP edge cases on both sides (found by review): interim answers, close-delimited bodies,
odd usage, HEAD, HTTP/1.0, long pipelines, oversized heads, slow readers, refused credentials."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx
import openai
import pytest

from ironplane.gateway.limits import Limit
from tests.gateway.anthropic_mock import anthropic_upstream
from tests.gateway.conftest import KEY, base_config, running_gateway, targets
from tests.gateway.openai_mock import MockUpstream, wait_for

MESSAGES = [{"role": "user", "content": "hi"}]
AUTH = {"Authorization": f"Bearer {KEY}"}


def _request(body: bytes, version: bytes = b"1.1", extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/"
        + version
        + b"\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\nContent-Length: %d\r\n" % len(body)
        + extra
        + b"\r\n"
        + body
    )


@pytest.mark.parametrize("model", ["interim", "closedelim", "nullusage"])
def test_upstream_framing_and_odd_usage_still_answer(
    upstream: MockUpstream, tmp_path: Path, model: str
) -> None:
    cfg = base_config(upstream.url, gpt=targets(model, retries=2))
    cfg["providers"][0]["max_connections"] = 1  # an interim answer must not free the connection
    with running_gateway(cfg, tmp_path) as gw:
        for _ in range(2):
            reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
            assert reply.choices[0].message.content == f"hello from {model}"
        assert len(upstream.requests) == 2  # no retries
        assert gw.call(lambda: dict(gw.running.gateway.metrics.upstream_errors)) == {}


def test_upstream_204_is_relayed(upstream: MockUpstream, tmp_path: Path) -> None:
    with running_gateway(base_config(upstream.url, gpt=targets("status-204")), tmp_path) as gw:
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "gpt"}, headers=AUTH)
        assert r.status_code == 204 and r.content == b""


def test_upstream_refusing_the_gateways_key_is_502_and_never_relayed(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("status-401", retries=0))
    with running_gateway(cfg, tmp_path) as gw:
        with pytest.raises(openai.APIStatusError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert failed.value.status_code == 502
        assert "provider 'mock' refused the gateway's credentials" in failed.value.message
        assert "mock status" not in failed.value.message


def test_head_has_no_body_and_the_connection_stays_usable(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    with running_gateway(base_config(upstream.url), tmp_path) as gw, httpx.Client() as http:
        head = http.head(gw.url + "/healthz")
        assert head.status_code == 200 and head.content == b""
        assert http.get(gw.url + "/healthz").json()["status"] == "ok"


def test_http10_client_gets_an_unchunked_stream(upstream: MockUpstream, tmp_path: Path) -> None:
    with running_gateway(base_config(upstream.url), tmp_path) as gw:
        answer = gw.raw(_request(b'{"model":"gpt","stream":true}', version=b"1.0"))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert body.startswith(b"data: ") and body.endswith(b"data: [DONE]\n\n")


def test_a_long_pipeline_is_answered_without_recursion(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    with running_gateway(base_config(upstream.url), tmp_path) as gw:
        data = _request(b'{"model":"gpt"}') + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3000
        data += b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        answer = gw.raw(data)
    assert len(re.findall(rb"HTTP/1\.1 200 OK\r\n", answer)) == 3002


def test_oversized_url_and_headers_are_431(upstream: MockUpstream, tmp_path: Path) -> None:
    with running_gateway(base_config(upstream.url), tmp_path) as gw:
        long_url = b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert gw.raw(long_url).startswith(b"HTTP/1.1 431 ")
        many = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(100))
        assert gw.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").startswith(
            b"HTTP/1.1 431 "
        )
        assert httpx.get(gw.url + "/healthz").status_code == 200


def test_refused_body_never_reaches_the_upstream(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url)
    cfg["gateway"] = {"max_body_bytes": 2048}
    with running_gateway(cfg, tmp_path) as gw:
        big = b'{"model":"gpt","x":"' + b"y" * 3000 + b'"}'
        assert gw.raw(_request(big)).startswith(b"HTTP/1.1 413 ")
        time.sleep(0.1)
        assert upstream.requests == []
        rejected = gw.call(lambda: dict(gw.running.gateway.metrics.rejected))
        assert rejected == {("payload_too_large", 413): 1}


def test_a_client_that_stops_reading_does_not_cool_the_target(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("flood", idle_timeout="300ms"))
    cfg["gateway"] = {"cooldown_failures": 1}
    with running_gateway(cfg, tmp_path) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(_request(b'{"model":"gpt","stream":true}'))
            s.recv(100)  # the stream started; now stop reading
            wait_for(lambda: gw.call(lambda: gw.running.gateway.metrics.in_flight) == 0, 5)
        assert gw.call(lambda: dict(gw.running.gateway.metrics.upstream_errors)) == {}
        statuses = gw.call(
            lambda: dict(gw.running.gateway.metrics.of("gpt", "mock/flood", "alice").statuses)
        )
        assert statuses == {499: 1}
        assert httpx.get(gw.url + "/healthz").json()["targets_cooling"] == 0


def test_retry_overhead_excludes_time_spent_on_failed_attempts(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(
        upstream.url, gpt=targets("hang", "ok", strategy="priority", retries=1, timeout="300ms")
    )
    with running_gateway(cfg, tmp_path) as gw:
        gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        series = gw.running.gateway.metrics.of("gpt", "mock/ok", "alice")
        total, overhead = gw.call(lambda: (series.request.total, series.overhead.total))
    assert total > 0.3
    assert overhead < 0.05


def test_anthropic_answer_that_is_not_a_message_is_502_at_once(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "claude", "model": "c"}]})
    cfg["models"][0]["retries"] = 0
    cfg["providers"].append({"name": "claude", "kind": "anthropic", "base_url": upstream.url})
    with running_gateway(cfg, tmp_path) as gw:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert failed.value.status_code == 502
        assert time.monotonic() - started < 2


def test_retry_from_anthropic_to_openai_streams_openai_bytes(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    with anthropic_upstream() as claude:
        claude.fail_with = (
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
        )
        cfg = base_config(upstream.url)
        cfg["providers"].append(
            {"name": "claude", "kind": "anthropic", "base_url": claude.url, "api_key": {"env": "K"}}
        )
        cfg["models"] = [
            {
                "name": "gpt",
                "strategy": "priority",
                "retries": 1,
                "targets": [
                    {"provider": "claude", "model": "c"},
                    {"provider": "mock", "model": "ok"},
                ],
            }
        ]
        with running_gateway(cfg, tmp_path, {"K": claude.api_key}) as gw:
            stream = gw.client().chat.completions.create(
                model="gpt", messages=MESSAGES, stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert text == "tok0 tok1 tok2 tok3 tok4 "


def test_small_limits_split_across_workers_still_admit() -> None:
    limit = Limit("key 'a'", rpm=2, tpm=None, share=8, now=0.0)
    assert limit.requests is not None and limit.requests.wait(0.0, 1.0) == 0.0
