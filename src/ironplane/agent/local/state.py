"""What the local runtime's parts share: settings, per-app context (events, logs) and statuses."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ironplane.agent.local.logs import LogSink
from ironplane.agent.local.model import WorkloadDef
from ironplane.agent.local.runs import RunHistory
from ironplane.wire.agent_protocol import Condition, Event, Phase

EVENTS_KEPT = 50
EVENTS_REPORTED = 20


@dataclass(frozen=True)
class Settings:
    backoff: tuple[float, ...] = (1, 2, 5, 10, 30)
    probe_interval_s: float = 2.0
    backoff_reset_s: float = 60.0
    """A replica that stayed up this long starts its backoff sequence afresh."""
    ready_without_probe_s: float = 1.0
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3
    clock: Callable[[], float] = time.time
    """Wall-clock time (Unix seconds) for events, cron schedules and run times."""
    runs_kept: int = 20
    """Finished runs remembered per job (with their logs)."""

    def backoff_delay(self, failures: int) -> float:
        """The wait before restart number ``failures`` (1-based), capped at the last value."""
        if not self.backoff:
            return 0.0
        return float(self.backoff[min(max(failures, 1), len(self.backoff)) - 1])


class EventLog:
    def __init__(self, clock: Callable[[], float], notify: Callable[[], None]) -> None:
        self._clock = clock
        self._notify = notify
        self._events: deque[Event] = deque(maxlen=EVENTS_KEPT)

    def add(self, reason: str, message: str, *, warning: bool = False) -> None:
        self._events.append(
            Event(
                at=self._clock(),
                type="Warning" if warning else "Normal",
                reason=reason,
                message=message,
            )
        )
        self._notify()

    def recent(self, count: int = EVENTS_REPORTED) -> list[Event]:
        return list(self._events)[-count:]


class AppContext:
    """One app (workspace + app label): its directory, events, log sinks and job runs, shared by
    the workloads of the app and kept across their replacements."""

    def __init__(
        self,
        workspace: str,
        app: str,
        directory: Path,
        settings: Settings,
        notify: Callable[[], None],
    ) -> None:
        self.workspace = workspace
        self.app = app
        self.directory = directory
        self.settings = settings
        self.notify = notify
        self.events = EventLog(settings.clock, notify)
        self.ever_ready = False
        """Some replica of the app was ready once: later shortfalls are Progressing, not Pending."""
        self._sinks: dict[int, LogSink] = {}
        directory.mkdir(parents=True, exist_ok=True)
        self.runs = RunHistory(
            workspace,
            app,
            directory,
            keep=settings.runs_kept,
            log_max_bytes=settings.log_max_bytes,
            log_backups=settings.log_backups,
        )

    def sink(self, index: int) -> LogSink:
        if index not in self._sinks:
            self._sinks[index] = LogSink(
                self.directory / f"{index}.log",
                max_bytes=self.settings.log_max_bytes,
                backups=self.settings.log_backups,
            )
        return self._sinks[index]

    def close(self) -> None:
        for sink in self._sinks.values():
            with contextlib.suppress(OSError):
                sink.close()
        self._sinks.clear()
        self.runs.close()


@dataclass
class WorkloadStatus:
    phase: Phase
    ready: int = 0
    desired: int = 0
    conditions: list[Condition] = field(default_factory=list)
    error: str | None = None


class Workload(Protocol):
    definition: WorkloadDef
    app: AppContext

    async def start(self) -> None: ...

    async def update(self, definition: WorkloadDef) -> bool:
        """Take a new definition in place; False when the workload must be replaced instead."""
        ...

    async def stop(self) -> None: ...

    async def restart(self) -> None: ...

    def status(self) -> WorkloadStatus: ...

    def log_indices(self) -> list[int]:
        """The log files (``<index>.log``) that belong to the workload now."""
        ...

    def pids(self) -> list[int]: ...
