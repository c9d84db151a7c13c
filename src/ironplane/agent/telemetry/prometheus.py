"""A minimal client of Prometheus' HTTP API: instant queries (``/api/v1/query``).

stdlib ``urllib`` in a worker thread, with a timeout: the agent needs one GET now and then, not
an HTTP client library. Answers are decoded with msgspec into (labels, value) pairs; a value
that is not a finite number (``NaN`` for 0/0, ``+Inf``) is dropped.
"""

from __future__ import annotations

import asyncio
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import msgspec

from ironplane.core.errors import UnavailableError

MAX_ANSWER = 64 * 1024 * 1024


class PrometheusError(UnavailableError):
    """Prometheus could not be reached, or refused the query (the message says which)."""


@dataclass(frozen=True, slots=True)
class Point:
    labels: dict[str, str]
    value: float


class _Result(msgspec.Struct):
    metric: dict[str, str] = {}
    value: tuple[float, str] | None = None


class _Data(msgspec.Struct):
    resultType: str
    result: list[_Result] = []


class _Answer(msgspec.Struct):
    status: str
    data: _Data | None = None
    error: str | None = None
    errorType: str | None = None


_decoder = msgspec.json.Decoder(_Answer)


def masked(url: str) -> str:
    """``url`` without user-info or query, to quote in errors and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class Prometheus:
    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    async def query(self, promql: str) -> list[Point]:
        """The instant vector ``promql`` evaluates to now; raises ``PrometheusError``."""
        return await asyncio.to_thread(self._query, promql)

    def _query(self, promql: str) -> list[Point]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode(
            {"query": promql, "timeout": f"{self.timeout_s:g}s"}
        )
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        where = masked(self.url)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                raw = answer.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            raw = exc.read(64 * 1024)
            detail = _error_of(raw) or exc.reason
            raise PrometheusError(f"Prometheus at {where} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            why = getattr(exc, "reason", exc)
            raise PrometheusError(f"cannot reach Prometheus at {where}: {why}") from None
        if len(raw) > MAX_ANSWER:
            raise PrometheusError(f"Prometheus at {where} answered more than {MAX_ANSWER} bytes")
        try:
            answer_ = _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PrometheusError(f"Prometheus at {where} answered something else: {exc}") from None
        if answer_.status != "success" or answer_.data is None:
            raise PrometheusError(f"Prometheus at {where} refused the query: {answer_.error}")
        if answer_.data.resultType != "vector":
            raise PrometheusError(f"expected a vector, got a {answer_.data.resultType}")
        out = []
        for result in answer_.data.result:
            if result.value is None:
                continue
            try:
                value = float(result.value[1])
            except ValueError:
                continue
            if math.isfinite(value):
                out.append(Point(result.metric, value))
        return out


def _error_of(raw: bytes) -> str | None:
    try:
        data: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None
