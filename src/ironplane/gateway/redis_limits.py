"""Limits and spend shared by every replica through Redis: one script call per loop tick.

Admissions that arrive during one turn of the event loop are sent together, as one
``EVALSHA`` of the script in ``redis_script.py`` (one round trip, not one per request), with
the token debits, concurrency releases and spend of the requests that finished meanwhile.
Commands are pipelined on one connection per worker (``resp.py``).

When Redis does not answer within ``redis.timeout``, refuses the connection, or answers an
error, the worker switches to its local limits (each worker allowing its share of every
limit, see ``governor.py``), says so once in the log and in ``limit_backend``, decides the
requests of the failed batch locally, and tries to connect again once a second — never per
request. What Redis still has to hear is kept and sent once it answers again: concurrency
releases (idempotent, so always; with the release of every slot a failed call may have
taken), spend and the last minute's token debits (those of a call that surely did not run:
refused with an error such as ``LOADING`` or ``BUSY``, or made while Redis was away). The
error answer ``NOSCRIPT`` (Redis restarted or flushed its scripts while the connection stayed)
is not a failure: the call is sent again once with ``EVAL`` (which loads the script again).

Each worker also beats a heartbeat into a sorted set every few seconds; the number of workers
seen in the last 15 s is what the local fallback divides by (unless the config sets
``redis.replicas``: then replicas times this gateway's workers). A request's concurrency
slot carries an expiry (60 s, pushed forward every 20 s while the request runs), so the slots
of a replica that died free themselves.
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

_SCRIPT = SCRIPT.encode()
_NOT_RUN = ("NOSCRIPT", "LOADING", "BUSY", "MASTERDOWN", "NOAUTH", "NOPERM")
"""Error answers that mean Redis refused the call before running the script."""
_OWED = (b"R ", b"D ", b"S ")
"""Operations kept while Redis is away: releases, token debits, spend (not admissions, whose
requests are decided locally, nor slot refreshes, redone once it is back)."""

log = logging.getLogger("ironplane.gateway")

SLOT_TTL = 60.0
"""Seconds a concurrency slot lives without being refreshed (a crashed replica's expire)."""
REFRESH_EVERY = 20.0
HEARTBEAT_EVERY = 5.0
HEARTBEAT_WINDOW = 15.0
PROBE_EVERY = 1.0
CONNECT_TIMEOUT = 1.0
DEBITS_KEPT = 60.0
"""Token debits made while Redis is away are sent when it is back, at most this many seconds'
worth (older ones would have refilled: the buckets are per minute)."""

CONNECTING, UP, DOWN = "connecting", "up", "down"


class _Batch:
    """One script call in flight: its operations, who waits on its answer, its deadline."""

    __slots__ = ("ops", "retried", "timer", "waiters")

    def __init__(self, ops: list[bytes], waiters: list[Any], timer: asyncio.TimerHandle) -> None:
        self.ops = ops
        self.waiters = waiters
        self.timer = timer
        self.retried = False


def undo(op: bytes) -> bytes | None:
    """The release of the concurrency slots an admission (``A``) took, if it took any."""
    words = op.split(b" ")
    zkeys = []
    i = 2
    while i < len(words):
        kind = words[i]
        if kind == b"c":
            zkeys.append(words[i + 1])
        i += 4 if kind in (b"r", b"t") else 3
    return b"R " + words[1] + b" " + b" ".join(zkeys) if zkeys else None


def still_owed(ops: list[bytes], may_have_run: bool) -> list[bytes]:
    """What of a failed call must still reach Redis. Releases always (removing a slot twice is
    harmless), and the release of every slot its admissions may have taken; token debits and
    spend only when the script surely did not run (sending them twice would count twice)."""
    out = []
    for op in ops:
        kind = op[:2]
        if kind == b"R ":
            out.append(op)
        elif kind == b"A ":
            if may_have_run and (release := undo(op)) is not None:
                out.append(release)
        elif kind in (b"D ", b"S ") and not may_have_run:
            out.append(op)
    return out


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
        self.debits_since = 0.0
        self.spends: dict[bytes, list[float]] = {}
        self.scheduled = False
        self.flying: deque[_Batch] = deque()
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
        except asyncio.CancelledError:  # closed while connecting
            if conn is not None:
                conn.closed = True
                conn.abort()
            raise
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
        for batch in flying:  # sent, no answer: it may have run
            batch.timer.cancel()
            self.ops[:0] = still_owed(batch.ops, may_have_run=True)
            self.on_failed(batch.waiters)
        if self.waiters:  # gathered while connecting: decide them now
            self._fail_pending()
        if was != DOWN and not self.closed:
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

    def close(self) -> list[bytes]:
        """Stop (a reload that changed ``redis``, or shutdown), leaving no request waiting.

        The requests waiting for an answer are decided locally at once. What Redis still has to
        hear (releases, debits, spend, and the release of the slots that the calls in flight
        may take) goes out as a last call when connected, before the connection closes (Redis
        runs what it has read); otherwise it is returned, for the next backend to send."""
        self.closed = True
        if self.probe is not None:
            self.probe.cancel()
        if self.task is not None:
            self.task.cancel()
        flying, self.flying = self.flying, deque()
        waiters, self.waiters = self.waiters, []
        owed = [op for op in self.ops if op[:2] in _OWED]
        self.ops = []
        for batch in flying:
            batch.timer.cancel()
            owed += still_owed([op for op in batch.ops if op[:2] == b"A "], may_have_run=True)
            waiters += batch.waiters
        owed += self._counters()
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.closed = True
            if owed and self.state == UP:
                conn.send(command(b"EVALSHA", self.sha, b"0", self._ttl, *owed), _ignore)
                owed = []
            conn.close()
        self.on_failed(waiters)
        return owed

    def requeue(self, ops: list[bytes]) -> None:
        """Operations another backend could not send (a reload): sent with the next call."""
        if ops:
            self.ops[:0] = ops
            if not self.scheduled:
                self._schedule()

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
        if not self.debits:
            self.debits_since = self.loop.time()
        elif self.state != UP and self.loop.time() - self.debits_since > DEBITS_KEPT:
            self.debits = {}  # kept while away: only the last minute's matter
            self.debits_since = self.loop.time()
        self.debits[key] = self.debits.get(key, 0.0) + tokens
        if not self.scheduled:
            self._schedule()

    def _schedule(self) -> None:
        if self.state == UP:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def _fail_pending(self) -> None:
        """Redis is away: decide the waiting admissions locally (they were never sent); keep
        the releases, debits and spend for when it is back (slot refreshes are redone then)."""
        waiters, self.waiters = self.waiters, []
        self.ops = [op for op in self.ops if op[:2] in _OWED]
        self.on_failed(waiters)

    def _counters(self) -> list[bytes]:
        """The coalesced token debits and spend, as operations (and forget them)."""
        ops = []
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
        return ops

    def flush(self) -> None:
        self.scheduled = False
        conn = self.conn
        if conn is None or self.state != UP or self.closed:
            if self.state == DOWN:
                self._fail_pending()
            return
        ops = self.ops
        if self.debits or self.spends:
            ops += self._counters()
        if not ops:
            return
        waiters = self.waiters
        self.ops, self.waiters = [], []
        timer = self.loop.call_later(self.timeout, self._late)
        self.flying.append(_Batch(ops, waiters, timer))
        conn.send(command(b"EVALSHA", self.sha, b"0", self._ttl, *ops), self._answered)

    def _answered(self, reply: Reply) -> None:
        batch = self.flying.popleft()
        batch.timer.cancel()
        waiters = batch.waiters
        if isinstance(reply, ReplyError):
            conn = self.conn
            if str(reply).startswith("NOSCRIPT") and not batch.retried and conn is not None:
                # The script is gone from Redis's cache (a restart kept the connection, or
                # SCRIPT FLUSH): send the same call with the script itself, once.
                batch.retried = True
                batch.timer = self.loop.call_later(self.timeout, self._late)
                self.flying.append(batch)
                conn.send(command(b"EVAL", _SCRIPT, b"0", self._ttl, *batch.ops), self._answered)
                return
            if str(reply).startswith(_NOT_RUN):  # refused before running: all still owed
                self.ops[:0] = still_owed(batch.ops, may_have_run=False)
            # Any other error comes from inside the script (it may have run in part): sending
            # it again would repeat what ran, and fail again the same way.
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


def _ignore(reply: Reply) -> None:
    """The answer of a last call made while closing: nobody waits for it."""


def quietly_close(backend: RedisBackend | None) -> list[bytes]:
    """Close ``backend``; what it could not send (see :meth:`RedisBackend.close`)."""
    if backend is not None:
        with contextlib.suppress(Exception):
            return backend.close()
    return []
