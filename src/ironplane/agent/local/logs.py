"""Process output: written as is to ``<index>.log``, rotated by size, read back by lines.

Each file stays at most ``max_bytes`` long: a write that does not fit is cut at its last newline
that fits (a single line longer than a whole file is cut where the file is full), the file becomes
``.log.1`` (``.log.1`` becomes ``.log.2`` …, ``backups`` files kept) and the rest goes on in a new
file. The files carry the output only; for merging the lines of several replicas in the order
they arrived, a sink remembers a sequence number per recent line. A ``Tee`` writes one process's
output to several sinks (a job run's output goes to the app's log slot and to the run's own log).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

KEEP_LINE_ORDER = 5000
_READ_BLOCK = 65536
_sequence = itertools.count()


class Sink(Protocol):
    """Where a process's output goes (``pump``)."""

    def open(self) -> object: ...

    def write(self, data: bytes) -> None: ...

    def end_of_stream(self) -> None: ...


class LogSink:
    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max(1, max_bytes)
        self.backups = max(0, backups)
        self.error: str | None = None
        self._file: BinaryIO | None = None
        self._size = 0
        self._line_seqs: deque[int] = deque(maxlen=KEEP_LINE_ORDER)
        self._partial_seq: int | None = None

    def open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (kept open)
            self._size = self._file.tell()
        return self._file

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.backups == 0:
            self.path.write_bytes(b"")
        else:
            for number in range(self.backups - 1, 0, -1):
                if self._backup(number).exists():
                    os.replace(self._backup(number), self._backup(number + 1))
            if self.path.exists():
                os.replace(self.path, self._backup(1))
        self.open()

    def write(self, data: bytes) -> None:
        """Append ``data``; an I/O error drops the data and is kept in ``error``."""
        self._track(data)
        try:
            file = self.open()
            while data:
                room = self.max_bytes - self._size
                if len(data) <= room:
                    file.write(data)
                    self._size += len(data)
                    break
                cut = data.rfind(b"\n", 0, room) + 1
                if cut == 0:
                    if self._size > 0:
                        self._rotate()
                        file = self.open()
                        continue
                    cut = room
                file.write(data[:cut])
                self._size += cut
                data = data[cut:]
                self._rotate()
                file = self.open()
            self.error = None
        except OSError as exc:
            self.error = f"cannot write {self.path}: {exc.strerror or exc}"

    def end_of_stream(self) -> None:
        """The writer is gone: end its last line so the next writer starts a line of its own."""
        if self._partial_seq is not None:
            self.write(b"\n")

    def _track(self, data: bytes) -> None:
        start = 0
        while start < len(data):
            if self._partial_seq is None:
                self._partial_seq = next(_sequence)
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            self._line_seqs.append(self._partial_seq)
            self._partial_seq = None
            start = newline + 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def paths(self) -> list[Path]:
        """The current file, then the backups, newest first."""
        return [self.path, *(self._backup(n) for n in range(1, self.backups + 1))]

    def tail(self, lines: int) -> list[tuple[int | None, str]]:
        """The last ``lines`` lines, each with its arrival sequence number when this sink saw it
        (None for older lines, written before this runtime started or long ago)."""
        found, partial = read_tail(self.paths(), lines)
        seqs: list[int | None] = [None] * len(found)
        position = len(found) - 1
        if partial and position >= 0:
            seqs[position] = self._partial_seq
            position -= 1
        for seq in reversed(self._line_seqs):
            if position < 0:
                break
            seqs[position] = seq
            position -= 1
        return list(zip(seqs, found, strict=True))


class Tee:
    """One stream written to several sinks; a sink that cannot open does not stop the others."""

    def __init__(self, *sinks: LogSink) -> None:
        self.sinks = sinks

    def open(self) -> None:
        for sink in self.sinks:
            with contextlib.suppress(OSError):
                sink.open()

    def write(self, data: bytes) -> None:
        for sink in self.sinks:
            sink.write(data)

    def end_of_stream(self) -> None:
        for sink in self.sinks:
            sink.end_of_stream()


def read_tail(paths: Sequence[Path], lines: int) -> tuple[list[str], bool]:
    """The last ``lines`` lines of the files read as one stream (``paths`` newest first), and
    whether the last of them is unfinished (no newline yet)."""
    if lines <= 0:
        return [], False
    blocks: list[bytes] = []
    newlines = 0
    for path in paths:
        try:
            file = open(path, "rb")  # noqa: SIM115 (closed below)
        except OSError:
            continue
        with file:
            position = file.seek(0, os.SEEK_END)
            while position > 0 and newlines <= lines:
                step = min(_READ_BLOCK, position)
                position -= step
                file.seek(position)
                block = file.read(step)
                blocks.append(block)
                newlines += block.count(b"\n")
        if newlines > lines:
            break
    text = b"".join(reversed(blocks)).decode("utf-8", "replace")
    if not text:
        return [], False
    partial = not text.endswith("\n")
    found = text.split("\n")
    if not partial:
        found.pop()
    return found[-lines:], partial


async def pump(stream: asyncio.StreamReader, sink: Sink) -> None:
    """Copy a process's output into ``sink`` until the pipe closes."""
    try:
        while chunk := await stream.read(_READ_BLOCK):
            sink.write(chunk)
    finally:
        sink.end_of_stream()


def merge(tails: Sequence[tuple[int, list[tuple[int | None, str]]]], lines: int) -> list[str]:
    """The last ``lines`` of several replicas' tails, ``[replica-N]``-prefixed when there are
    several: in arrival order as far as known, older lines first, replica by replica."""
    if len(tails) == 1:
        return [line for _, line in tails[0][1]][-lines:] if lines > 0 else []
    keyed: list[tuple[tuple[int, int, int], str]] = []
    for index, tail in tails:
        for position, (seq, line) in enumerate(tail):
            key = (0, index, position) if seq is None else (1, seq, 0)
            keyed.append((key, f"[replica-{index}] {line}"))
    keyed.sort(key=lambda item: item[0])
    return [line for _, line in keyed[-lines:]] if lines > 0 else []
