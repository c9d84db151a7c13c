"""The one place an HTTP failure becomes an Ironplane error.

The server answers every error with ``{"error": {"code", "message", "diagnostics"}}``; its code
picks the class from ``ironplane.core.errors``, so SDK users catch the same exceptions the rest of
Ironplane raises (``except NotFoundError``). Whatever is not such an answer (another program's
error page, a 500, no answer at all) is an ``UnavailableError`` naming the server, never the token.
The HTTP status, when there was one, is on the error: ``http_status(exc)``.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from ironplane.api.common import ErrorResponse
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
)

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "InvalidError",
    "IronplaneError",
    "ManifestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "SpecError",
    "UnauthenticatedError",
    "UnavailableError",
    "connection_error",
    "error_from_response",
    "http_status",
]

_BY_CODE: dict[str, Callable[[str], IronplaneError]] = {
    "invalid": InvalidError,
    "payload_too_large": PayloadTooLargeError,
    "unauthenticated": UnauthenticatedError,
    "forbidden": ForbiddenError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    # The wait is in the answer's Retry-After header; the message says to try later.
    "rate_limited": lambda message: RateLimitedError(message, retry_after_s=0.0),
}
_WITH_DIAGNOSTICS = {"invalid_spec": SpecError, "invalid_manifest": ManifestError}
_SNIPPET = 200


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer that raised ``exc``; None when there was no answer."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _with_status(exc: IronplaneError, status: int) -> IronplaneError:
    vars(exc)["status"] = status
    return exc


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def error_from_response(
    status: int, content: bytes, server: str, *, token: str | None = None
) -> IronplaneError:
    """The error for a failed answer (status 400 and up) from ``server``."""
    try:
        error = ErrorResponse.model_validate_json(content).error
    except ValidationError:
        text = " ".join(content.decode("utf-8", "replace").split())
        if len(text) > _SNIPPET:
            text = text[: _SNIPPET - 3] + "..."
        detail = f": {_redact(text, token)}" if text else ""
        return _with_status(
            UnavailableError(
                f"the server at {server} answered HTTP {status} without an Ironplane error "
                f"(is it an Ironplane server, and up?){detail}"
            ),
            status,
        )
    message = _redact(error.message, token)
    diagnostics = [d.diagnostic() for d in error.diagnostics]
    if error.code in _WITH_DIAGNOSTICS:
        cls = _WITH_DIAGNOSTICS[error.code]
        rendered = "\n".join(d.render() for d in cls(diagnostics).diagnostics)
        # The server's message may already end with the rendered diagnostics: keep one copy.
        summary = message.removesuffix(rendered).rstrip("\n") if rendered else message
        return _with_status(cls(diagnostics, summary=summary or None), status)
    if error.code in _BY_CODE:
        if diagnostics:
            rendered = "\n".join(d.render() for d in diagnostics)
            if rendered not in message:
                message = f"{message}\n{rendered}"
        return _with_status(_BY_CODE[error.code](message), status)
    return _with_status(
        UnavailableError(f"the server at {server} failed (HTTP {status}, {error.code}): {message}"),
        status,
    )


def connection_error(server: str, exc: Exception, *, token: str | None = None) -> UnavailableError:
    """No answer at all: refused, timed out, TLS failure, or a broken connection."""
    reason = _redact(str(exc) or type(exc).__name__, token)
    return UnavailableError(f"cannot reach the Ironplane server at {server}: {reason}")


def unexpected_response(server: str, what: str, exc: ValidationError) -> UnavailableError:
    """A success answer that does not hold what the API promises: a server of another version?"""
    count = exc.error_count()
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "(body)"
    return UnavailableError(
        f"the server at {server} answered {what} with an unexpected body "
        f"({count} problem{'s' if count != 1 else ''}, first at {where}: {first['msg']}); "
        "is the server's version compatible with this client?"
    )
