"""A fake control plane that follows the gateway contract, and a gateway run in control-plane mode.

The fake serves ``GET /api/v1/gateway/snapshot`` (bearer token, ``ETag``, ``304`` on a matching
``If-None-Match``) and takes ``POST /api/v1/gateway/usage`` (``202 {"accepted": n}``), keeping
every batch it took. It can be stopped and started again on the same port (connection refused
in between), made to answer 503, or made slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvloop
import yaml

from ironplane.gateway import config as config_file
from ironplane.gateway.snapshot import Store
from ironplane.gateway.source import Source
from ironplane.gateway.worker import serve
from tests.gateway.conftest import Handle, shut_down

TOKEN = "ipt_00000000000000aa_gateway-secret"


@dataclass
class Minted:
    bearer: str
    entry: dict[str, Any]


def mint(name: str, *, expires_at: float | None = None, team: str | None = None) -> Minted:
    """An Ironplane token and its snapshot key entry (only the secret's hash in it)."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(16)
    entry = {
        "name": name,
        "token_id": token_id,
        "hash": "sha256:" + hashlib.sha256(secret.encode()).hexdigest(),
        "team": team,
        "models": ["*"],
        "expires_at": expires_at,
    }
    return Minted(f"ipt_{token_id}_{secret}", entry)


def model_config(name: str, upstream_url: str, upstream_model: str = "ok") -> dict[str, Any]:
    provider = f"model:prod/{name}"
    return {
        "providers": [{"name": provider, "kind": "openai", "base_url": upstream_url}],
        "models": [{"name": name, "targets": [{"provider": provider, "model": upstream_model}]}],
    }


class FakeControlPlane:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {"providers": [], "models": [], "keys": []}
        self.version_override: str | None = None
        self.snapshot_status = 200
        self.usage_status = 202
        self.usage_delay = 0.0
        self.usage_statuses: list[int] = []
        """Statuses for the next usage POSTs, in order (then ``usage_status``)."""
        self.usage_posts = 0
        """Usage POSTs received (counted before ``usage_delay``)."""
        self.usage_in_progress = 0
        self.batches: list[dict[str, Any]] = []
        self.snapshot_gets: list[str | None] = []
        """The If-None-Match of every snapshot request."""
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- what it serves --------------------------------------------------------------------

    @property
    def version(self) -> str:
        if self.version_override is not None:
            return self.version_override
        canonical = json.dumps(self.config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def set(self, **config: Any) -> None:
        with self.lock:
            self.config = {"providers": [], "models": [], "keys": [], **config}

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for b in self.batches for r in b["records"]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- up and down -------------------------------------------------------------------------

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                if self.headers.get("authorization") != f"Bearer {TOKEN}":
                    self._send(401, b'{"error": {"code": "unauthenticated"}}')
                    return False
                return True

            def do_GET(self) -> None:
                if self.path != "/api/v1/gateway/snapshot":
                    self._send(404)
                    return
                if not self._authorized():
                    return
                with fake.lock:
                    fake.snapshot_gets.append(self.headers.get("if-none-match"))
                    status, version, config = fake.snapshot_status, fake.version, fake.config
                if status != 200:
                    self._send(status, b'{"error": {"code": "unavailable"}}')
                    return
                etag = f'"{version}"'
                if self.headers.get("if-none-match") == etag:
                    self._send(304, headers={"etag": etag})
                    return
                body = json.dumps(
                    {"version": version, "generated_at": "2026-11-29T21:00:00Z", "config": config}
                ).encode()
                self._send(200, body, {"etag": etag, "content-type": "application/json"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path != "/api/v1/gateway/usage":
                    self._send(404)
                    return
                if not self._authorized():
                    return
                with fake.lock:
                    fake.usage_posts += 1
                    fake.usage_in_progress += 1
                    status = fake.usage_statuses.pop(0) if fake.usage_statuses else None
                try:
                    if fake.usage_delay:
                        time.sleep(fake.usage_delay)
                    status = status or fake.usage_status
                    if status != 202:
                        self._send(status, b'{"error": {"code": "unavailable"}}')
                        return
                    batch = json.loads(body)
                    with fake.lock:
                        fake.batches.append(batch)
                    self._send(202, json.dumps({"accepted": len(batch["records"])}).encode())
                finally:
                    with fake.lock:
                        fake.usage_in_progress -= 1

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()


@contextmanager
def fake_control_plane() -> Iterator[FakeControlPlane]:
    fake = FakeControlPlane()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def cp_section(fake: FakeControlPlane, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A ``control_plane`` section for the fake (its token in a file), refreshing quickly."""
    token_file = tmp_path / "cp-token"
    token_file.write_text(TOKEN + "\n")
    return {
        "url": fake.url,
        "token": {"file": str(token_file)},
        "refresh": "100ms",
        "usage_flush": "100ms",
        **extra,
    }


@contextmanager
def cp_gateway(data: dict[str, Any], tmp_path: Path) -> Iterator[tuple[Handle, Source]]:
    """The gateway in control-plane mode as one worker runs it: a first fetch, then a thread."""
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = config_file.load(path)
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    store = Store(store_dir)
    source = Source(path, loaded, store)
    source.refresh()
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(
        serve(loaded, path, "127.0.0.1", 0, store=store), loop
    ).result(5)
    halt = threading.Event()
    fetcher = threading.Thread(
        target=source.run,
        args=(halt, lambda: loop.call_soon_threadsafe(running.reload)),
        daemon=True,
    )
    fetcher.start()
    handle = Handle(f"http://127.0.0.1:{running.port}", running, loop, path)
    try:
        yield handle, source
    finally:
        halt.set()
        fetcher.join(5)
        shut_down(handle, running, loop, thread)
