"""Limits shared by gateway processes through Redis, and the local fallback when it is away.

Real ``ironplane gateway`` processes (as users run them) share the machine's Redis under a key
prefix of the test's own, or a redis-server the test starts, stops and starts again.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import hiredis
import httpx
import pytest
import yaml

from ironplane.gateway.redis_script import SCRIPT
from tests.gateway.conftest import KEY, base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream, free_port, wait_for
from tests.gateway.redis_helpers import SHARED, keys, own_redis, prefix, redis_cmd
from tests.gateway.test_process import gateway_process

__all__ = ["prefix"]  # the fixture

AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}


def _config(upstream: MockUpstream, url: str, prefix: str, **redis: Any) -> dict[str, Any]:
    cfg = base_config(upstream.url)
    # A generous timeout: on a busy test machine a round trip may take longer than 50 ms, and
    # a replica that falls back would count on its own.
    cfg["redis"] = {"url": url, "prefix": prefix, "timeout": "1s", **redis}
    cfg["keys"][0]["limits"] = {"rpm": 20}
    return cfg


@contextmanager
def _gateways(path: Path, n: int) -> Iterator[list[httpx.Client]]:
    with ExitStack() as stack:
        clients = []
        for _ in range(n):
            _, url = stack.enter_context(gateway_process(path))
            clients.append(stack.enter_context(httpx.Client(base_url=url, timeout=10)))
        yield clients


def _admitted(clients: list[httpx.Client], total: int) -> int:
    """Send ``total`` requests, in turn to each gateway; how many were answered 200."""
    ok = 0
    for i in range(total):
        r = clients[i % len(clients)].post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert r.status_code in (200, 429), r.text
        ok += r.status_code == 200
    return ok


def _backend(client: httpx.Client) -> str:
    text = client.get("/metrics").text
    for line in text.splitlines():
        if line.startswith("ironplane_gateway_limit_backend{") and line.endswith(" 1.0"):
            return line.split('"')[1]
    raise AssertionError("no limit backend in the metrics")


def test_a_limit_holds_across_two_processes(
    prefix: str, upstream: MockUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(_config(upstream, f"redis://127.0.0.1:{SHARED[1]}/0", prefix)))
    with _gateways(path, 2) as clients:
        assert [_backend(c) for c in clients] == ["redis", "redis"]
        # rpm 20 shared: 20 at once, plus what refills meanwhile (one every 3 s).
        assert _admitted(clients, 40) in (20, 21)
        assert {f"{prefix}key:alice:r", f"{prefix}replicas"} <= set(keys(SHARED[1], prefix))
        assert redis_cmd(SHARED[1], "ZCARD", f"{prefix}replicas") == 2  # their heartbeats


def test_redis_stopped_and_started_again(upstream: MockUpstream, tmp_path: Path) -> None:
    with own_redis(tmp_path) as redis:
        path = tmp_path / "gw.yaml"
        cfg = _config(upstream, f"redis://127.0.0.1:{redis.port}/0", "gw:", replicas=2)
        path.write_text(yaml.safe_dump(cfg))
        with _gateways(path, 2) as clients:
            assert _admitted(clients, 30) in (20, 21)  # shared

            redis.stop()
            # Traffic goes on with local limits, each replica allowing 20 / 2 = 10.
            assert _admitted(clients, 30) in range(20, 23)
            assert [_backend(c) for c in clients] == ["local", "local"]

            redis.start()  # empty: a fresh bucket of 20
            deadline = time.monotonic() + 10
            while [_backend(c) for c in clients] != ["redis", "redis"]:
                assert time.monotonic() < deadline, "the gateways did not return to Redis"
                time.sleep(0.1)
            # Shared again: 20 in all (local buckets would give 0 now, fresh ones 40).
            assert _admitted(clients, 30) in (20, 21)


def test_unreachable_redis_at_start_serves_with_local_limits(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = _config(upstream, f"redis://127.0.0.1:{free_port()}/0", "gw:", replicas=4)
    with running_gateway(cfg, tmp_path) as gw:
        assert gw.call(lambda: gw.running.gateway.metrics.limit_backend) == "local"
        client = httpx.Client(base_url=gw.url)
        statuses = [
            client.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code
            for _ in range(8)
        ]
        assert statuses == [200] * 5 + [429] * 3  # 20 / 4 replicas
        client.close()


class _Stalled:
    calls = 0
    port = 0


@contextmanager
def _stalled_redis() -> Iterator[_Stalled]:
    """Answers a connection's setup as Redis does, then never answers the script's calls."""
    seen = _Stalled()
    sha = hashlib.sha1(SCRIPT.encode()).hexdigest().encode()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    conns: list[socket.socket] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)
    seen.port = server.getsockname()[1]

    def serve(conn: socket.socket) -> None:
        parse = hiredis.Reader()
        conn.settimeout(0.05)
        while not stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            parse.feed(data)
            while (command := parse.gets()) is not False:
                if command[0].upper() == b"SCRIPT":
                    conn.sendall(b"$40\r\n%s\r\n" % sha)
                else:
                    seen.calls += 1  # and no answer

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            thread = threading.Thread(target=serve, args=(conn,), daemon=True)
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield seen
    finally:
        stop.set()
        acceptor.join(5)
        for thread in threads:
            thread.join(5)
        for conn in conns:
            conn.close()
        server.close()


def test_a_redis_that_does_not_answer_in_time_falls_back(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    with _stalled_redis() as stalled:
        cfg = _config(upstream, f"redis://127.0.0.1:{stalled.port}/0", "gw:", timeout="50ms")
        with running_gateway(cfg, tmp_path) as gw:
            # The first call (the heartbeat at start) gets no answer within 50 ms: local limits.
            wait_for(lambda: gw.call(lambda: gw.running.gateway.metrics.limit_backend) == "local")
            calls = stalled.calls
            assert calls >= 1
            with httpx.Client(base_url=gw.url) as client:
                statuses = [
                    client.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code
                    for _ in range(25)
                ]
            assert statuses == [200] * 20 + [429] * 5  # the local limit (one replica: all 20)
            # Probed again about once a second, never once per request.
            assert stalled.calls <= calls + 2
            wait_for(lambda: stalled.calls > calls, timeout=5)


def test_free_port_is_refused() -> None:
    with socket.socket() as s, pytest.raises(OSError):
        s.connect(("127.0.0.1", free_port()))
