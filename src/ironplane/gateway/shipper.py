"""The request-log shipper: usage records to the control plane, in batches, off the request path.

Each worker keeps a bounded ring buffer (``control_plane.usage_buffer`` records). The request
path only appends (:meth:`Shipper.add`, the usage sink): when the buffer is full the oldest
record is dropped and counted, so a control plane that is down costs memory up to the bound and
never time. A task of the worker's loop posts ``POST <url>/api/v1/gateway/usage`` every
``usage_flush`` seconds, or as soon as ``usage_batch`` records wait; the blocking HTTP call runs
in the loop's thread pool, so no request ever awaits it.

A batch that fails (unreachable, 5xx, 401/403) goes back to the front of the buffer (as much of
it as fits; the rest is dropped, oldest first) and the next try waits longer (doubling, up to
ten flush intervals or 30 s). A batch the control plane refuses as invalid (400, 413, 422) would
fail forever: it is dropped and counted. Each body says how many records this worker dropped
since its last accepted batch.

Each POST runs in a daemon thread of its own and its outcome is awaited shielded: cancelling
the loop's task never abandons a POST that may still succeed. On shutdown (:meth:`close`) the
POST in flight is awaited (up to the deadline) and its batch put back only if it failed, then
what is left is flushed, all within one deadline; a batch whose POST has no answer by then is
neither put back nor sent again (the control plane may have it: no record is shipped twice),
and the thread left behind does not hold the process's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections import deque
from dataclasses import dataclass

import msgspec

from ironplane.gateway.config import ControlPlane
from ironplane.gateway.cpclient import ControlPlaneUnreachable, call
from ironplane.gateway.metrics import Metrics
from ironplane.gateway.usage import UsageRecord

log = logging.getLogger("ironplane.gateway")

USAGE_PATH = "/api/v1/gateway/usage"
TIMEOUT_S = 5.0
MAX_BACKOFF_S = 30.0
_REFUSED = frozenset((400, 413, 422))


class _Batch(msgspec.Struct):
    gateway: str
    dropped: int
    records: list[UsageRecord]


_encode = msgspec.json.Encoder().encode


@dataclass
class _InFlight:
    """A batch whose POST has been sent and not yet answered."""

    answer: asyncio.Future[tuple[int, str]]
    records: list[UsageRecord]
    reported: int


def replica_id() -> str:
    """``hostname-pid``: tells the replicas (and the workers of one) apart in the request logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Shipper:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, metrics: Metrics, cp: ControlPlane, token: str
    ) -> None:
        self.loop = loop
        self.metrics = metrics
        self.cp = cp
        self.token = token
        self.batch = cp.usage_batch
        self.buffer: deque[UsageRecord] = deque(maxlen=cp.usage_buffer)
        self.unreported = 0
        """Records dropped since the last accepted batch (sent in the next body)."""
        self.gateway = replica_id()
        self.sending = False
        self.failures = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: _InFlight | None = None

    # -- the request path ------------------------------------------------------------------

    def add(self, record: UsageRecord) -> None:
        """The usage sink: append, dropping the oldest when full. Never blocks or raises."""
        buffer = self.buffer
        if len(buffer) == buffer.maxlen:
            self.unreported += 1
            self.metrics.usage_dropped += 1
        buffer.append(record)
        if len(buffer) >= self.batch and not self.sending and not self.failures:
            self._wake.set()

    # -- the loop's task -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = self.loop.create_task(self._run(), name="usage-shipper")

    def configure(self, cp: ControlPlane, token: str) -> None:
        """A reload: new address, token or sizes; the buffered records are kept (newest first)."""
        self.cp, self.token, self.batch = cp, token, cp.usage_batch
        if cp.usage_buffer != self.buffer.maxlen:
            kept = list(self.buffer)
            lost = max(0, len(kept) - cp.usage_buffer)
            self._dropped(lost)
            self.buffer = deque(kept[lost:], maxlen=cp.usage_buffer)

    async def _run(self) -> None:
        while True:
            flush = float(self.cp.usage_flush)
            delay = flush
            if self.failures:
                cap = min(MAX_BACKOFF_S, 10 * flush)
                delay = min(cap, flush * 2 ** (self.failures - 1))
            woken = True
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                woken = False
            self._wake.clear()
            try:
                # Woken by a full batch: send full batches; the flush interval sends the rest.
                await self.flush(everything=not woken)
            except Exception:  # a bug must not end the shipping
                log.exception("request-log shipping failed")

    async def flush(self, *, everything: bool = True, deadline: float | None = None) -> bool:
        """Send what is buffered, a batch at a time; False when a batch failed.

        ``everything=False``: full batches only. ``deadline`` (the loop's clock, shutdown): no
        POST outlives it; one still unanswered then is left (not put back) and False returned.
        Cancelled while a POST is in flight, the batch stays in ``_in_flight`` for
        :meth:`close` to settle.
        """
        if self.sending or self._in_flight is not None:
            return False
        self.sending = True
        try:
            while self.buffer and (everything or len(self.buffer) >= self.batch):
                timeout = TIMEOUT_S
                if deadline is not None:
                    timeout = min(TIMEOUT_S, deadline - self.loop.time())
                    if timeout <= 0:
                        return False
                n = min(self.batch, len(self.buffer))
                records = [self.buffer.popleft() for _ in range(n)]
                reported = self.unreported
                body = _encode(_Batch(self.gateway, reported, records))
                flight = self._in_flight = _InFlight(self._post(body, timeout), records, reported)
                if not await self._settle(flight, timeout if deadline is not None else None):
                    return False
            return True
        finally:
            self.sending = False

    async def _settle(self, flight: _InFlight, wait: float | None) -> bool:
        """Await a POST's answer (shielded: a cancel leaves it in flight) and act on it: count
        it shipped, drop a refused batch, or put a failed one back. False when it failed or
        had no answer within ``wait`` seconds (then its records are given up, unsent again)."""
        try:
            if wait is None:
                status, error = await asyncio.shield(flight.answer)
            else:
                status, error = await asyncio.wait_for(asyncio.shield(flight.answer), wait)
        except TimeoutError:
            self._in_flight = None
            log.warning(
                "%d request-log records sent at shutdown got no answer in time; not sent again "
                "(the control plane may have them)",
                len(flight.records),
            )
            return False
        self._in_flight = None
        n = len(flight.records)
        if 200 <= status < 300:
            self.unreported -= flight.reported
            self.metrics.usage_shipped += n
            if self.failures:
                log.info("request logs reach the control plane again")
            self.failures = 0
            return True
        if status in _REFUSED:
            log.error(
                "the control plane refused %d request-log records (%d): %s; dropped",
                n,
                status,
                error,
            )
            self._dropped(n)
            return True
        self._put_back(flight.records)
        if not self.failures:
            log.warning(
                "request logs not shipped (%s); %d buffered, retrying", error, len(self.buffer)
            )
        self.failures += 1
        return False

    def _post(self, body: bytes, timeout: float) -> asyncio.Future[tuple[int, str]]:
        """Start one POST in a daemon thread; the future holds ``(status, error text)``
        (status 0: unreachable). A daemon thread, not the loop's executor: one still waiting
        on a silent control plane must not hold the interpreter's exit."""
        cp, token, loop = self.cp, self.token, self.loop
        answer: asyncio.Future[tuple[int, str]] = loop.create_future()

        def resolve(result: tuple[int, str]) -> None:
            if not answer.done():
                answer.set_result(result)

        def post() -> None:
            try:
                got = call("POST", cp.url, USAGE_PATH, token, body=body, timeout=timeout)
                text = got.body[:200].decode("utf-8", "replace").strip()
                result = (got.status, f"{got.status} {text}".strip())
            except ControlPlaneUnreachable as exc:
                result = (0, exc.message)
            except Exception as exc:  # a bug must not leave the future unresolved
                result = (0, f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(resolve, result)

        threading.Thread(target=post, name="usage-post", daemon=True).start()
        return answer

    def _put_back(self, records: list[UsageRecord]) -> None:
        """Return a failed batch to the front; what no longer fits (its oldest) is dropped."""
        room = (self.buffer.maxlen or 0) - len(self.buffer)
        lost = max(0, len(records) - room)
        self._dropped(lost)
        self.buffer.extendleft(reversed(records[lost:]))

    def _dropped(self, n: int) -> None:
        self.unreported += n
        self.metrics.usage_dropped += n

    async def close(self, deadline_s: float = 2.0) -> None:
        """Stop the task, settle the POST in flight and flush the rest, all within
        ``deadline_s``; no record is sent twice."""
        deadline = self.loop.time() + deadline_s
        task, self._task = self._task, None
        if task is not None:
            task.cancel()  # its POST in flight, if any, carries on (shielded)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        flight = self._in_flight
        if flight is not None:
            await self._settle(flight, max(0.0, deadline - self.loop.time()))
        if self.buffer:
            await self.flush(deadline=deadline)
        if self.buffer:
            log.warning("%d request-log records not shipped at shutdown", len(self.buffer))
