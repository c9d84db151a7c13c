"""Structured logs: one JSON object per line (or readable text), with context and no secrets.

    configure("json")                       # ironplane server / ironplane agent
    with log_context(request_id=rid, cluster="oke-prod"):
        log.info("applied revision %d", 7)  # {"ts": ..., "level": "INFO", "logger": ...,
                                            #  "msg": "applied revision 7", "request_id": ...}

Context fields (``request_id``, ``cluster``, ``workspace``, ``app``, ``revision``...) live in a
``ContextVar``, so every line logged while handling one request or one agent session carries
them, whichever module logs it; asyncio tasks inherit the context they were created in.
``extra={...}`` fields of a call are added too.

Every message, field and traceback passes ``redact`` first: Ironplane tokens (``ipt_<id>_<secret>``
keeps only its public id), ``Bearer`` credentials and the user-info of URLs never reach a log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar("ironplane_log_context", default=_EMPTY)

MASK = "***"
_TOKEN = re.compile(r"\b(ipt_[0-9A-Za-z]+_)[0-9A-Za-z_\-]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s\"',;]+")
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")
_SECRET_FIELDS = re.compile(r"(?i)^(.*_)?(token|secret|password|authorization|api[_-]?key|cookie)$")

# What every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with ANSI colours
}


def redact(text: str) -> str:
    """``text`` without secrets: token secrets, Bearer/Basic credentials, URL user-info."""
    text = _TOKEN.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)


def context() -> Mapping[str, Any]:
    """The fields every log line carries now."""
    return _CONTEXT.get()


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add fields to the context until ``unbind(token)`` (None values are left out)."""
    return _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token: Token[Mapping[str, Any]]) -> None:
    _CONTEXT.reset(token)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Lines logged inside carry ``fields`` (None values are left out)."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def _clean(key: str, value: Any) -> Any:
    if _SECRET_FIELDS.search(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The context and ``extra=`` fields of a record, redacted."""
    out = {k: _clean(k, v) for k, v in context().items()}
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = _clean(key, value)
    return out


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...context and extra fields, "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        data: dict[str, Any] = {
            "ts": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in fields_of(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            data["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-01-02 03:04:05,678 INFO logger: message key=value ...`` (redacted)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        extra = " ".join(f"{k}={v}" for k, v in fields_of(record).items())
        return f"{line} {extra}" if extra else line


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(fmt: LogFormat = "json", level: int = logging.INFO) -> None:
    """One stderr handler on the root logger with the chosen format (replacing any other)."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: choose json or text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
