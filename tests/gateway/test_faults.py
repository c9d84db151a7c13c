"""Streams that break, stall or lose their client: clear errors, and nothing leaks."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import openai
import pytest

from tests.gateway.conftest import KEY, Handle, base_config, running_gateway, targets
from tests.gateway.openai_mock import MockUpstream, wait_for

MESSAGES = [{"role": "user", "content": "hi"}]


def _tasks(gw: Handle) -> int:
    return gw.call(lambda: len(asyncio.all_tasks()))


def _sockets(gw: Handle) -> tuple[int, int]:
    g = gw.running.gateway
    return gw.call(lambda: (len(g.connections), sum(p.open for p in g.pools.pools.values())))


def test_stream_broken_after_first_byte_ends_with_an_error_not_a_retry(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("break", "ok", strategy="priority", retries=2))
    with running_gateway(cfg, tmp_path) as gw:
        stream = gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
        got = []
        with pytest.raises(openai.APIError) as broken:
            for chunk in stream:
                got.append(chunk.choices[0].delta.content)
        assert got == ["tok0 ", "tok1 "]
        assert "broke off the stream" in str(broken.value)
        assert len(upstream.requests) == 1  # no retry once the client has seen bytes


def test_stalled_stream_hits_the_idle_timeout(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt=targets("stall", idle_timeout="300ms"))
    with running_gateway(cfg, tmp_path) as gw:
        stream = gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
        started = time.monotonic()
        with pytest.raises(openai.APIError) as stalled:
            list(stream)
        assert "sent nothing for 0.3s" in str(stalled.value)
        assert time.monotonic() - started < 3
        wait_for(lambda: _sockets(gw)[1] == 0)


def test_client_leaving_mid_stream_cancels_the_upstream(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("endless"))
    with running_gateway(cfg, tmp_path) as gw:
        with gw.client() as warm:
            warm.chat.completions.create(model="gpt", messages=MESSAGES)
        baseline_tasks = _tasks(gw)
        for _ in range(3):
            with gw.client() as client:
                stream = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
                for i, _chunk in enumerate(stream):
                    if i == 3:
                        break
                stream.close()
        wait_for(lambda: upstream.cancelled_streams == 3)
        # Aborted upstream connections are never reused (the warm-up's went to the first stream).
        wait_for(lambda: _sockets(gw) == (0, 0))
        assert _tasks(gw) == baseline_tasks
        in_flight = gw.call(lambda: gw.running.gateway.metrics.in_flight)
        assert in_flight == 0
        statuses = gw.call(
            lambda: dict(gw.running.gateway.metrics.of("gpt", "mock/endless", "alice").statuses)
        )
        assert statuses == {200: 1, 499: 3}  # the warm-up, then three clients that left


def test_client_leaving_before_the_answer_frees_the_upstream(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("slow-500"))
    with running_gateway(cfg, tmp_path) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        body = b'{"model":"gpt","messages":[]}'
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    + KEY.encode()
                    + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
                    + body
                )
                time.sleep(0.02)
        wait_for(lambda: _sockets(gw) == (0, 0))
        wait_for(lambda: upstream.open_connections == 0)


def test_many_concurrent_streams_then_back_to_baseline(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("ok"))
    with running_gateway(cfg, tmp_path) as gw:

        async def drive() -> list[str]:
            async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=KEY) as client:

                async def one() -> str:
                    stream = await client.chat.completions.create(
                        model="gpt", messages=MESSAGES, stream=True
                    )
                    return "".join([c.choices[0].delta.content or "" async for c in stream])

                return await asyncio.gather(*(one() for _ in range(50)))

        results = asyncio.run(drive())
        assert results == ["tok0 tok1 tok2 tok3 tok4 "] * 50
        wait_for(lambda: _sockets(gw)[0] == 0)
        assert gw.call(lambda: gw.running.gateway.metrics.in_flight) == 0
        # Upstream connections are kept for reuse, never more than the peak concurrency.
        assert 1 <= _sockets(gw)[1] <= 50
