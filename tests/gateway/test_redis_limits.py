"""Limits shared by gateway processes through Redis, and the local fallback when it is away.

Real ``ironplane gateway`` processes (as users run them) share the machine's Redis under a key
prefix of the test's own, or a redis-server the test starts, stops and starts again.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import logging
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
from tests.gateway.conftest import KEY, Handle, base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream, wait_for
from tests.gateway.redis_helpers import SHARED, keys, own_redis, prefix, redis_cmd
from tests.gateway.test_process import gateway_process
from tests.ports import free_port

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


def test_replicas_counts_gateways_each_running_its_workers(
    upstream: MockUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 2 replicas x 2 workers share rpm 20 while Redis is away: 5 per worker.
    cfg = _config(upstream, f"redis://127.0.0.1:{free_port()}/0", "gw:", replicas=2)
    with running_gateway(cfg, tmp_path, workers=2) as gw, httpx.Client(base_url=gw.url) as client:
        statuses = [
            client.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code
            for _ in range(7)
        ]
        assert statuses == [200] * 5 + [429] * 2
    # Without redis.replicas and Redis never reached: this replica's workers only, and said so.
    del cfg["redis"]["replicas"]
    with (
        caplog.at_level(logging.WARNING, "ironplane.gateway"),
        running_gateway(cfg, tmp_path, workers=2) as gw,
        httpx.Client(base_url=gw.url) as client,
    ):
        statuses = [
            client.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code
            for _ in range(12)
        ]
        assert statuses == [200] * 10 + [429] * 2
    assert "split among this replica's 2 worker(s) only" in caplog.text
    assert "set redis.replicas" in caplog.text


def _backend_of(gw: Handle) -> str:
    return gw.call(lambda: gw.running.gateway.metrics.limit_backend)


def _in_flight(gw: Handle) -> int:
    return gw.call(lambda: gw.running.gateway.metrics.in_flight)


def test_a_reload_that_changes_redis_leaves_no_request_waiting(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    with _stalled_redis() as stalled, concurrent.futures.ThreadPoolExecutor() as pool:
        cfg = _config(upstream, f"redis://127.0.0.1:{stalled.port}/0", "gw:", timeout="5s")
        with running_gateway(cfg, tmp_path) as gw:
            post = functools.partial(
                httpx.post, gw.url + "/v1/chat/completions", json=CHAT, headers=AUTH, timeout=30
            )
            waiting = pool.submit(post)  # Redis never answers: it waits (up to 5 s)
            wait_for(lambda: _in_flight(gw) == 1)
            gw.write_config({**cfg, "redis": {**cfg["redis"], "timeout": "4s"}})
            assert gw.call(gw.running.reload)
            # Decided locally at the reload, not left waiting for an answer that never comes.
            assert waiting.result(timeout=3).status_code == 200
            again = pool.submit(post)  # the new backend waits as well ...
            wait_for(lambda: _in_flight(gw) == 1)
            gw.write_config({k: v for k, v in cfg.items() if k != "redis"})
            assert gw.call(gw.running.reload)
            assert again.result(timeout=3).status_code == 200  # ... and Redis removed: local


def test_slots_of_the_old_backend_are_released_through_the_new_one(
    prefix: str, upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = _config(upstream, f"redis://127.0.0.1:{SHARED[1]}/0", prefix)
    cfg["models"][0]["targets"][0]["model"] = "hang"
    cfg["keys"][0]["limits"] = {"concurrency": 1}
    zset = f"{prefix}key:alice:c"
    with (
        running_gateway(cfg, tmp_path) as gw,
        concurrent.futures.ThreadPoolExecutor() as pool,
    ):
        pool.submit(httpx.post, gw.url + "/v1/chat/completions", json=CHAT, headers=AUTH)
        wait_for(lambda: redis_cmd(SHARED[1], "ZCARD", zset) == 1)
        gw.write_config({**cfg, "redis": {**cfg["redis"], "timeout": "2s"}})

        def reload_and_leave() -> str:
            assert gw.running.reload()
            for conn in list(gw.running.gateway.connections):  # the client leaves
                if conn.exchange is not None:
                    conn.exchange.cancel()
                    conn.abort()
            redis = gw.running.gateway.governor.redis
            assert redis is not None
            return redis.state

        # The client left while the new backend was still connecting: its slot is released
        # once it is up (not left to expire in 60 s).
        assert gw.call(reload_and_leave) == "connecting"
        wait_for(lambda: redis_cmd(SHARED[1], "ZCARD", zset) == 0)


def _slow_cfg(upstream: MockUpstream, port: int) -> dict[str, Any]:
    cfg = _config(upstream, f"redis://127.0.0.1:{port}/0", "gw:", timeout="300ms")
    cfg["models"].append({"name": "slow", "targets": [{"provider": "mock", "model": "slow-1500"}]})
    cfg["keys"][0]["limits"] = {"concurrency": 1, "rpm": 6}
    return cfg


def test_a_release_made_while_redis_is_away_is_sent_when_it_is_back(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    with (
        own_redis(tmp_path) as redis,
        concurrent.futures.ThreadPoolExecutor() as pool,
        running_gateway(_slow_cfg(upstream, redis.port), tmp_path) as gw,
    ):
        slow = pool.submit(
            httpx.post,
            gw.url + "/v1/chat/completions",
            json={**CHAT, "model": "slow"},
            headers=AUTH,
            timeout=30,
        )
        wait_for(lambda: redis_cmd(redis.port, "ZCARD", "gw:key:alice:c") == 1)
        # Redis stops answering (its data kept) for 3 s; a request makes the gateway see it.
        assert redis_cmd(redis.port, "CLIENT", "PAUSE", "3000", "ALL") == b"OK"
        with httpx.Client(base_url=gw.url, timeout=10) as client:
            client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert _backend_of(gw) == "local"
        assert slow.result().status_code == 200  # ended (its slot released) while away
        wait_for(lambda: _backend_of(gw) == "redis", timeout=15)
        wait_for(lambda: redis_cmd(redis.port, "ZCARD", "gw:key:alice:c") == 0)


def test_a_flushed_script_is_loaded_again_and_the_call_retried(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    with own_redis(tmp_path) as redis, concurrent.futures.ThreadPoolExecutor() as pool:
        cfg = _slow_cfg(upstream, redis.port)
        cfg["redis"]["timeout"] = "1s"
        with running_gateway(cfg, tmp_path) as gw:
            post = functools.partial(
                httpx.post, gw.url + "/v1/chat/completions", headers=AUTH, timeout=30
            )
            slow = pool.submit(post, json={**CHAT, "model": "slow"})
            wait_for(lambda: redis_cmd(redis.port, "ZCARD", "gw:key:alice:c") == 1)
            assert float(redis_cmd(redis.port, "GET", "gw:key:alice:r").split()[0]) == 5.0
            assert redis_cmd(redis.port, "SCRIPT", "FLUSH") == b"OK"
            # The release at its end meets NOSCRIPT: sent again with the script, not dropped.
            assert slow.result().status_code == 200
            wait_for(lambda: redis_cmd(redis.port, "ZCARD", "gw:key:alice:c") == 0)
            assert redis_cmd(redis.port, "SCRIPT", "FLUSH") == b"OK"
            # An admission too: decided by Redis (its bucket took one), not by the fallback.
            assert post(json=CHAT).status_code == 200
            assert float(redis_cmd(redis.port, "GET", "gw:key:alice:r").split()[0]) < 5.0
            assert _backend_of(gw) == "redis"
