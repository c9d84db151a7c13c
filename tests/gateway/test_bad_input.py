"""Bad requests get a clear 4xx in OpenAI's error shape and never hurt the gateway."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import KEY, Handle, base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream

AUTH = {"Authorization": f"Bearer {KEY}"}


def _post(gw: Handle, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        content=content,
        headers=AUTH if headers is None else headers,
        timeout=5,
    )


def _error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


@pytest.fixture
def gw(upstream: MockUpstream, tmp_path: Path) -> Any:
    cfg = base_config(upstream.url)
    cfg["gateway"] = {"max_body_bytes": 4096, "request_timeout": "300ms"}
    with running_gateway(cfg, tmp_path) as handle:
        yield handle


def test_auth_errors(gw: Handle) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        gw.client("sk-wrong").chat.completions.create(model="gpt", messages=[])
    assert wrong.value.code == "unauthenticated"
    assert "invalid API key" in wrong.value.message
    r = _post(gw, b'{"model":"gpt"}', headers={})
    assert r.status_code == 401 and "Bearer" in _error(r)["message"]
    r = _post(gw, b'{"model":"gpt"}', headers={"Authorization": f"Basic {KEY}"})
    assert r.status_code == 401
    # Azure-style clients send the key as api-key.
    r = _post(gw, b'{"model":"gpt","messages":[]}', headers={"api-key": KEY})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'["model"]', 400, "Expected `object`"),
        (b'{"messages": []}', 400, "needs a `model`"),
        (b'{"model": 42}', 400, "$.model"),
        (b'{"model": "gpt", "stream": "yes"}', 400, "$.stream"),
        (b'{"model": "nope"}', 404, "does not exist"),
        (b"", 400, "not valid JSON"),
    ],
)
def test_bad_bodies(gw: Handle, body: bytes, status: int, words: str) -> None:
    r = _post(gw, body)
    assert r.status_code == status, r.text
    assert words in _error(r)["message"]


def test_unknown_model_is_404_model_not_found(gw: Handle) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        gw.client().chat.completions.create(model="nope", messages=[])
    assert missing.value.code == "model_not_found"


def test_huge_body_is_413_and_the_gateway_keeps_serving(gw: Handle) -> None:
    big = b'{"model":"gpt","messages":[{"role":"user","content":"' + b"x" * 10_000 + b'"}]}'
    r = _post(gw, big)
    assert r.status_code == 413
    assert "4096 bytes" in _error(r)["message"]
    # Chunked bodies without a Content-Length are counted as they arrive.
    chunked = gw.raw(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (5000, b"x" * 5000)
        + b"0\r\n\r\n",
    )
    assert chunked.startswith(b"HTTP/1.1 413 ")
    assert _post(gw, b'{"model":"gpt","messages":[]}').status_code == 200


def test_wrong_method_and_path(gw: Handle) -> None:
    r = httpx.get(gw.url + "/v1/chat/completions", headers=AUTH)
    assert r.status_code == 405
    r = httpx.post(gw.url + "/v1/nothing", headers=AUTH)
    assert r.status_code == 404 and "/v1/chat/completions" in _error(r)["message"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Evil: a\rb\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
        b"POST /v1/chat/co\x00mpletions HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ],
)
def test_malformed_http_and_header_injection(gw: Handle, request_bytes: bytes) -> None:
    answer = gw.raw(request_bytes)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert b"connection: close" in answer
    assert _post(gw, b'{"model":"gpt","messages":[]}').status_code == 200


def test_slow_client_gets_408(gw: Handle) -> None:
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert time.monotonic() - started < 2


def test_pipelined_requests_are_answered_in_order(gw: Handle, upstream: MockUpstream) -> None:
    one = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\nContent-Length: %d\r\n\r\n"
    )
    first = b'{"model":"gpt","messages":[]}'
    second = b'{"model":"nope"}'
    third = b'{"model":"gpt","messages":[],"stream":true}'
    data = b"".join(one % len(b) + b for b in (first, second, third))
    data += b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = gw.raw(data)
    statuses = re.findall(rb"HTTP/1\.1 \d{3} [A-Za-z ]+(?=\r\n)", answer)
    assert statuses == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 404 Not Found",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
    ]
    assert answer.index(b"hello from ok") < answer.index(b"model_not_found")
    assert answer.index(b"model_not_found") < answer.index(b"tok0")


def test_expect_100_continue(gw: Handle) -> None:
    port = int(gw.url.rsplit(":", 1)[1])
    body = b'{"model":"gpt","messages":[]}'
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + KEY.encode()
            + b"\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")
