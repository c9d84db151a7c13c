"""The one place errors become HTTP responses.

Every body is ``{"error": {"code", "message", "diagnostics"}}``. Request validation errors never
echo the input (it may hold a password or a secret value); unexpected errors answer 500 with no
detail and are logged with their traceback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from ironplane.api.common import DiagnosticBody, ErrorBody, ErrorResponse
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    IronplaneError,
    ManifestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    SpecError,
    UnauthenticatedError,
    UnavailableError,
    UnsupportedError,
)

log = logging.getLogger("ironplane.server")

STATUS: list[tuple[type[IronplaneError], int]] = [
    (PayloadTooLargeError, 413),
    (InvalidError, 400),
    (UnauthenticatedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (UnsupportedError, 409),
    (RateLimitedError, 429),
    (UnavailableError, 503),
]
_HTTP_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
}


def error_response(
    status: int,
    code: str,
    message: str,
    diagnostics: list[Diagnostic] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            code=code,
            message=message,
            diagnostics=[DiagnosticBody.of(d) for d in diagnostics or []],
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def status_of(exc: IronplaneError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 500)


PageErrors = Callable[[Request, int, str, str], Awaitable[Response | None]]
"""Renders an error for a web page (the UI installs one in ``app.state.page_errors``); None
leaves it to the JSON answer."""


async def _page(request: Request, status: int, code: str, message: str) -> Response | None:
    render: PageErrors | None = getattr(request.app.state, "page_errors", None)
    return None if render is None else await render(request, status, code, message)


async def _ironplane(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IronplaneError)
    if isinstance(exc, ForbiddenError) and request.method not in ("GET", "HEAD"):
        await audit_denial(request, exc)
    diagnostics = list(exc.diagnostics) if isinstance(exc, SpecError | ManifestError) else []
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return await _answer(request, status, exc.code, exc.message, diagnostics, headers)


async def audit_denial(request: Request, exc: ForbiddenError) -> None:
    """Every refused write is recorded, wherever it was refused (guard or service)."""
    from ironplane.server.services.audit import record

    caller = getattr(request.state, "caller", None)
    services = request.app.state.services
    try:
        async with services.db.session() as session:
            record(
                session,
                caller,
                action=f"{request.method} {request.url.path}"[:100],
                target=request.url.path[:400],
                outcome="denied",
                details={"reason": exc.message[:500]},
                source_ip=request.client.host if request.client else None,
            )
    except Exception:  # auditing a denial must not turn it into a 500
        log.exception("could not audit a denied request")


def _location(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    return tuple(x for x in loc if isinstance(x, str | int))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    diagnostics: list[Diagnostic] = []
    for err in exc.errors():
        loc = _location(tuple(err.get("loc", ())))
        kind = err.get("type", "")
        if kind == "json_invalid":
            message = "the request body is not valid JSON: " + str(
                err.get("ctx", {}).get("error", "")
            )
        elif kind == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}" if loc else "unknown field"
        else:
            message = str(err.get("msg", "invalid value"))
        diagnostics.append(Diagnostic(message=message, path=loc))
    summary = "; ".join(
        f"{'.'.join(str(x) for x in d.path) or 'body'}: {d.message}" for d in diagnostics[:5]
    )
    return await _answer(request, 422, "invalid", f"invalid request: {summary}", diagnostics)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid" if exc.status_code < 500 else "internal")
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = getattr(exc, "headers", None)
    return await _answer(request, exc.status_code, code, detail, headers=headers)


async def _answer(
    request: Request,
    status: int,
    code: str,
    message: str,
    diagnostics: list[Diagnostic] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error as a page under /ui (when the UI renders one), else as JSON (with the
    diagnostics and headers, which a page does not carry)."""
    page = await _page(request, status, code, message)
    if page is not None:
        return page
    return error_response(status, code, message, diagnostics, headers)


async def _integrity(request: Request, exc: Exception) -> Response:
    log.info("integrity error (concurrent change): %s", type(exc).__name__)
    return await _answer(
        request, 409, "conflict", "the change collided with a concurrent one; retry it"
    )


async def _operational(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", type(exc).__name__)
    return await _answer(
        request, 503, "unavailable", "the database is unavailable or busy; retry shortly"
    )


async def _dbapi(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    if not sqlstate.startswith("22"):  # SQLSTATE class 22: data exception, i.e. a bad input value
        raise exc  # to _internal, as any other unexpected error
    log.info("the database refused a value (SQLSTATE %s)", sqlstate)
    return await _answer(
        request,
        400,
        "invalid",
        "a value in the request cannot be stored or looked up: "
        "it holds a NUL character, is too long or is out of range",
    )


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    message = "internal server error; the server log has the details"
    return await _answer(request, 500, "internal", message)


def install(app: FastAPI) -> None:
    app.add_exception_handler(IronplaneError, _ironplane)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(DBAPIError, _dbapi)
    app.add_exception_handler(Exception, _internal)
