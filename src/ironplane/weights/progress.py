"""Progress of a fetch: a byte meter fed by the download threads, reported by the main thread."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ironplane.core.quantities import human_bytes
from ironplane.wire.pull_progress import progress_line

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
            f"{human_bytes(p.done)} / {human_bytes(p.total)} ({pct:.0f}%)  "
            f"{human_bytes(p.rate)}/s  ETA {eta}"
            f"  files {p.files_done}/{p.files_total}"
        )
        if self._tty:
            end = "\n" if p.done >= p.total else ""
            self._stream.write(f"\r\x1b[K{line}{end}")
        else:
            self._stream.write(line + "\n")
        self._stream.flush()


def json_line(p: Progress) -> str:
    """The machine-readable progress line (``ironplane.wire.pull_progress``)."""
    return progress_line(
        done=p.done,
        total=p.total,
        rate=p.rate,
        eta=p.eta_s,
        files_done=p.files_done,
        files_total=p.files_total,
    )


class JsonProgress:
    """Writes progress as JSON lines for programs: to ``stream`` at most every ``every_s``
    seconds (and always when the download is complete), and to ``path`` (when given) at every
    report, atomically, so a reader never sees half a line. The Kubernetes agent reads the
    stream (the init container's log); a local supervisor can read the file."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        path: Path | None = None,
        every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._path = path
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None

    def __call__(self, p: Progress) -> None:
        line = json_line(p)
        if self._path is not None:
            self._write_file(line)
        if self._stream is None:
            return
        now = self._clock()
        if p.done < p.total and self._last is not None and now - self._last < self._every_s:
            return
        self._last = now
        self._stream.write(line + "\n")
        self._stream.flush()

    def _write_file(self, line: str) -> None:
        assert self._path is not None
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(line + "\n")
            os.replace(tmp, self._path)
        except OSError:  # progress is a courtesy: never fail the download for it
            with contextlib.suppress(OSError):
                tmp.unlink()


class Both:
    """Calls each of several progress callbacks."""

    def __init__(self, *callbacks: Callable[[Progress], None]) -> None:
        self._callbacks = callbacks

    def __call__(self, p: Progress) -> None:
        for callback in self._callbacks:
            callback(p)
