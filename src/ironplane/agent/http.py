"""The agent's small HTTP endpoint: ``GET /metrics`` (Prometheus) and ``GET /healthz``.

Plain asyncio streams (no web framework: the agent carries no control-plane dependencies). One
request per connection, ``Connection: close``; requests are bounded (8 KiB of head, 5 s to send
it). ``/healthz`` answers 200 ``{"status": "ok", ...}`` while the agent's loops run, whether or
not the control plane is reachable right now (a probe that restarted the agent whenever the
control plane is away would only add restarts); ``connected`` and the revisions are in the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ironplane.agent.http")
MAX_HEAD = 8192
READ_TIMEOUT_S = 5.0


class AgentHttp:
    def __init__(
        self,
        *,
        metrics: Callable[[], bytes],
        health: Callable[[], tuple[bool, dict[str, Any]]],
    ) -> None:
        self.metrics = metrics
        self.health = health
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port bound (``port`` 0: any free one)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("serving /metrics and /healthz on %s:%d", host, bound)
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            if len(head) > MAX_HEAD:
                await self._answer(writer, 431, b"request head too large\n", "text/plain")
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            path = target.split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                await self._answer(writer, 405, b"only GET\n", "text/plain")
            elif path == "/metrics":
                body = self.metrics()
                await self._answer(
                    writer, 200, body, "text/plain; version=0.0.4; charset=utf-8", method
                )
            elif path == "/healthz":
                ok, details = self.health()
                data = json.dumps({"status": "ok" if ok else "failing", **details}).encode()
                await self._answer(writer, 200 if ok else 503, data, "application/json", method)
            else:
                await self._answer(writer, 404, b"not found: try /metrics or /healthz\n")
        except (ConnectionError, OSError):
            pass
        except Exception:
            log.exception("answering a request on the metrics port failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _answer(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "text/plain",
        method: str = "GET",
    ) -> None:
        reasons = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Unavailable"}
        head = (
            f"HTTP/1.1 {status} {reasons.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + (body if method != "HEAD" else b""))
        await writer.drain()
