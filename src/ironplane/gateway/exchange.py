"""One proxied request: pick a target, send, relay the answer; retry or fall back until the
first byte reaches the client.

Everything here runs in callbacks from the client connection, the upstream pool and the
deadline wheel; nothing is awaited. Retries happen on connect errors, timeouts, resets,
garbage, 429 and 5xx, and only while the client has seen nothing: a stream that breaks after
its first byte ends with an error event instead. For a model with ``cold_start``, failures that
mean "the target is starting" first hold the request (``hold.py``) before retries count.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import msgspec

from ironplane.core.errors import InvalidError, IronplaneError
from ironplane.gateway import errors
from ironplane.gateway.hold import CANCELLED, STARTING_STATUSES, SUCCESS, TIMEOUT, Hold, wait
from ironplane.gateway.providers import anthropic
from ironplane.gateway.responses import END, JSON, STREAM_HEAD, STREAM_HEAD_10, head
from ironplane.gateway.stream_usage import (
    USAGE_MARK,
    ask_for_usage,
    complete_events,
    counts,
    take_usage,
    usage_of,
)
from ironplane.gateway.targets import CHAT, EMBEDDINGS, Route, TargetState, rewrite_model
from ironplane.gateway.upstream import Connection

if TYPE_CHECKING:
    from ironplane.gateway.limits import LocalScope
    from ironplane.gateway.scopes import Scope
    from ironplane.gateway.server import ClientConnection, Gateway
    from ironplane.gateway.state import KeyState


class Exchange:
    __slots__ = (
        "ask_usage",
        "attempts",
        "body",
        "client",
        "completion_tokens",
        "ctype",
        "deadline",
        "done_seen",
        "endpoint",
        "events",
        "fallbacks",
        "g",
        "gone",
        "grant",
        "hold",
        "include_usage",
        "key",
        "last_error",
        "last_response",
        "out",
        "parts",
        "payload",
        "pending",
        "prompt_tokens",
        "requested",
        "retry_after",
        "reused",
        "route",
        "scopes",
        "seen",
        "sent_head",
        "status",
        "streaming",
        "t0",
        "t_attempt",
        "t_first",
        "t_sent",
        "tail",
        "target",
        "ticket",
        "translator",
        "tried",
        "up",
        "waited",
    )

    def __init__(
        self,
        g: Gateway,
        client: ClientConnection,
        route: Route,
        key: KeyState,
        endpoint: int,
        body: bytes,
        include_usage: bool,
        t0: float,
        stream: bool = False,
    ) -> None:
        self.g = g
        self.client = client
        self.route = route
        self.requested = route.name
        self.key = key
        self.endpoint = endpoint
        self.body = body
        self.include_usage = include_usage
        self.ask_usage = stream and not include_usage and endpoint != EMBEDDINGS
        """The client streams without asking for usage: OpenAI-style targets are asked for it
        (budgets and ``tpm`` need it) and the usage chunk is kept from the client
        (``stream_usage.py``)."""
        self.t0 = t0
        self.gone = False
        self.attempts = 0
        self.tried: list[TargetState] = []
        self.seen = [route.name]
        self.fallbacks: list[str] = []
        self.target: TargetState | None = None
        self.up: Connection | None = None
        self.last_error: IronplaneError | None = None
        self.last_response: tuple[int, bytes, bytes, bytes] | None = None
        self.sent_head = False
        self.translator: anthropic.ChatStream | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.deadline = 0.0
        self.t_sent = 0.0
        self.t_first = 0.0
        self.events = 0
        self.done_seen = False
        self.ticket = 0
        self.t_attempt = t0
        self.waited = 0.0
        self.hold: Hold | None = None
        self.scopes: tuple[Scope, ...] = ()
        """The scopes admission checked (key, team, model): released and debited at the end."""
        self.pending = False
        """Waiting for Redis's verdict (``governor.py``); the governor starts or refuses it."""
        self.grant: bytes | list[LocalScope] | None = None
        """What admission took and the end gives back: a Redis slot's release, or local
        counters (while pending: the slot asked for)."""
        self._reset_response()

    def _reset_response(self) -> None:
        self.status = 0
        self.ctype = b""
        self.retry_after = b""
        self.streaming = False
        self.parts: list[bytes] = []
        self.out: list[bytes] = []
        self.payload = b""
        self.reused = False
        self.tail = b""
        """The unfinished last event of a stream whose usage chunk is stripped."""

    # -- attempts ------------------------------------------------------------------------------

    def attempt(self) -> None:
        g = self.g
        state = g.state
        now = g.loop.time()
        route = self.route
        target = route.pick(now, state.threshold, self.tried)
        if target is None:
            if self.hold is not None:
                # Held, and meanwhile other requests' failures cooled every target down: keep
                # waiting (the one let through after the cooldown may be this one) until the
                # hold ends; only then fall back.
                if wait(self, now):
                    return
                self._end_hold(TIMEOUT)
            self._next_route(
                errors.NoTargetError(
                    f"every target of model {route.name!r} is cooling down after failures; "
                    f"retry in a few seconds"
                )
            )
            return
        if target.failures >= state.threshold:
            target.probing = True  # the one request let through to probe a cooled target
        self.target = target
        self.tried.append(target)
        self._reset_response()
        self.translator = None
        self.t_attempt = now
        body = self.body
        try:
            if target.translate:
                if self.endpoint != CHAT:
                    raise InvalidError(
                        f"model {self.requested!r} is served by an Anthropic provider, which "
                        "supports only /v1/chat/completions"
                    )
                body, stream = anthropic.chat_request(body, target.model)
                self.translator = (
                    anthropic.ChatStream(self.requested, self.include_usage) if stream else None
                )
            elif self.ask_usage and target.upstream.stream_usage:
                body = ask_for_usage(body, target.model if target.rewrite else None)
            elif target.rewrite:
                body = rewrite_model(body, target.model)
        except InvalidError as exc:
            target.probing = False
            self.fail_client(exc)
            return
        except msgspec.DecodeError:
            target.probing = False
            self.fail_client(InvalidError("the request body is not valid JSON"))
            return
        self.payload = target.heads[self.endpoint] + b"%d\r\n\r\n" % len(body) + body
        self.ticket += 1
        self.deadline = now + route.timeout
        self.client.watch(self.deadline)
        assert target.pool is not None
        target.pool.acquire(self)

    def connected(self, conn: Connection, reused: bool) -> None:
        self.up = conn
        self.reused = reused
        self.t_sent = self.g.loop.time()
        conn.send(self, self.payload)

    def connect_failed(self, exc: BaseException) -> None:
        if not self.gone:
            self._failed(
                "connect",
                errors.UpstreamError(f"cannot connect to the upstream: {exc}"),
                # Refused, timed out, no such name yet: a target that may be starting. A
                # certificate that does not verify will not get better by waiting.
                starting=not isinstance(exc, ssl.SSLCertVerificationError),
            )

    def _failed(self, reason: str, error: IronplaneError, starting: bool = False) -> None:
        """This attempt failed before the client saw anything: hold, retry, fall back or give up.

        ``starting``: the failure is what a target that is starting looks like (no connection,
        or a 502/503 from something in front of it); a model with ``cold_start`` holds those.
        """
        g = self.g
        target = self.target
        assert target is not None
        state = g.state
        now = g.loop.time()
        self.waited += now - self.t_attempt
        self.last_error = error
        self.up = None
        if starting and self.route.cold_start:
            target.probing = False  # not a failure: a starting target is not a broken one
            if wait(self, now):
                return
        if self.hold is not None:
            self._end_hold(TIMEOUT if starting else SUCCESS)
        target.failed(now, state.threshold, state.cooldown)
        g.metrics.upstream_error(self.route.name, target.label, reason)
        if not reason.startswith("status_"):
            self.last_response = None  # relay an upstream's answer only if it was the last word
        if self.attempts < self.route.retries:
            self.attempts += 1
            g.metrics.retry(self.route.name)
            self.attempt()
        else:
            self._next_route(error)

    def _end_hold(self, result: str) -> None:
        hold, self.hold = self.hold, None
        if hold is not None:
            hold.end(result)

    def _next_route(self, error: IronplaneError) -> None:
        """The next fallback: the requested model's in order, then theirs (each model once)."""
        g = self.g
        queue = self.fallbacks
        queue.extend(n for n in self.route.fallbacks if n not in self.seen and n not in queue)
        while queue:
            name = queue.pop(0)
            route = g.state.routes.get(name)
            if route is None or name in self.seen:
                continue
            g.metrics.fallback(self.requested, name)
            self.seen.append(name)
            self.route = route
            self.attempts = 0
            self.tried = []
            self.attempt()
            return
        if self.last_response is not None and not isinstance(error, errors.NoTargetError):
            status, ctype, body, retry_after = self.last_response
            extra = b"retry-after: %s\r\n" % retry_after if retry_after else b""
            self._finish(status, head(status, ctype, len(body), extra) + body)
            return
        self.fail_client(self.last_error or error)

    # -- upstream callbacks ------------------------------------------------------------------

    def on_head(self, status: int, ctype: bytes, retry_after: bytes) -> None:
        if self.hold is not None and status not in STARTING_STATUSES:
            self._end_hold(SUCCESS)  # the target is up, whatever it answers
        self.status = status
        self.ctype = ctype
        self.retry_after = retry_after
        if status == 200 and ctype.startswith(b"text/event-stream"):
            self.streaming = True
            now = self.g.loop.time()
            self.deadline = now + self.route.idle_timeout
            self.client.watch(self.deadline)
        else:
            self.deadline = self.g.loop.time() + self.route.idle_timeout  # the rest of the body
            self.client.watch(self.deadline)

    def on_piece(self, data: bytes) -> None:
        if self.streaming:
            self.out.append(data)
        else:
            self.parts.append(data)

    def on_flush(self) -> None:
        if not self.streaming or not self.out:
            return
        data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
        self.out = []
        self._relay(data)
        self.deadline = self.g.loop.time() + self.route.idle_timeout
        self.client.watch(self.deadline)

    def _relay(self, data: bytes) -> None:
        """Send one upstream read's worth of a stream as one write."""
        if self.translator is not None:
            data = self.translator.feed(data)
            if not data:
                return
        else:
            if self.ask_usage:
                if self.tail:
                    data = self.tail + data
                data, self.tail = complete_events(data)
                if not data:
                    return
            self.events += data.count(b"data:")
            if USAGE_MARK in data:
                data = self._stream_usage(data)
                if not data:
                    return
            if b"data: [DONE]" in data:
                self.done_seen = True
        self._send_frame(data)

    def _send_frame(self, data: bytes) -> None:
        """One piece of a stream: chunked, or raw for an HTTP/1.0 client (ended by closing)."""
        client = self.client
        if client.http10 or not data:  # (an empty chunk would end the stream)
            frame = data
            if not self.sent_head:
                frame = (STREAM_HEAD_10 if client.http10 else STREAM_HEAD) + frame
        else:
            frame = b"%x\r\n%s\r\n" % (len(data), data)
            if not self.sent_head:
                frame = STREAM_HEAD + frame
        if not self.sent_head:
            self.sent_head = True
            self.t_first = self.g.loop.time()
        client.send(frame)

    def _end(self, data: bytes = b"") -> bytes:
        """The bytes that close a stream (after ``data``, an optional last event)."""
        if self.client.http10:
            return data
        return (b"%x\r\n%s\r\n" % (len(data), data) if data else b"") + END

    def _stream_usage(self, data: bytes) -> bytes:
        """Take the usage from a read; the read without the usage chunk the gateway asked for."""
        data, found = take_usage(data, self.ask_usage)
        if found is not None:
            self.prompt_tokens, self.completion_tokens = found
        return data

    def on_done(self) -> None:
        self.up = None
        if self.gone:
            return
        if self.streaming:
            if self.out:
                self.on_flush()
            if self.tail:  # a stream that ended without ending its last event
                rest, self.tail = self.tail, b""
                if USAGE_MARK in rest:
                    rest = self._stream_usage(rest)
                if rest:
                    self._send_frame(rest)
            tail = b""
            if self.translator is not None:
                tail = self.translator.finish()
                self.prompt_tokens = self.translator.prompt_tokens
                self.completion_tokens = self.translator.completion_tokens
            elif not self.completion_tokens:
                self.completion_tokens = max(0, self.events - 2)  # estimate: events, no usage
            if tail or not self.sent_head:
                self._send_frame(tail)
            self._succeeded()
            self._finish(200, self._end(), keep=not self.client.http10)
            return
        status = self.status
        body = b"".join(self.parts) if len(self.parts) != 1 else self.parts[0]
        target = self.target
        assert target is not None
        if status == 429 or status >= 500:
            ctype = self.ctype or JSON
            if target.translate:
                body, ctype = anthropic.error_response(status, body), JSON
            self.last_response = (status, ctype, body, self.retry_after)
            self._failed(
                f"status_{status if status == 429 else '5xx'}",
                errors.UpstreamError(f"the upstream answered {status}"),
                starting=status in STARTING_STATUSES,
            )
            return
        if status in (401, 403, 407):
            # The provider refused the gateway's own credentials: a configuration problem the
            # client cannot fix, and its body may quote the provider key. Never relayed.
            self.last_response = None
            self._failed(
                f"status_{status}",
                errors.UpstreamError(
                    f"provider {target.upstream.name!r} refused the gateway's credentials "
                    f"(HTTP {status}); check its api_key"
                ),
            )
            return
        ctype = self.ctype or JSON
        if 200 <= status < 300:
            try:
                if target.translate:
                    body, self.prompt_tokens, self.completion_tokens = anthropic.chat_response(
                        body, self.requested
                    )
                    ctype = JSON
                elif body and ctype.startswith(JSON):
                    self._usage_of(body)
            except (msgspec.DecodeError, IronplaneError):
                self.last_response = None
                self._failed(
                    "bad_response",
                    errors.UpstreamError(
                        "the upstream answered 200 with a body that is not what was asked for"
                    ),
                )
                return
            self._succeeded()
        else:
            target.failures = 0  # alive: the request itself was refused
            target.probing = False
            if target.translate:
                body, ctype = anthropic.error_response(status, body), JSON
        extra = b"retry-after: %s\r\n" % self.retry_after if self.retry_after else b""
        self._finish(status, head(status, ctype, len(body), extra) + body)

    def _usage_of(self, body: bytes) -> None:
        """Token counts from a JSON answer; a body that is JSON but odd just has none."""
        try:
            usage = usage_of(body).usage
        except msgspec.ValidationError:
            return
        if usage is not None:
            self.prompt_tokens, self.completion_tokens = counts(usage)

    def _succeeded(self) -> None:
        target = self.target
        assert target is not None
        end = self.g.loop.time()
        target.succeeded((self.t_first or end) - self.t_sent)

    def on_lost(self, reason: str) -> None:
        self.up = None
        if self.gone:
            return
        if self.sent_head:
            self._break_stream(reason, errors.UpstreamError("the upstream broke off the stream"))
            return
        if reason == "closed" and self.reused:
            # A kept-alive connection the upstream had just closed: not the target's fault.
            # Send the same request again, on another (or a fresh) connection of its pool.
            target = self.target
            assert target is not None and target.pool is not None
            payload = self.payload
            self._reset_response()
            self.payload = payload
            self.ticket += 1
            target.pool.acquire(self)
            return
        self._failed(reason, errors.UpstreamError("the upstream closed the connection"))

    def _break_stream(self, reason: str, error: IronplaneError) -> None:
        target = self.target
        assert target is not None
        g = self.g
        target.failed(g.loop.time(), g.state.threshold, g.state.cooldown)
        g.metrics.upstream_error(self.route.name, target.label, reason)
        event = errors.error_event(error)
        self._finish(502, self._end(event), keep=False)

    # -- deadlines and cancellation ------------------------------------------------------------

    def expire(self, now: float) -> None:
        """Called through the client connection's deadline (see ``ClientConnection.watch``)."""
        if self.gone or now < self.deadline or self.deadline == 0.0:
            return
        up, self.up = self.up, None
        connecting = up is None
        if up is not None:
            up.abort()
        if self.client.write_paused:
            # The client stopped reading (the upstream was paused for it): its fault, not the
            # upstream's. Drop the connection without blaming the target.
            if self.target is not None:
                self.target.probing = False
            self.gone = True
            self.deadline = 0.0
            self._record(499)
            self.client.abort()
            return
        if self.sent_head:
            self._break_stream(
                "timeout",
                errors.UpstreamTimeoutError(
                    f"the upstream sent nothing for {self.route.idle_timeout:g}s mid-stream"
                ),
            )
            return
        self.ticket += 1  # whatever the pool still holds for this attempt is now stale
        self._failed(
            "timeout",
            errors.UpstreamTimeoutError(
                f"the upstream did not answer within {self.route.timeout:g}s"
            ),
            starting=connecting,  # never connected: as good as a connect timeout
        )

    def crashed(self, exc: BaseException) -> None:
        """A bug met while handling this request's answer: fail it, keep the worker going."""
        if self.gone:
            return
        up, self.up = self.up, None
        if up is not None:
            up.abort()
        error = errors.UpstreamError(f"the gateway failed on this answer ({type(exc).__name__})")
        if self.sent_head:
            event = errors.error_event(error)
            self._finish(502, self._end(event), keep=False)
        else:
            self.fail_client(error)

    def cancel(self) -> None:
        """The client went away: stop the upstream request and keep nothing."""
        if self.gone:
            return
        self.gone = True
        self.deadline = 0.0
        up, self.up = self.up, None
        if up is not None:
            up.abort()
        if self.done_seen:
            # The client had the whole stream ([DONE]) and did not wait for the last bytes.
            self._succeeded()
            if not self.completion_tokens:
                self.completion_tokens = max(0, self.events - 2)
            self._record(200)
            return
        if self.target is not None:
            self.target.probing = False
        self._record(499)

    # -- the end ---------------------------------------------------------------------------------

    def refused(self, exc: IronplaneError) -> None:
        """Refused by a limit or budget once Redis answered: a rejection, not a routed request
        (the governor has recorded it already)."""
        self.gone = True
        self.deadline = 0.0
        g = self.g
        g.metrics.in_flight -= 1
        status, body, extra = errors.render(exc)
        g.metrics.reject(exc.code, status)
        self.client.respond_done(head(status, JSON, len(body), extra) + body, True)

    def fail_client(self, exc: IronplaneError) -> None:
        status, body, extra = errors.render(exc)
        self._finish(status, head(status, JSON, len(body), extra) + body)

    def _finish(self, status: int, data: bytes, keep: bool = True) -> None:
        self.gone = True
        self.deadline = 0.0
        self._record(status)
        self.client.respond_done(data, keep)

    def _record(self, status: int) -> None:
        g = self.g
        now = g.loop.time()
        g.governor.finished(self, status, now)
        g.metrics.in_flight -= 1
        if self.hold is not None:  # the client left (or a bug ended it) while held
            self._end_hold(CANCELLED)
        if not g.metrics.enabled:
            return
        target = self.target
        series = g.metrics.of(self.requested, target.label if target else "-", self.key.name)
        series.statuses[status] = series.statuses.get(status, 0) + 1
        total = now - self.t0
        series.request.observe(total)
        if self.t_sent:
            # Upstream time of the attempt that answered (to its first byte for a stream), and
            # the gateway's own share: the whole (to the first byte for a stream) less every
            # moment spent waiting on upstreams, failed attempts and connecting included.
            end = self.t_first if self.streaming and self.t_first else now
            series.upstream.observe(end - self.t_sent)
            waited = self.waited + (end - self.t_attempt)
            series.overhead.observe(max(0.0, (end - self.t0) - waited))
        if self.t_first:
            series.ttft.observe(self.t_first - self.t0)
        series.tokens_in += self.prompt_tokens
        series.tokens_out += self.completion_tokens
