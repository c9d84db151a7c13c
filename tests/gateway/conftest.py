"""Gateway fixtures: the gateway on its own uvloop thread, mock upstreams, and configs."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import openai
import pytest
import uvloop
import yaml

from ironplane.gateway import config as config_file
from ironplane.gateway.worker import Running, serve
from tests.gateway.openai_mock import MockUpstream, openai_upstream

KEY = "sk-test-alice"
OTHER_KEY = "sk-test-bob"
T = TypeVar("T")


@dataclass
class Handle:
    url: str
    running: Running
    loop: asyncio.AbstractEventLoop
    path: Path
    clients: list[openai.OpenAI] = field(default_factory=list)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the gateway's loop (its state is not thread-safe) and return its result."""

        async def inside() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(5)

    def client(self, key: str = KEY, **kw: Any) -> openai.OpenAI:
        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 10)
        client = openai.OpenAI(base_url=self.url + "/v1", api_key=key, **kw)
        self.clients.append(client)  # closed when the gateway stops
        return client

    def write_config(self, data: dict[str, Any]) -> None:
        self.path.write_text(yaml.safe_dump(data))

    @property
    def port(self) -> int:
        return self.running.port

    def raw(self, data: bytes) -> bytes:
        """Send raw bytes on a new connection and read until the gateway closes it."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = s.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)


def targets(*models: str, **extra: Any) -> dict[str, Any]:
    """A model entry whose targets are the mock provider's upstream models (behaviours)."""
    return {"targets": [{"provider": "mock", "model": m} for m in models], **extra}


def base_config(upstream_url: str, **models: Any) -> dict[str, Any]:
    """A config with one provider ``mock`` and the given models (name -> model entry)."""
    entries = [{"name": name, **entry} for name, entry in models.items()] or [
        {"name": "gpt", "targets": [{"provider": "mock", "model": "ok"}]}
    ]
    return {
        "providers": [{"name": "mock", "kind": "openai", "base_url": upstream_url}],
        "models": entries,
        "keys": [
            {"name": "alice", "hash": config_file.hash_key(KEY), "models": ["*"]},
            # bob may use the first model only
            {
                "name": "bob",
                "hash": config_file.hash_key(OTHER_KEY),
                "models": [entries[0]["name"]],
            },
        ],
    }


@contextmanager
def running_gateway(
    data: dict[str, Any], tmp_path: Path, environ: dict[str, str] | None = None, workers: int = 1
) -> Iterator[Handle]:
    """The gateway on a thread of its own; ``workers``: the count this worker believes it is
    one of (its limits' share), without starting the others."""
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = config_file.load(path, environ)
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(
        serve(loaded, path, "127.0.0.1", 0, workers=workers), loop
    ).result(5)
    handle = Handle(f"http://127.0.0.1:{running.port}", running, loop, path)
    try:
        yield handle
    finally:
        shut_down(handle, running, loop, thread)


def shut_down(
    handle: Handle, running: Any, loop: asyncio.AbstractEventLoop, thread: threading.Thread
) -> None:
    """Close the test's clients, drain the gateway, cancel what is left, stop its loop."""
    for client in handle.clients:
        client.close()
    asyncio.run_coroutine_threadsafe(running.drain(), loop).result(15)

    async def settle() -> None:
        await asyncio.sleep(0.05)
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    asyncio.run_coroutine_threadsafe(settle(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def upstream() -> Iterator[MockUpstream]:
    with openai_upstream() as mock:
        yield mock
