"""Limits and spend shared by every replica through Redis: one script call per loop tick.

Admissions that arrive during one turn of the event loop are sent together, as one
``EVALSHA`` of the script in ``redis_script.py`` (one round trip, not one per request), with
the token debits, concurrency releases and spend of the requests that finished meanwhile.
Commands are pipelined on one connection per worker (``resp.py``).

When Redis does not answer within ``redis.timeout``, refuses the connection, or answers an
error, the worker switches to its local limits (each replica allowing ``1/replicas`` of every
limit, see ``governor.py``), says so once in the log and in ``limit_backend``, decides the
requests of the failed batch locally, and tries to connect again once a second — never per
request. Back on Redis, the spend counted while it was away is added to Redis.

Each worker also beats a heartbeat into a sorted set every few seconds; the number of workers
seen in the last 15 s is the ``replicas`` the local fallback divides by (unless the config
sets ``redis.replicas``). A request's concurrency slot carries an expiry (60 s, pushed forward
every 20 s while the request runs), so the slots of a replica that died free themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

from ironplane.gateway.config import RedisSettings
from ironplane.gateway.redis_script import SCRIPT
from ironplane.gateway.resp import Address, Connection, Reply, ReplyError, command

log = logging.getLogger("ironplane.gateway")

SLOT_TTL = 60.0
"""Seconds a concurrency slot lives without being refreshed (a crashed replica's expire)."""
REFRESH_EVERY = 20.0
HEARTBEAT_EVERY = 5.0
HEARTBEAT_WINDOW = 15.0
PROBE_EVERY = 1.0
CONNECT_TIMEOUT = 1.0

CONNECTING, UP, DOWN = "connecting", "up", "down"


class RedisBackend:
    """One worker's connection to Redis and the batch being gathered for the next tick."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        settings: RedisSettings,
        on_state: Callable[[str], None],
        on_failed: Callable[[list[Any]], None],
        on_answer: Callable[[Any, Reply], None],
    ) -> None:
        self.loop = loop
        self.settings = settings
        self.address = Address(settings.url)
        self.timeout = float(settings.timeout)
        self.on_state = on_state
        """Called with UP or DOWN when the backend changes."""
        self.on_failed = on_failed
        """Called with the waiters of a batch Redis did not answer: decide them locally."""
        self.on_answer = on_answer
        """Called with each waiter and its entry of the script's answer."""
        self.state = CONNECTING
        self.conn: Connection | None = None
        self.sha = hashlib.sha1(SCRIPT.encode()).hexdigest().encode()  # Redis's script id
        self.ops: list[bytes] = []
        self.waiters: list[Any] = []
        self.debits: dict[bytes, float] = {}
        self.spends: dict[bytes, list[float]] = {}
        self.scheduled = False
        self.flying: deque[tuple[list[Any], asyncio.TimerHandle]] = deque()
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self.probe: asyncio.TimerHandle | None = None
        self.error = ""
        self._ttl = repr(SLOT_TTL).encode()

    # -- connection -------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self.task = self.loop.create_task(self._connect())
        return self.task

    async def _connect(self) -> None:
        conn: Connection | None = None
        try:
            tls = ssl.create_default_context() if self.address.tls else None
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: Connection(self._lost),
                    self.address.host,
                    self.address.port,
                    ssl=tls,
                ),
                CONNECT_TIMEOUT,
            )
            replies: list[asyncio.Future[Reply]] = []
            assert conn is not None
            for data in (*self.address.hello(), command(b"SCRIPT", b"LOAD", SCRIPT.encode())):
                future: asyncio.Future[Reply] = self.loop.create_future()
                conn.send(data, future.set_result)
                replies.append(future)
            answers = await asyncio.wait_for(asyncio.gather(*replies), CONNECT_TIMEOUT)
            for answer in answers:
                if isinstance(answer, ReplyError):
                    raise ConnectionError(f"Redis refused the connection's setup: {answer}")
            if answers[-1] != self.sha:
                raise ConnectionError("Redis loaded the script under an unexpected id")
        except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            if conn is not None:
                conn.closed = True
                conn.abort()
            self._down(f"cannot reach Redis at {self.address.host}:{self.address.port}: {exc}")
            return
        finally:
            self.task = None
        assert conn is not None
        if self.closed:
            conn.closed = True
            conn.abort()
            return
        self.conn = conn
        self.state = UP
        self.error = ""
        self.on_state(UP)
        if self.ops or self.debits or self.spends:
            self._schedule()

    def _lost(self, conn: Connection) -> None:
        if conn is self.conn:
            self.conn = None
            self._down("the connection to Redis was lost")

    def _down(self, why: str) -> None:
        """Stop using Redis: fail what is in flight, decide locally, probe again later."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.closed = True
            conn.abort()
        was = self.state
        self.state = DOWN
        self.error = why
        flying, self.flying = self.flying, deque()
        for waiters, timer in flying:
            timer.cancel()
            self.on_failed(waiters)
        if self.waiters:  # gathered while connecting: decide them now
            self._fail_pending()
        if was != DOWN:
            self.on_state(DOWN)
        if not self.closed and self.probe is None:
            self.probe = self.loop.call_later(PROBE_EVERY, self._probe)

    def _probe(self) -> None:
        self.probe = None
        if not self.closed and self.state == DOWN and self.task is None:
            self.start()

    async def finish(self) -> None:
        """Send what is queued (releases, debits, spend) and wait for its answer, briefly."""
        if self.state != UP:
            return
        self.flush()
        deadline = self.loop.time() + self.timeout + 0.1
        while self.flying and self.loop.time() < deadline:
            await asyncio.sleep(0.005)

    def close(self) -> None:
        self.closed = True
        if self.probe is not None:
            self.probe.cancel()
        if self.task is not None:
            self.task.cancel()
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.closed = True
            conn.abort()
        for _, timer in self.flying:
            timer.cancel()
        self.flying.clear()

    # -- the batch --------------------------------------------------------------------------

    def add(self, op: bytes, waiter: Any = None) -> None:
        """Queue an operation for this tick's call; ``waiter`` (A and H) gets its answer."""
        self.ops.append(op)
        if waiter is not None:
            self.waiters.append(waiter)
        if not self.scheduled:
            self._schedule()

    def spend(self, key: bytes, usd: float, expire_at: float) -> None:
        """Add spend; one INCRBYFLOAT per counter and tick, whatever the requests."""
        entry = self.spends.get(key)
        if entry is None:
            self.spends[key] = [usd, expire_at]
        else:
            entry[0] += usd
        if not self.scheduled:
            self._schedule()

    def debit(self, key: bytes, tokens: float) -> None:
        self.debits[key] = self.debits.get(key, 0.0) + tokens
        if not self.scheduled:
            self._schedule()

    def _schedule(self) -> None:
        if self.state == UP:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def _fail_pending(self) -> None:
        waiters, self.waiters = self.waiters, []
        self.ops = []
        self.debits = {}
        self.on_failed(waiters)

    def flush(self) -> None:
        self.scheduled = False
        conn = self.conn
        if conn is None or self.state != UP:
            if self.state == DOWN:
                self._fail_pending()
            return
        ops = self.ops
        if self.debits:
            ops.append(
                b"D " + b" ".join(b"%s %s" % (k, repr(v).encode()) for k, v in self.debits.items())
            )
            self.debits = {}
        if self.spends:
            ops.append(
                b"S " + b" ".join(b"%s %.12f %d" % (k, v[0], v[1]) for k, v in self.spends.items())
            )
            self.spends = {}
        if not ops:
            return
        waiters = self.waiters
        self.ops, self.waiters = [], []
        timer = self.loop.call_later(self.timeout, self._late)
        self.flying.append((waiters, timer))
        conn.send(command(b"EVALSHA", self.sha, b"0", self._ttl, *ops), self._answered)

    def _answered(self, reply: Reply) -> None:
        waiters, timer = self.flying.popleft()
        timer.cancel()
        if not isinstance(reply, list) or len(reply) != len(waiters):
            self.on_failed(waiters)
            self._down(f"Redis answered the limits script with an error: {reply!r}"[:300])
            return
        on_answer = self.on_answer
        for waiter, answer in zip(waiters, reply, strict=True):
            try:
                on_answer(waiter, answer)
            except Exception:  # a bug with one request must not lose the others' answers
                log.exception("the gateway failed on a Redis answer")

    def _late(self) -> None:
        self._down(f"Redis did not answer within {self.timeout * 1000:g} ms")

    # -- periodic -------------------------------------------------------------------------

    def heartbeat(self, replica: bytes, on_count: Callable[[int], None]) -> None:
        if self.state == UP:
            key = self.settings.prefix.encode() + b"replicas"
            self.add(b"H %s %s %s" % (key, replica, repr(HEARTBEAT_WINDOW).encode()), on_count)

    def refresh(self, held: dict[bytes, bytes]) -> None:
        if self.state == UP:
            for slot, keys in held.items():
                self.add(b"K %s %s" % (slot, keys))


def quietly_close(backend: RedisBackend | None) -> None:
    if backend is not None:
        with contextlib.suppress(Exception):
            backend.close()
