"""Progress of a fetch: a byte meter fed by the download threads, reported by the main thread."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

#: Reports come at most this often (plus one final report at the end).
REPORT_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Progress:
    done: int
    """Bytes on disk and counted, parts resumed from an earlier run included."""
    total: int
    """Bytes to have on disk; it grows when a corrupted object is downloaded again."""
    rate: float
    """Bytes per second downloaded by this run."""
    eta_s: float | None
    """Seconds left at the current rate; ``None`` until a rate is known."""
    files_done: int
    files_total: int


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class Meter:
    """Counts bytes (thread-safe) and calls ``callback`` at most every 0.5 s."""

    def __init__(
        self,
        total: int,
        done: int,
        files_total: int,
        callback: Callable[[Progress], None] | None,
    ) -> None:
        self._lock = threading.Lock()
        self.total = total
        self.done = done
        self._start_done = done
        self.files_total = files_total
        self.files_done = 0
        self._callback = callback
        self._start = time.monotonic()
        self._last: float | None = None
        self._last_done = -1

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n

    def grow(self, n: int) -> None:
        with self._lock:
            self.total += n

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1

    def snapshot(self) -> Progress:
        with self._lock:
            elapsed = max(time.monotonic() - self._start, 1e-9)
            rate = (self.done - self._start_done) / elapsed
            left = self.total - self.done
            eta = left / rate if rate > 0 else (0.0 if left == 0 else None)
            return Progress(self.done, self.total, rate, eta, self.files_done, self.files_total)

    def report(self, *, final: bool = False) -> None:
        """Call the callback if 0.5 s have passed since the last report (always when final)."""
        if self._callback is None:
            return
        now = time.monotonic()
        if not final and self._last is not None and now - self._last < REPORT_INTERVAL_S:
            return
        p = self.snapshot()
        if final and p.done == self._last_done:
            return
        self._last, self._last_done = now, p.done
        self._callback(p)


class StderrProgress:
    """Renders progress as one line: ``\\r``-updated on a terminal, one line per report else."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()

    def __call__(self, p: Progress) -> None:
        pct = 100.0 * p.done / p.total if p.total else 100.0
        eta = "--" if p.eta_s is None else f"{p.eta_s:.0f}s"
        line = (
            f"{human(p.done)} / {human(p.total)} ({pct:.0f}%)  {human(p.rate)}/s  ETA {eta}"
            f"  files {p.files_done}/{p.files_total}"
        )
        if self._tty:
            end = "\n" if p.done >= p.total else ""
            self._stream.write(f"\r\x1b[K{line}{end}")
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
