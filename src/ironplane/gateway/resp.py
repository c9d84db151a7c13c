"""A pipelined Redis connection: RESP commands out in order, replies matched in order.

The gateway's hot path has no task per request, so neither has its Redis client: a plain
``asyncio.Protocol`` writes encoded commands and calls one callback per reply, parsed by
hiredis's C reader. Measured against redis-py's asyncio client (one ``EVALSHA`` at a time on
loopback, uvloop): 39 µs of CPU per call against 113 µs, most of redis-py's cost being its
connection pool, locks and coroutines — on a gateway that spends 24 µs per request, that
difference is the whole budget (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

Reply = Any
"""bytes, int, list, None, or a :class:`hiredis.ReplyError` (an error reply, not raised)."""
ReplyError = hiredis.ReplyError


def command(*args: bytes) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Address:
    """Where and how to reach Redis, from a ``redis://`` or ``rediss://`` URL."""

    __slots__ = ("db", "host", "password", "port", "tls", "user")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "rediss"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        path = parts.path.lstrip("/")
        self.db = int(path) if path else 0

    def hello(self) -> list[bytes]:
        """The commands that set a new connection up (AUTH, SELECT)."""
        out = []
        if self.password is not None:
            if self.user:
                out.append(command(b"AUTH", self.user.encode(), self.password.encode()))
            else:
                out.append(command(b"AUTH", self.password.encode()))
        if self.db:
            out.append(command(b"SELECT", b"%d" % self.db))
        return out


class Connection(asyncio.Protocol):
    """One connection; ``on_lost`` is called once when it closes (or is aborted)."""

    def __init__(self, on_lost: Callable[[Connection], None]) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[Callable[[Reply], None]] = deque()
        self.transport: asyncio.Transport | None = None
        self.on_lost = on_lost
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def send(self, data: bytes, on_reply: Callable[[Reply], None]) -> None:
        """Write one command; ``on_reply`` gets its reply (never called if the line drops)."""
        assert self.transport is not None
        self.waiting.append(on_reply)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                self.waiting.popleft()(reply)
        except (hiredis.ProtocolError, IndexError):
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.waiting.clear()
        if not self.closed:
            self.closed = True
            self.on_lost(self)

    def close(self) -> None:
        """Close once what was written has gone out; replies still owed are never delivered."""
        self.waiting.clear()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now; replies still owed are never delivered."""
        self.waiting.clear()
        if self.transport is not None:
            self.transport.abort()
