"""The gateway's errors and their one mapping to OpenAI's error shape and HTTP status.

Everything the gateway refuses or fails on is an :class:`~ironplane.core.errors.IronplaneError`;
:func:`render` turns it into ``{"error": {"message", "type", "param", "code"}}`` with the status
OpenAI's SDKs expect. Messages never contain keys or upstream credentials.
"""

from __future__ import annotations

import math

import msgspec

from ironplane.core.errors import (
    ForbiddenError,
    InvalidError,
    IronplaneError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
)


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class MethodNotAllowedError(InvalidError):
    code = "method_not_allowed"


class HeadTooLargeError(InvalidError):
    """The request line or headers are larger than the gateway reads."""

    code = "request_header_too_large"


class RequestTimeoutError(InvalidError):
    """The client did not send a whole request in time."""

    code = "request_timeout"


class UpstreamError(UnavailableError):
    """The upstream failed: refused, reset, answered garbage, or a 5xx after every retry."""

    code = "upstream_error"


class UpstreamTimeoutError(UnavailableError):
    code = "upstream_timeout"


class NoTargetError(UnavailableError):
    """Every target of the model (and of its fallbacks) is cooling down after failures."""

    code = "no_healthy_target"


class BudgetExceededError(RateLimitedError):
    """A key's or team's daily or monthly budget is spent (``budgets.py``)."""

    code = "budget_exceeded"


class _Error(msgspec.Struct, omit_defaults=False):
    message: str
    type: str
    param: str | None
    code: str


class _Body(msgspec.Struct):
    error: _Error


_encode = msgspec.json.Encoder().encode

# (class, status, OpenAI error type), most specific first.
_TABLE: tuple[tuple[type[IronplaneError], int, str], ...] = (
    (ModelNotFoundError, 404, "invalid_request_error"),
    (MethodNotAllowedError, 405, "invalid_request_error"),
    (RequestTimeoutError, 408, "invalid_request_error"),
    (PayloadTooLargeError, 413, "invalid_request_error"),
    (HeadTooLargeError, 431, "invalid_request_error"),
    (InvalidError, 400, "invalid_request_error"),
    (UnauthenticatedError, 401, "authentication_error"),
    (ForbiddenError, 403, "permission_error"),
    (NotFoundError, 404, "invalid_request_error"),
    (BudgetExceededError, 429, "budget_exceeded"),
    (RateLimitedError, 429, "rate_limit_error"),
    (UpstreamTimeoutError, 504, "timeout_error"),
    (NoTargetError, 503, "service_unavailable"),
    (UpstreamError, 502, "upstream_error"),
    (UnavailableError, 503, "service_unavailable"),
)


def status_of(exc: IronplaneError) -> int:
    for kind, status, _ in _TABLE:
        if isinstance(exc, kind):
            return status
    return 500


def render(exc: IronplaneError, param: str | None = None) -> tuple[int, bytes, bytes]:
    """(status, JSON body, extra header lines) for an error answered by the gateway itself."""
    status, kind = 500, "api_error"
    for cls, code, name in _TABLE:
        if isinstance(exc, cls):
            status, kind = code, name
            break
    body = _encode(_Body(_Error(exc.message, kind, param, exc.code)))
    extra = b""
    if isinstance(exc, RateLimitedError):
        extra = b"retry-after: %d\r\n" % max(1, math.ceil(exc.retry_after_s))
    return status, body, extra


def error_event(exc: IronplaneError) -> bytes:
    """An SSE event carrying an error, for a stream that breaks after its first byte.

    The OpenAI SDKs raise ``APIError`` when a stream event holds an ``error`` object.
    """
    _, body, _ = render(exc)
    return b"data: " + body + b"\n\n"
