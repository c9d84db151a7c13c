"""Job runs as the local runtime reports them: one record per run, a bounded history per job.

Every run of a Job or CronJob has an id. Runs started by ``jobs run`` (``run_job``) take the name
the control plane gives; runs the runtime starts itself (the schedule, a restart, a one-shot
batch Job) are named ``<job>-<unix minute>`` like the Kubernetes CronJob controller names its
Jobs (the scheduled minute, or the minute they started), with ``-2``, ``-3``… when that name is
taken, and are reported ``scheduled``. A run writes its output to ``runs/<id>.log`` in the app's
directory besides the app's log slot, so ``run_logs`` finds it by id after it ended and while
newer runs write. The history lives in memory: the active runs and the last ``keep`` finished
runs of each job; a forgotten run's log files are deleted with it, and a runtime that starts
again starts with no history (it removes the run logs a previous one left).

A run template (the batch CronJob the compiler makes of a Job) carries its params and raw command
in two annotations (``wire.jobs``); ``run_template`` reads them.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ironplane.agent.local.logs import LogSink
from ironplane.core.errors import InvalidError
from ironplane.wire.agent_protocol import RunPhase, RunStatus
from ironplane.wire.jobs import COMMAND_ANNOTATION, PARAMS_ANNOTATION

RUNS_DIR = "runs"
_RUN_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,150}[A-Za-z0-9])?$")


class TemplateError(Exception):
    """A run-template annotation that is not what the compiler writes."""


@dataclass(frozen=True)
class RunTemplate:
    """What a manual run needs besides the pod template (empty: no params, the pod's command)."""

    params: tuple[tuple[str, str | None], ...] = ()
    """(name, default) in declaration order."""
    command: tuple[str, ...] | None = None
    """The raw ``command`` with ``{{param}}`` references; None: use the pod's own command."""
    args: tuple[str, ...] | None = None


def _words(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise TemplateError(f"{where} must be a list of strings or null, got {value!r}")
    return tuple(value)


def run_template(annotations: Mapping[str, Any]) -> RunTemplate:
    """The params and raw command from a CronJob's annotations; raises ``TemplateError`` naming
    the annotation when one is malformed. Without them: no params, the pod's command."""
    params: list[tuple[str, str | None]] = []
    raw = annotations.get(PARAMS_ANNOTATION)
    if raw is not None:
        try:
            found = json.loads(str(raw))
        except ValueError as exc:
            raise TemplateError(f"annotation {PARAMS_ANNOTATION}: not JSON ({exc})") from exc
        if not isinstance(found, list):
            raise TemplateError(f"annotation {PARAMS_ANNOTATION}: expected a JSON list")
        for index, item in enumerate(found):
            name = item.get("name") if isinstance(item, dict) else None
            default = item.get("default") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name or not isinstance(default, str | None):
                raise TemplateError(
                    f"annotation {PARAMS_ANNOTATION}[{index}]: expected "
                    f'{{"name": str, "default": str | null}}, got {item!r}'
                )
            params.append((name, default))
    raw = annotations.get(COMMAND_ANNOTATION)
    if raw is None:
        return RunTemplate(params=tuple(params))
    try:
        found = json.loads(str(raw))
    except ValueError as exc:
        raise TemplateError(f"annotation {COMMAND_ANNOTATION}: not JSON ({exc})") from exc
    if not isinstance(found, dict):
        raise TemplateError(f"annotation {COMMAND_ANNOTATION}: expected a JSON object")
    command = _words(found.get("command"), f"annotation {COMMAND_ANNOTATION}: command")
    args = _words(found.get("args"), f"annotation {COMMAND_ANNOTATION}: args")
    return RunTemplate(params=tuple(params), command=command or None, args=args)


def check_run_name(run: str) -> None:
    """A run name becomes a file name: letters, digits, ``-``, ``_`` and ``.``."""
    if not _RUN_NAME.match(run):
        raise InvalidError(
            f"run name {run!r} is not valid: use 1-152 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )


Outcome = Literal["Succeeded", "Failed", "Stopped"]


@dataclass
class RunRecord:
    id: str
    workspace: str
    job: str
    scheduled: bool
    started_at: float
    sink: LogSink
    phase: RunPhase = "Pending"
    finished_at: float | None = None
    message: str | None = None

    @property
    def active(self) -> bool:
        return self.finished_at is None

    def finish(self, outcome: Outcome, message: str | None, at: float) -> None:
        self.phase, self.message, self.finished_at = outcome, message, at
        with contextlib.suppress(OSError):
            self.sink.close()

    def status(self) -> RunStatus:
        return RunStatus(
            id=self.id,
            workspace=self.workspace,
            job=self.job,
            phase=self.phase,
            started_at=self.started_at,
            finished_at=self.finished_at,
            message=self.message,
            scheduled=self.scheduled,
        )

    def tail(self, lines: int) -> list[str]:
        return [line for _, line in self.sink.tail(lines)]


@dataclass
class RunHistory:
    """The runs of one job (an app): active ones and the last ``keep`` finished ones."""

    workspace: str
    job: str
    directory: Path
    """The app's directory; run logs go to ``runs/`` in it."""
    keep: int
    log_max_bytes: int
    log_backups: int
    _records: dict[str, RunRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Runs of an earlier runtime are not known any more: their logs would only pile up.
        shutil.rmtree(self.directory / RUNS_DIR, ignore_errors=True)

    def __contains__(self, run: str) -> bool:
        return run in self._records

    def get(self, run: str) -> RunRecord | None:
        return self._records.get(run)

    def records(self) -> list[RunRecord]:
        return list(self._records.values())

    def free_name(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``… whichever no known run has."""
        name, number = base, 1
        while name in self._records:
            number += 1
            name = f"{base}-{number}"
        return name

    def add(self, run: str, *, scheduled: bool, at: float) -> RunRecord:
        sink = LogSink(
            self.directory / RUNS_DIR / f"{run}.log",
            max_bytes=self.log_max_bytes,
            backups=self.log_backups,
        )
        record = RunRecord(run, self.workspace, self.job, scheduled, at, sink)
        self._records[run] = record
        return record

    def prune(self) -> None:
        """Forget the oldest finished runs beyond ``keep``, with their log files."""
        finished = [r for r in self._records.values() if not r.active]
        finished.sort(key=lambda r: (r.finished_at or 0.0, r.started_at))
        for record in finished[: max(0, len(finished) - self.keep)]:
            del self._records[record.id]
            with contextlib.suppress(OSError):
                record.sink.close()
            for path in record.sink.paths():
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)

    def close(self) -> None:
        for record in self._records.values():
            with contextlib.suppress(OSError):
                record.sink.close()
        self._records.clear()
