"""Per-request observability: a request id, one access log line and the HTTP metrics.

``RequestObserver`` (pure ASGI, outside every other middleware of ours) takes the caller's
``X-Request-ID`` when it is a sane token (at most 128 letters, digits and ``._:-``), else mints
one, binds it to the log context for the whole request and returns it in the response's
``X-Request-ID``. When the request ends it logs one line (``ironplane.server.http``: method,
route template, status, duration in ms; health checks and scrapes at DEBUG) and records the
request in ``ServerMetrics`` under its route template: ``scope["route"]``, which FastAPI sets
when a route matches (``unmatched`` otherwise), never the raw path. Neither the query string
nor any header is logged.

``path_context`` (an app-wide dependency) adds the path's ``cluster``, ``workspace`` and
``app`` to the log context once the route is known, so the handler's own lines carry them.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import Depends, FastAPI, Response
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ironplane.core.logs import bind, unbind
from ironplane.server.metrics import ServerMetrics
from ironplane.server.security.guards import allow
from ironplane.server.settings import ServerSettings

log = logging.getLogger("ironplane.server.http")
HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_QUIET = frozenset({"/api/v1/health", "/metrics"})
"""Routes probed every few seconds: logged at DEBUG."""
PATH_FIELDS = ("cluster", "workspace", "app")


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = str(value.decode("latin-1")).strip()
            if _SANE.match(text):
                return text
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's template with the prefix of the router that holds it
    (``/api/v1/clusters/{cluster}``); ``unmatched`` when no route matched."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "unmatched"
    path = str(scope.get("path", ""))
    if ":path}" in template or path.startswith(template.split("{", 1)[0] or "\0"):
        return template  # a full path already (or one that swallows segments: kept as is)
    # An included router's route may carry its own path only: the prefix is the path's leading
    # segments, literal ones (routing matched them exactly), so the labels stay bounded.
    extra = len(path.rstrip("/").split("/")) - len(template.rstrip("/").split("/"))
    prefix = "/".join(path.split("/")[1 : 1 + extra]) if extra > 0 else ""
    return f"/{prefix}{template}" if prefix else template


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).append(HEADER, rid)
            await send(message)

        token = bind(request_id=rid)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, sent)
        finally:
            elapsed = time.perf_counter() - started
            route, method = route_of(scope), str(scope.get("method", "GET"))
            self.metrics.http(method, route, status, elapsed)
            log.log(
                logging.DEBUG if route in _QUIET and status < 400 else logging.INFO,
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            unbind(token)


async def path_context(connection: HTTPConnection) -> None:
    """Bind the path's cluster, workspace and app to the log context of this request."""
    fields = {k: connection.path_params.get(k) for k in PATH_FIELDS}
    if any(fields.values()):
        bind(**fields)  # the observer's unbind at the end of the request drops these too


def install(app: FastAPI, settings: ServerSettings, metrics: ServerMetrics) -> None:
    """The observer middleware and ``GET /metrics`` (public unless ``metrics_public`` is off)."""
    app.add_middleware(RequestObserver, metrics=metrics)

    async def scrape() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    signed_in = [] if settings.metrics_public else [Depends(allow(None))]
    app.add_api_route("/metrics", scrape, include_in_schema=False, dependencies=signed_in)
