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
since its last accepted batch. On shutdown, one last flush with a short deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque

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

    async def flush(self, *, everything: bool = True) -> bool:
        """Send what is buffered, a batch at a time; False when a batch failed.

        ``everything=False``: full batches only.
        """
        if self.sending:
            return False
        self.sending = True
        try:
            while self.buffer and (everything or len(self.buffer) >= self.batch):
                n = min(self.batch, len(self.buffer))
                records = [self.buffer.popleft() for _ in range(n)]
                reported = self.unreported
                body = _encode(_Batch(self.gateway, reported, records))
                try:
                    status, error = await self._post(body)
                except BaseException:  # cancelled (shutdown's deadline): keep the batch
                    self._put_back(records)
                    raise
                if 200 <= status < 300:
                    self.unreported -= reported
                    self.metrics.usage_shipped += n
                    if self.failures:
                        log.info("request logs reach the control plane again")
                    self.failures = 0
                elif status in _REFUSED:
                    log.error(
                        "the control plane refused %d request-log records (%d): %s; dropped",
                        n,
                        status,
                        error,
                    )
                    self._dropped(n)
                else:
                    self._put_back(records)
                    if not self.failures:
                        log.warning(
                            "request logs not shipped (%s); %d buffered, retrying",
                            error,
                            len(self.buffer),
                        )
                    self.failures += 1
                    return False
            return True
        finally:
            self.sending = False

    async def _post(self, body: bytes) -> tuple[int, str]:
        cp = self.cp
        try:
            answer = await self.loop.run_in_executor(
                None,
                lambda: call("POST", cp.url, USAGE_PATH, self.token, body=body, timeout=TIMEOUT_S),
            )
        except ControlPlaneUnreachable as exc:
            return 0, exc.message
        text = answer.body[:200].decode("utf-8", "replace").strip()
        return answer.status, f"{answer.status} {text}".strip()

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
        """Stop the task and make one last flush, for at most ``deadline_s``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not self.buffer:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), deadline_s)
        if self.buffer:
            log.warning("%d request-log records not shipped at shutdown", len(self.buffer))
