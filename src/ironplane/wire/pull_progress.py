"""Progress of a weights download, shared by the puller, the agents and the control plane.

The puller (``ironplane fetch-weights``) writes one JSON line per report to its log (stderr,
when it is not a terminal) and, when ``IRONPLANE_PROGRESS_FILE`` names a file, the same line
to that file atomically::

    {"type": "weights-progress", "done": 13207024435, "total": 42949672960, "rate": 891289600.0,
     "eta": 33.4, "files_done": 3, "files_total": 10}

``done`` and ``total`` are bytes, ``rate`` bytes per second, ``eta`` seconds (``null`` until a
rate is known). The Kubernetes agent reads the last such line from the log tail of a pod's
``fetch-weights`` init container and reports it as ``AppStatus.weights``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec

LINE_TYPE = "weights-progress"
PROGRESS_FILE_ENV = "IRONPLANE_PROGRESS_FILE"
"""Where the puller also writes its last progress line (atomically), when set."""
PULLER_CONTAINER = "fetch-weights"
"""The name of the init container that downloads weights (the compiler's)."""


class WeightsProgress(msgspec.Struct, kw_only=True):
    """A weights download in flight: bytes done of total, the rate and the time left."""

    done: int
    """Bytes on disk (parts resumed from an earlier attempt included)."""
    total: int
    """Bytes to download in all."""
    rate: float = 0.0
    """Bytes per second."""
    eta: float | None = None
    """Seconds left at the current rate; None until a rate is known."""
    files_done: int = 0
    files_total: int = 0
    pods: int = 1
    """How many of the app's pods are downloading now (the figures are the least advanced's)."""


class _Line(msgspec.Struct, kw_only=True, tag_field="type", tag=LINE_TYPE):
    done: int
    total: int
    rate: float = 0.0
    eta: float | None = None
    files_done: int = 0
    files_total: int = 0


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Line)


def progress_line(
    *,
    done: int,
    total: int,
    rate: float,
    eta: float | None,
    files_done: int,
    files_total: int,
) -> str:
    """The JSON line (without its newline) the puller writes for one report."""
    line = _Line(
        done=done,
        total=total,
        rate=round(rate, 1),
        eta=None if eta is None else round(eta, 1),
        files_done=files_done,
        files_total=files_total,
    )
    return _encoder.encode(line).decode()


def parse_line(text: str) -> WeightsProgress | None:
    """The progress in one log line, or None when the line is something else.

    A Kubernetes timestamp prefix (``2025-01-01T00:00:00.123456789Z ``) is skipped.
    """
    text = text.strip()
    if not text.startswith("{"):
        head, sep, rest = text.partition(" ")
        if not sep or not head.endswith("Z"):
            return None
        text = rest.strip()
    if LINE_TYPE not in text:
        return None
    try:
        line = _decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    counts = (line.done, line.total, line.files_done, line.files_total)
    if any(n < 0 or n > _MAX_COUNT for n in counts) or not math.isfinite(line.rate):
        return None  # a log line is untrusted text: nothing absurd goes further
    eta = line.eta
    return WeightsProgress(
        done=line.done,
        total=line.total,
        rate=min(max(line.rate, 0.0), float(_MAX_COUNT)),
        eta=None if eta is None or not math.isfinite(eta) or eta < 0 else min(eta, 1e9),
        files_done=line.files_done,
        files_total=line.files_total,
    )


_MAX_COUNT = 2**53
"""Bytes or files beyond this (9 PB) are not a real download; they would also lose precision or
overflow in the ratios and formatting downstream."""


def last_progress(lines: Iterable[str]) -> WeightsProgress | None:
    """The progress of the last progress line among ``lines`` (a log tail)."""
    found = None
    for text in lines:
        parsed = parse_line(text)
        if parsed is not None:
            found = parsed
    return found


def slowest(
    progresses: Iterable[WeightsProgress], *, pods: int | None = None
) -> WeightsProgress | None:
    """One figure for several pods: the least advanced download, with ``pods`` (default: how
    many figures were given) the number of pods downloading."""
    items = list(progresses)
    if not items:
        return None

    def fraction(p: WeightsProgress) -> float:
        return p.done / p.total if p.total else 1.0

    least = min(items, key=fraction)
    return msgspec.structs.replace(least, pods=max(pods or 0, len(items)))
