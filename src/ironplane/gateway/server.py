"""The client side: an ``asyncio.Protocol`` on uvloop with httptools, one object per connection.

httptools calls back as the request arrives; ``on_message_complete`` authenticates, reads only
``model`` and ``stream`` from the body (a msgspec view), checks limits and starts an
:class:`~ironplane.gateway.exchange.Exchange`. Pipelined requests wait their turn with reading
paused; a slow reader pauses the upstream (write flow control); a client that leaves cancels
its upstream request.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable

import httptools
import msgspec

from ironplane.core.errors import (
    ForbiddenError,
    InvalidError,
    IronplaneError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthenticatedError,
)
from ironplane.gateway import errors, tokens
from ironplane.gateway.clock import Wheel
from ironplane.gateway.exchange import Exchange
from ironplane.gateway.governor import Governor
from ironplane.gateway.metrics import Metrics
from ironplane.gateway.responses import head
from ironplane.gateway.snapshot import NoSnapshotError, Status, snapshot_age
from ironplane.gateway.state import KeyState, State, digest
from ironplane.gateway.targets import ENDPOINTS
from ironplane.gateway.upstream import Pools


class _StreamOptions(msgspec.Struct):
    include_usage: bool = False


class _View(msgspec.Struct):
    model: str | None = None
    stream: bool | None = None
    stream_options: _StreamOptions | None = None


_view = msgspec.json.Decoder(_View).decode
_JSON = b"application/json"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_MAX_HEAD = 64 * 1024
"""Longest URL, and most bytes of header names and values, a request may have."""
_NO_SNAPSHOT = (
    "the gateway has no snapshot from the control plane yet (models and keys come from it); "
    "retry shortly, and see /healthz for why"
)


class Gateway:
    """What every connection of one worker shares."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, state: State, metrics: Metrics, pools: Pools
    ) -> None:
        self.loop = loop
        self.state = state
        self.metrics = metrics
        metrics.enabled = state.settings.metrics
        _show_waiting(state, metrics)
        self.wheel = Wheel(loop)
        self.pools = pools
        self.connections: set[ClientConnection] = set()
        self.draining = False
        self.started = loop.time()
        self.reload_error: str | None = None
        self.governor = Governor(loop, metrics, state)
        """Limits, budgets and the usage sink (``governor.py``)."""
        self._control_plane: Status | None = None
        self.remote_until: float | None = None
        """Unix time from which the control plane's keys are refused: its last confirmed
        snapshot plus ``control_plane.max_stale`` (None: no limit)."""
        self.read_status: Callable[[], Status | None] | None = None
        """Reads the fetcher's latest status (the worker sets it): the worker's copy is up to
        a watch interval old, so it is read again before a key is refused."""
        self._read_at = -1.0

    @property
    def control_plane(self) -> Status | None:
        """The snapshot fetcher's status (control-plane mode), as the worker last read it."""
        return self._control_plane

    @control_plane.setter
    def control_plane(self, status: Status | None) -> None:
        self._control_plane = status
        self._stale_limit()

    def _stale_limit(self) -> None:
        cp = self.state.loaded.config.control_plane
        status = self._control_plane
        if cp is None or cp.max_stale is None or status is None or status.checked_at is None:
            self.remote_until = None
        else:
            self.remote_until = status.checked_at + float(cp.max_stale)

    def stale(self) -> bool:
        """True when the control plane's keys are refused (past ``max_stale``)."""
        until = self.remote_until
        if until is None or time.time() < until:
            return False
        # Confirm with the fetcher's latest status (at most every 100 ms).
        now = self.loop.time()
        if self.read_status is not None and now - self._read_at >= 0.1:
            self._read_at = now
            status = self.read_status()
            if status is not None:
                self.control_plane = status
            until = self.remote_until
        return until is not None and time.time() >= until

    def check_fresh(self) -> None:
        """Refuse a key of the control plane once it has been out of reach past max_stale:
        the key may have been revoked there since (file keys are not affected)."""
        if self.remote_until is None or not self.stale():
            return
        now = time.time()
        status = self._control_plane
        cp = self.state.loaded.config.control_plane
        since = now - (status.checked_at or now) if status is not None else 0.0
        limit = float(cp.max_stale or 0) if cp is not None else 0.0
        raise UnauthenticatedError(
            f"the gateway has not reached the control plane for {since:.0f}s "
            f"(control_plane.max_stale is {limit:g}s): keys from the control plane are refused "
            "until it does, because one may have been revoked there; see /healthz"
        )

    def swap(self, state: State) -> None:
        self.state = state
        self.metrics.enabled = state.settings.metrics
        _show_waiting(state, self.metrics)
        self.governor.configure(state)
        self._stale_limit()  # max_stale may have changed

    def health_body(self) -> bytes:
        state = self.state
        now = self.loop.time()
        return msgspec.json.encode(
            {
                "status": "draining" if self.draining else "ok",
                "pid": os.getpid(),
                "config": {
                    "source": state.loaded.source,
                    "sha256": state.loaded.digest,
                    "reload_error": self.reload_error,
                },
                "models": len(state.routes),
                "targets_cooling": sum(1 for _, _, ok in state.health(now) if not ok),
                "in_flight": self.metrics.in_flight,
                "uptime_s": round(now - self.started, 1),
                **self._control_plane_health(),
            }
        )

    def _control_plane_health(self) -> dict[str, object]:
        status = self.control_plane
        if status is None:
            return {}
        age = snapshot_age(status)
        cp = self.state.loaded.config.control_plane
        max_stale = cp.max_stale if cp is not None else None
        return {
            "control_plane": {
                "state": status.state,
                "version": status.version,
                "age_s": None if age is None else round(age, 1),
                "error": status.error,
                "max_stale_s": None if max_stale is None else float(max_stale),
                "refusing_keys": self.stale(),
            }
        }


def _show_waiting(state: State, metrics: Metrics) -> None:
    """Give every model with ``cold_start`` its waiting gauge from the start, at 0.

    KEDA's query then reads 0 rather than nothing, and a dashboard shows the model before its
    first cold start.
    """
    for name, route in state.routes.items():
        if route.cold_start:
            metrics.waiting.setdefault(name, 0)


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "armed_at",
        "auth",
        "body",
        "deadline",
        "exchange",
        "expect",
        "g",
        "head_only",
        "head_size",
        "http10",
        "keep",
        "parser",
        "paused",
        "queue",
        "reading",
        "refused",
        "size",
        "too_big",
        "transport",
        "url",
        "write_paused",
    )

    def __init__(self, g: Gateway) -> None:
        self.g = g
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.queue: deque[tuple[bytes, bytes, bytes, bytes, bool, bool]] = deque()
        self.url = b""
        self.auth = b""
        self.body: list[bytes] = []
        self.size = 0
        self.expect = False
        self.too_big = False
        self.keep = True
        self.paused = False
        self.reading = False
        self.deadline = 0.0
        self.armed_at = 0.0
        self.head_size = 0
        self.refused = False
        self.write_paused = False
        self.http10 = False
        self.head_only = False

    # -- asyncio ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        self.g.connections.add(self)
        self._idle()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(InvalidError("protocol upgrades are not supported"))
        except httptools.HttpParserError as exc:
            reason = str(exc) or "malformed HTTP request"
            self._refuse(InvalidError(f"bad HTTP request: {reason}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.g.connections.discard(self)
        self.deadline = 0.0
        self.queue.clear()
        ex, self.exchange = self.exchange, None
        if ex is not None:
            ex.cancel()
        self.transport = None

    def pause_writing(self) -> None:
        self.write_paused = True
        ex = self.exchange
        if ex is not None and ex.up is not None:
            ex.up.pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        ex = self.exchange
        if ex is not None and ex.up is not None:
            ex.up.resume()

    def abort(self) -> None:
        """Drop the connection without flushing (a client that stopped reading)."""
        self.exchange = None
        self.queue.clear()
        if self.transport is not None:
            self.transport.abort()

    # -- httptools ---------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.auth = b""
        self.body = []
        self.size = 0
        self.expect = False
        self.too_big = False
        self.head_size = 0
        self.reading = True
        if self.exchange is None:
            self.deadline = self.g.loop.time() + float(self.g.state.settings.request_timeout)
            self.watch(self.deadline)

    def on_url(self, url: bytes) -> None:
        if self.refused:
            return
        self.url += url
        if len(self.url) > _MAX_HEAD:
            self._refuse(errors.HeadTooLargeError(f"the URL is longer than {_MAX_HEAD} bytes"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.refused:
            return
        self.head_size += len(name) + len(value)
        if self.head_size > _MAX_HEAD:
            self._refuse(
                errors.HeadTooLargeError(f"the request headers are larger than {_MAX_HEAD} bytes")
            )
            return
        n = len(name)
        if n == 13 and name.lower() == b"authorization":
            self.auth = value
        elif n == 7 and name.lower() == b"api-key":
            self.auth = b"Bearer " + value
        elif n == 6 and name.lower() == b"expect":
            self.expect = value.lower() == b"100-continue"
        elif n == 14 and name.lower() == b"content-length":
            try:
                self.too_big = int(value) > self.g.state.settings.max_body_bytes
            except ValueError:
                self.too_big = False

    def on_headers_complete(self) -> None:
        if self.refused:
            return
        if self.too_big:
            self._too_big()
        elif self.expect and self.transport is not None and self.exchange is None:
            # (Not in the middle of another answer: a pipelining client sends the body anyway.)
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self.refused:
            return
        self.size += len(body)
        if self.size > self.g.state.settings.max_body_bytes:
            self._too_big()
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        request = (
            self.parser.get_method(),
            self.url,
            self.auth,
            body,
            self.parser.should_keep_alive(),
            self.parser.get_http_version() == "1.0",
        )
        self.reading = False
        self.body = []
        if self.exchange is not None or self.queue:
            self.queue.append(request)
            if not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
            return
        self._handle(*request)

    # -- requests ---------------------------------------------------------------------------

    def _handle(
        self, method: bytes, url: bytes, auth: bytes, body: bytes, keep: bool, http10: bool
    ) -> None:
        g = self.g
        self.keep = keep
        self.http10 = http10
        self.head_only = method == b"HEAD"
        self.deadline = 0.0
        path = url.split(b"?", 1)[0] if b"?" in url else url
        endpoint = ENDPOINTS.get(path)
        try:
            if endpoint is not None:
                if method != b"POST":
                    raise errors.MethodNotAllowedError(f"use POST for {path.decode('latin-1')}")
                self._proxy(endpoint, auth, body)
                return
            if path == b"/healthz":
                self._answer(200, _JSON, g.health_body())
            elif path == b"/metrics":
                if not g.state.settings.metrics:
                    raise errors.ModelNotFoundError("metrics are switched off (gateway.metrics)")
                g.metrics.publish()
                self._answer(200, b"text/plain; version=0.0.4; charset=utf-8", g.metrics.render())
            elif path == b"/v1/models":
                if method != b"GET":
                    raise errors.MethodNotAllowedError("use GET for /v1/models")
                self._answer(200, _JSON, self._key(auth).models_body)
            else:
                raise NotFoundError(
                    f"no route {path.decode('latin-1')[:100]!r}: this gateway serves "
                    "/v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models"
                )
        except IronplaneError as exc:
            self._reject(exc)

    def _key(self, auth: bytes) -> KeyState:
        state = self.g.state
        if not state.settings.auth:
            return state.anonymous
        if auth[:7] != b"Bearer " or len(auth) <= 7:
            raise UnauthenticatedError(
                "no API key: send it as `Authorization: Bearer <key>`"
                if not auth
                else "the Authorization header must be `Bearer <key>`"
            )
        bearer = auth[7:].strip()
        if state.tokens and bearer.startswith(b"ipt_"):
            found = tokens.find(state.tokens, bearer)
            if found is not None:
                if found.remote:
                    self.g.check_fresh()
                return found
        key = state.keys.get(digest(bearer))
        if key is None:
            if state.no_snapshot:
                raise NoSnapshotError(_NO_SNAPSHOT)
            raise UnauthenticatedError("invalid API key")
        if key.remote:
            self.g.check_fresh()
        return key

    def _proxy(self, endpoint: int, auth: bytes, body: bytes) -> None:
        g = self.g
        state = g.state
        key = self._key(auth)
        try:
            view = _view(body)
        except msgspec.ValidationError as exc:
            raise InvalidError(f"invalid request body: {exc}") from None
        except msgspec.DecodeError:
            raise InvalidError("the request body is not valid JSON") from None
        model = view.model
        if not model:
            raise InvalidError("the request body needs a `model`: the name of a model to use")
        route = state.routes.get(model)
        if route is None:
            if state.no_snapshot:
                raise NoSnapshotError(_NO_SNAPSHOT)
            raise errors.ModelNotFoundError(
                f"model {model[:200]!r} does not exist; GET /v1/models lists the models this "
                "key may use"
            )
        if not key.may_use(model):
            raise ForbiddenError(f"this key may not use model {model[:200]!r}")
        now = g.loop.time()
        include_usage = bool(view.stream_options and view.stream_options.include_usage)
        ex = Exchange(g, self, route, key, endpoint, body, include_usage, now, view.stream is True)
        ready = g.governor.admit(ex, now)  # raises when refused now; False: Redis decides
        self.exchange = ex
        g.metrics.in_flight += 1
        if ready:
            ex.attempt()

    def _reject(self, exc: IronplaneError) -> None:
        status, body, extra = errors.render(exc)
        reason = exc.code  # rate_limited, budget_exceeded, ...
        self.g.metrics.reject(reason, status)
        self._answer(status, _JSON, body, extra)

    def _answer(self, status: int, ctype: bytes, body: bytes, extra: bytes = b"") -> None:
        data = head(status, ctype, len(body), extra)
        self.respond_done(data if self.head_only else data + body, True)

    def _refuse(self, exc: IronplaneError) -> None:
        """Answer a request that cannot be parsed or read, then close the connection."""
        if self.refused:
            return
        self.refused = True
        status, body, extra = errors.render(exc)
        self.g.metrics.reject(exc.code, status)
        if self.exchange is not None:
            ex, self.exchange = self.exchange, None
            ex.cancel()
        self.keep = False
        self.queue.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(
                head(status, _JSON, len(body), extra + b"connection: close\r\n") + body
            )
            self.transport.close()

    def _too_big(self) -> None:
        limit = self.g.state.settings.max_body_bytes
        self._refuse(
            PayloadTooLargeError(
                f"the request body is larger than this gateway's limit of {limit} bytes"
            )
        )

    # -- responses (called by exchanges too) -----------------------------------------------

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None:
            transport.write(data)

    def respond_done(self, data: bytes, keep: bool) -> None:
        self.exchange = None
        transport = self.transport
        if transport is None:
            return
        if not (keep and self.keep) or self.g.draining:
            if data:
                transport.write(data)
            transport.close()
            return
        transport.write(data)
        if self.queue:
            # The next pipelined request, from the loop (not from here: no recursion).
            self.g.loop.call_soon(self._next)
        else:
            self._idle()

    def _next(self) -> None:
        if self.transport is None or self.exchange is not None or not self.queue:
            return
        request = self.queue.popleft()
        if not self.queue and self.paused:
            self.paused = False
            self.transport.resume_reading()
        self._handle(*request)

    def _idle(self) -> None:
        self.deadline = self.g.loop.time() + float(self.g.state.settings.keepalive_timeout)
        self.watch(self.deadline)

    def watch(self, when: float) -> None:
        """Make sure ``expire`` runs by ``when``, for this connection and its exchange.

        A connection sits in the deadline wheel at most about once per second, whatever its
        traffic: a deadline later than the one already filed is found when that one fires
        (deadlines are checked at least every second), so the request path rarely files
        anything and the wheel never keeps finished exchanges alive.
        """
        cap = self.g.wheel.now + 1.0
        if when > cap:
            when = cap
        if self.armed_at == 0.0 or when < self.armed_at:
            self.armed_at = when
            self.g.wheel.arm(self, when)

    def expire(self, now: float) -> None:
        if now < self.armed_at:  # a stale entry: a later one is filed
            return
        self.armed_at = 0.0
        if self.transport is None:
            return
        ex = self.exchange
        if ex is not None:
            ex.expire(now)
        elif self.deadline != 0.0 and now >= self.deadline:
            self._own_deadline()
            return
        if self.transport is None:
            return
        ex = self.exchange
        following = ex.deadline if ex is not None else self.deadline
        if following != 0.0:
            self.watch(following)

    def _own_deadline(self) -> None:
        assert self.transport is not None
        if self.reading:  # a request was started and never finished
            self._refuse(
                errors.RequestTimeoutError(
                    "the request was not received in time "
                    f"({float(self.g.state.settings.request_timeout):g}s)"
                )
            )
        else:
            self.transport.close()

    def close_if_idle(self) -> None:
        if self.exchange is None and not self.queue and self.transport is not None:
            self.transport.close()
