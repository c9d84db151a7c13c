"""Errors from the Kubernetes API, read from its Status bodies, as Ironplane errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import ApiError

from ironplane.agent.runtime import RuntimeError_


def _http_error_base() -> type[Exception]:
    """The HTTP client's root error (``httpx.HTTPError`` or ``httpx2.HTTPError``, whichever this
    lightkube is built on) without importing that client by name."""
    for cls in ApiError.__mro__:
        if cls.__name__ == "HTTPError" and issubclass(cls, Exception):
            return cls
    return Exception  # pragma: no cover - every lightkube's ApiError derives from it


HTTPError: type[Exception] = _http_error_base()
"""What a failed request raises: ``ApiError`` for Status answers, others for transport errors."""


def describe(obj: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` (``Kind name`` when cluster-scoped): how messages name objects."""
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name", "?")
    return (
        f"{obj.get('kind', '?')} {namespace}/{name}"
        if namespace
        else f"{obj.get('kind', '?')} {name}"
    )


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of a failed request: the Status body's code, else the response's."""
    if isinstance(exc, ApiError):
        code = getattr(exc.status, "code", None)
        if code:
            return int(code)
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def reason(exc: BaseException) -> str | None:
    """The Status body's machine-readable reason (``NotFound``, ``Invalid``, ``Expired`` …)."""
    if isinstance(exc, ApiError):
        value = getattr(exc.status, "reason", None)
        return str(value) if value else None
    return None


def message(exc: BaseException) -> str:
    """The API's own message, else the exception's."""
    if isinstance(exc, ApiError):
        text = getattr(exc.status, "message", None)
        if text:
            return str(text)
    return str(exc) or type(exc).__name__


def is_not_found(exc: BaseException) -> bool:
    return status_code(exc) == 404


def is_gone(exc: BaseException) -> bool:
    """410: a watch's resourceVersion is older than the server keeps (list again)."""
    return status_code(exc) == 410 or reason(exc) in ("Expired", "Gone")


class KubeRuntimeError(RuntimeError_):
    """The API refused or failed an operation on one object.

    ``status`` is the HTTP status (None for transport errors), ``reason`` the Status reason,
    ``target`` the object as ``Kind namespace/name``.
    """

    def __init__(
        self, text: str, *, target: str, status: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(text)
        self.target = target
        self.status = status
        self.reason = reason


def runtime_error(action: str, obj: Mapping[str, Any], exc: BaseException) -> KubeRuntimeError:
    """``cannot apply Deployment prod/chat-api: 422 Invalid: <the API's message>``."""
    target = describe(obj)
    code, why = status_code(exc), reason(exc)
    head = " ".join(str(part) for part in (code, why) if part)
    text = f"cannot {action} {target}: {head + ': ' if head else ''}{message(exc)}"
    return KubeRuntimeError(text, target=target, status=code, reason=why)
