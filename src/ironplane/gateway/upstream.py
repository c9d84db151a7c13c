"""Keep-alive connection pools to the upstreams, callback style (no task or future per request).

A pool hands an exchange an idle connection (most recently used first), opens a new one while
under ``max_connections``, or queues the exchange until one is released. A connection parses
responses with httptools and calls the exchange back; it goes back to the pool only after a
complete response that allows keep-alive, and is aborted whenever its exchange is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable
from typing import Protocol

import httptools

from ironplane.gateway.targets import Upstream

log = logging.getLogger("ironplane.gateway")


class Exchange(Protocol):
    """What a pool and its connections call back (see ``exchange.Exchange``)."""

    gone: bool
    ticket: int
    """Which attempt of the exchange a pool is serving; a stale one is not called back."""

    def connected(self, conn: Connection, reused: bool) -> None: ...
    def connect_failed(self, exc: BaseException) -> None: ...
    def on_head(self, status: int, content_type: bytes, retry_after: bytes) -> None: ...
    def on_piece(self, data: bytes) -> None: ...
    def on_flush(self) -> None: ...
    def on_done(self) -> None: ...
    def on_lost(self, reason: str) -> None: ...
    def crashed(self, exc: BaseException) -> None: ...


class Connection(asyncio.Protocol):
    __slots__ = (
        "alive",
        "complete",
        "ctype",
        "ex",
        "framed",
        "got_bytes",
        "head_done",
        "interim",
        "keep",
        "parser",
        "pool",
        "retry_after",
        "transport",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.ex: Exchange | None = None
        self.alive = True
        self.complete = False
        self.keep = False
        self.got_bytes = False
        self.ctype = b""
        self.retry_after = b""
        self.interim = False
        self.head_done = False
        self.framed = False

    # -- asyncio ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses

    def send(self, ex: Exchange, data: bytes) -> None:
        self.ex = ex
        self.got_bytes = False
        self.ctype = b""
        self.retry_after = b""
        self.head_done = False
        self.framed = False
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        ex = self.ex
        if ex is None:  # bytes with no request outstanding: the upstream is confused
            self.abort()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.ex = None
            self.abort()
            ex.on_lost("bad_response")
            return
        if self.complete:
            self.complete = False
            self.ex = None
            if self.keep and self.alive:
                self.pool.release(self)
            else:
                self.abort()
            _guard(ex, ex.on_done)
        else:
            _guard(ex, ex.on_flush)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.alive:
            self.alive = False
            self.pool.discard(self)
        ex, self.ex = self.ex, None
        if ex is None:
            return
        if self.head_done and not self.framed:
            # No Content-Length and not chunked: the body ends where the connection does.
            _guard(ex, ex.on_done)
        else:
            _guard(ex, lambda: ex.on_lost("reset" if self.got_bytes else "closed"))

    def pause_writing(self) -> None:  # pragma: no cover - request bodies are small
        pass

    # -- httptools ---------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        n = len(name)
        if n == 12 and name.lower() == b"content-type":
            self.ctype = value
        elif n == 11 and name.lower() == b"retry-after":
            self.retry_after = value
        elif (n == 14 and name.lower() == b"content-length") or (
            n == 17 and name.lower() == b"transfer-encoding"
        ):
            self.framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 1xx: an interim answer, the real one follows on this connection
            self.interim = True
            return
        self.head_done = True
        if status in (204, 304):
            self.framed = True
        if self.ex is not None:
            self.ex.on_head(status, self.ctype, self.retry_after)

    def on_body(self, body: bytes) -> None:
        if self.ex is not None and not self.interim:
            self.ex.on_piece(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            self.ctype = b""
            self.retry_after = b""
            self.framed = False
            return
        self.complete = True
        self.keep = self.parser.should_keep_alive()  # only valid inside this callback

    # -- control ----------------------------------------------------------------------------

    def abort(self) -> None:
        """Drop the connection now (an abandoned or broken exchange): never reused."""
        self.ex = None
        if self.alive:
            self.alive = False
            self.pool.discard(self)
        if self.transport is not None:
            self.transport.abort()

    def pause(self) -> None:
        if self.transport is not None and self.alive:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and self.alive:
            self.transport.resume_reading()


def _guard(ex: Exchange, step: Callable[[], None]) -> None:
    """Run an exchange step; a bug in it fails that request instead of the connection's loop."""
    try:
        step()
    except Exception as exc:
        log.exception("gateway: an exchange step failed")
        ex.crashed(exc)


class Pool:
    """Connections to one (scheme, host, port)."""

    def __init__(self, upstream: Upstream) -> None:
        self.tls, self.host, self.port = upstream.address
        self.max_connections = upstream.max_connections
        self.connect_timeout = upstream.connect_timeout
        self.ca_file = upstream.ca_file
        self.ssl: ssl.SSLContext | None = upstream.ssl_context()
        self.idle: list[Connection] = []
        self.open = 0
        """Connections open or being opened."""
        self.waiting: deque[tuple[Exchange, int]] = deque()
        self.tasks: set[asyncio.Task[None]] = set()

    def acquire(self, ex: Exchange) -> None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.alive:
                ex.connected(conn, True)
                return
        if self.open < self.max_connections:
            self._open(ex, ex.ticket)
        else:
            self.waiting.append((ex, ex.ticket))

    def _open(self, ex: Exchange, ticket: int) -> None:
        self.open += 1
        task = asyncio.get_running_loop().create_task(self._connect(ex, ticket))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect(self, ex: Exchange, ticket: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: Connection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self.open -= 1
            if not ex.gone and ex.ticket == ticket:
                ex.connect_failed(exc)
            self._serve_waiting()
            return
        except asyncio.CancelledError:
            self.open -= 1
            raise
        if ex.gone or ex.ticket != ticket:
            self.release(conn)
        else:
            ex.connected(conn, False)

    def release(self, conn: Connection) -> None:
        waiting = self.waiting
        while waiting:
            ex, ticket = waiting.popleft()
            if not ex.gone and ex.ticket == ticket:
                ex.connected(conn, True)
                return
        self.idle.append(conn)

    def discard(self, conn: Connection) -> None:
        self.open -= 1
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        self._serve_waiting()

    def _serve_waiting(self) -> None:
        while self.waiting and self.open < self.max_connections:
            ex, ticket = self.waiting.popleft()
            if not ex.gone and ex.ticket == ticket:
                self._open(ex, ticket)

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for conn in list(self.idle):
            conn.abort()
        self.idle.clear()


class Pools:
    """Every pool of a worker, shared by configurations across reloads."""

    def __init__(self) -> None:
        self.pools: dict[tuple[bool, str, int], Pool] = {}

    def get(self, upstream: Upstream) -> Pool:
        pool = self.pools.get(upstream.address)
        if pool is None:
            pool = self.pools[upstream.address] = Pool(upstream)
        else:
            pool.max_connections = upstream.max_connections
            pool.connect_timeout = upstream.connect_timeout
            if pool.ca_file != upstream.ca_file:  # new connections verify against the new CA
                pool.ca_file = upstream.ca_file
                pool.ssl = upstream.ssl_context()
        return pool

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
