"""Redis for the gateway's tests: the machine's server with a key prefix per test, or a
server of the test's own (to stop and start it again)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hiredis
import pytest

from tests.ports import free_port

SHARED = ("127.0.0.1", 6379)


def redis_cmd(port: int, *args: str | bytes) -> Any:
    """One command on a fresh connection; the reply as hiredis parses it."""
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    data = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in parts)
    reader = hiredis.Reader()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        while (reply := reader.gets()) is False:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            reader.feed(chunk)
    return reply


def keys(port: int, prefix: str) -> list[str]:
    return sorted(k.decode() for k in redis_cmd(port, "KEYS", prefix + "*"))


def shared_redis_or_skip() -> int:
    try:
        redis_cmd(SHARED[1], "PING")
    except OSError as exc:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"no Redis on 127.0.0.1:6379 in CI: {exc}") from None
        pytest.skip(f"no Redis on 127.0.0.1:6379 ({exc}); start one to run this test")
    return SHARED[1]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis, deleted afterwards."""
    port = shared_redis_or_skip()
    name = f"iptest:{uuid.uuid4().hex[:12]}:"
    yield name
    found = redis_cmd(port, "KEYS", name + "*")
    if found:
        redis_cmd(port, "DEL", *found)


class OwnRedis:
    """A redis-server of the test's own, on a free port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                raise AssertionError("redis-server is not installed (apt-get install redis-server)")
            pytest.skip("redis-server is not installed; install it to run this test")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis_cmd(self.port, "PING") == b"PONG":
                    return
            except OSError:
                pass
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@contextmanager
def own_redis(workdir: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
