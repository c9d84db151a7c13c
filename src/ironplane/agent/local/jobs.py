"""Jobs and CronJobs run locally.

A *run* is one execution of a Job template: its first container is started; a failed attempt is
retried after the runtime's backoff delays until ``backoffLimit`` retries are spent, and
``activeDeadlineSeconds`` bounds the whole run (the process is then stopped and the run fails).
A Job runs once (converging the same Job again does not run it again); a CronJob starts runs at
its schedule (minute resolution, in ``spec.timeZone`` when this machine knows it, else local time)
following its ``concurrencyPolicy``: ``Allow`` runs side by side, ``Forbid`` skips a start while
a run is active, ``Replace`` stops the active run first. Each concurrent run writes its own log
(``<slot>.log``, the lowest free slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from datetime import datetime
from typing import Literal

from ironplane.agent.local.model import WorkloadDef, launch_spec
from ironplane.agent.local.process import Child, describe_exit
from ironplane.agent.local.state import AppContext, WorkloadStatus
from ironplane.wire.agent_protocol import Condition

_TICK_S = 1.0
"""The scheduler re-reads the clock at least this often (clock jumps, sleeps)."""


class JobRun:
    def __init__(self, number: int, slot: int, definition: WorkloadDef, app: AppContext) -> None:
        self.number = number
        self.slot = slot
        self.definition = definition
        self.app = app
        self.outcome: Literal["Succeeded", "Failed"] | None = None
        self.error: str | None = None
        self.child: Child | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"{app.app}-run-{number}")

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.running else None

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self.child is not None:
            container = self.definition.container
            await self.child.terminate(container.grace_s if container else 10.0)
        await self.task

    def _finish(self, outcome: Literal["Succeeded", "Failed"], reason: str, message: str) -> None:
        self.outcome = outcome
        self.error = None if outcome == "Succeeded" else message
        self.app.events.add(reason, message, warning=outcome == "Failed")

    async def _run(self) -> None:
        definition, events = self.definition, self.app.events
        container = definition.container
        assert container is not None
        port = container.ports[0] if container.ports else None
        launch = launch_spec(container, self.app.directory, port)
        loop = asyncio.get_running_loop()
        deadline = None if definition.deadline_s is None else loop.time() + definition.deadline_s
        run = f"run {self.number}"
        for attempt in itertools.count(1):
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                self._finish(
                    "Failed",
                    "DeadlineExceeded",
                    f"{run} exceeded activeDeadlineSeconds={definition.deadline_s:g}",
                )
                return
            try:
                child = await Child.spawn(
                    launch.argv, launch.env, launch.cwd, self.app.sink(self.slot)
                )
            except OSError as exc:
                result = f"cannot start {launch.argv[0]!r}: {exc.strerror}"
            else:
                self.child = child
                if self._stopping:
                    await child.terminate(launch.grace_s)
                    return
                events.add("Started", f"{run} attempt {attempt} started (pid {child.pid})")
                returncode = await child.wait_for(remaining)
                if returncode is None:
                    returncode = await child.terminate(launch.grace_s)
                    self._finish(
                        "Failed",
                        "DeadlineExceeded",
                        f"{run} exceeded activeDeadlineSeconds={definition.deadline_s:g}: "
                        f"{describe_exit(returncode)}",
                    )
                    return
                if self._stopping:
                    events.add("Stopped", f"{run} stopped: {describe_exit(returncode)}")
                    return
                if returncode == 0:
                    self._finish("Succeeded", "Completed", f"{run} succeeded (exit code 0)")
                    return
                result = describe_exit(returncode)
            if attempt > definition.backoff_limit:
                self._finish(
                    "Failed",
                    "BackoffLimitExceeded",
                    f"{run} failed: attempt {attempt} {result} "
                    f"(backoffLimit {definition.backoff_limit} reached)",
                )
                return
            delay = self.app.settings.backoff_delay(attempt)
            events.add(
                "AttemptFailed",
                f"{run} attempt {attempt} {result}; retrying in {delay:g}s",
                warning=True,
            )
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self._stopping:
                return


class JobWorkload:
    """A Job (runs once) or a CronJob (runs at its schedule)."""

    def __init__(self, definition: WorkloadDef, app: AppContext) -> None:
        self.definition = definition
        self.app = app
        self.runs: list[JobRun] = []
        self.last: JobRun | None = None
        self.next_at: float | None = None
        self._numbers = itertools.count(1)
        self._scheduler: asyncio.Task[None] | None = None

    @property
    def cron(self) -> bool:
        return self.definition.api_kind == "CronJob"

    # lifecycle

    async def start(self) -> None:
        definition = self.definition
        for note in definition.notes:
            self.app.events.add("TimeZone", note, warning=True)
        if definition.problem is not None:
            problem = definition.problem
            self.app.events.add(problem.reason, problem.message, warning=True)
        elif not self.cron:
            self._start_run()
        elif not definition.suspend:
            self._start_scheduler()
        self.app.notify()

    async def update(self, definition: WorkloadDef) -> bool:
        current = self.definition
        if current.problem is not None or definition.problem is not None or not self.cron:
            same = (definition.fingerprint, definition.problem) == (
                current.fingerprint,
                current.problem,
            )
            if same:
                self.definition = definition
            return same
        # A CronJob changes in place: active runs finish as they started, later runs use it.
        self.definition = definition
        timing = (current.schedule, current.time_zone, current.suspend)
        if timing != (definition.schedule, definition.time_zone, definition.suspend):
            await self._stop_scheduler()
            if definition.suspend != current.suspend:
                state = "suspended" if definition.suspend else "resumed"
                self.app.events.add("Suspended" if definition.suspend else "Resumed", state)
            if not definition.suspend:
                self._start_scheduler()
            self.app.notify()
        return True

    def _start_scheduler(self) -> None:
        self.next_at = self._next_fire(self.app.settings.clock())
        self._scheduler = asyncio.create_task(self._schedule(), name=f"{self.app.app}-cron")

    async def _stop_scheduler(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
            self.next_at = None

    async def stop(self) -> None:
        await self._stop_scheduler()
        runs = list(self.runs)
        await asyncio.gather(*(run.stop() for run in runs))
        self.app.notify()

    async def restart(self) -> None:
        """Stop the active runs and start a new run now."""
        if self.definition.problem is not None:
            return
        self.app.events.add("Restarting", "stopping active runs and starting a new run")
        await asyncio.gather(*(run.stop() for run in list(self.runs)))
        self._start_run()

    # runs

    def _start_run(self) -> JobRun:
        taken = {run.slot for run in self.runs}
        slot = next(i for i in itertools.count() if i not in taken)
        run = JobRun(next(self._numbers), slot, self.definition, self.app)
        self.runs.append(run)
        run.task.add_done_callback(lambda _: self._ended(run))
        self.app.notify()
        return run

    def _ended(self, run: JobRun) -> None:
        if run in self.runs:
            self.runs.remove(run)
        if not run.task.cancelled() and (exc := run.task.exception()) is not None:
            run.outcome, run.error = "Failed", f"run {run.number} failed in the runtime: {exc!r}"
            self.app.events.add("RuntimeError", run.error, warning=True)
        if run.outcome is not None:
            self.last = run
        self.app.notify()

    async def fire(self) -> JobRun | None:
        """A scheduled start, following the concurrency policy."""
        policy = self.definition.concurrency
        if self.runs and policy == "Forbid":
            self.app.events.add("JobAlreadyActive", "skipped a scheduled run: a run is active")
            return None
        if self.runs and policy == "Replace":
            self.app.events.add("Replacing", "stopping the active run for the scheduled one")
            await asyncio.gather(*(run.stop() for run in list(self.runs)))
        return self._start_run()

    def _next_fire(self, now: float) -> float | None:
        schedule, zone = self.definition.schedule, self.definition.time_zone
        assert schedule is not None
        if zone is not None:
            found = schedule.next_after(datetime.fromtimestamp(now, zone).replace(tzinfo=None))
            return None if found is None else found.replace(tzinfo=zone).timestamp()
        found = schedule.next_after(datetime.fromtimestamp(now))
        return None if found is None else max(found.timestamp(), now + 0.001)

    async def _schedule(self) -> None:
        clock = self.app.settings.clock
        while True:
            self.next_at = self._next_fire(clock())
            if self.next_at is None:
                schedule = self.definition.schedule
                expression = schedule.expression if schedule else ""
                self.app.events.add(
                    "NeverScheduled",
                    f"schedule {expression!r} matches no time in the next five years",
                    warning=True,
                )
                return
            while (now := clock()) < self.next_at:
                await asyncio.sleep(min(self.next_at - now, _TICK_S))
            await self.fire()

    # reports

    def status(self) -> WorkloadStatus:
        definition = self.definition
        active = len(self.runs)
        live = sum(1 for run in self.runs if run.pid is not None)
        problem = definition.problem
        if problem is not None:
            return WorkloadStatus(
                problem.phase,
                error=problem.message,
                conditions=[
                    Condition(
                        type="Ready", status="False", reason=problem.reason, message=problem.message
                    )
                ],
            )
        if self.cron and definition.suspend:
            return WorkloadStatus(
                "Suspended",
                live,
                active,
                conditions=[Condition(type="Suspended", status="True", reason="Suspended")],
            )
        conditions: list[Condition] = []
        if self.next_at is not None:
            at = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(self.next_at))
            conditions.append(
                Condition(
                    type="Scheduled", status="True", reason="Scheduled", message=f"next run {at}"
                )
            )
        if active:
            return WorkloadStatus("Running", live, active, conditions=conditions)
        if self.last is not None and self.last.outcome is not None:
            outcome = self.last.outcome
            conditions.append(
                Condition(
                    type="Complete" if outcome == "Succeeded" else "Failed",
                    status="True",
                    reason=outcome,
                    message=f"run {self.last.number} {outcome.lower()}",
                )
            )
            return WorkloadStatus(outcome, conditions=conditions, error=self.last.error)
        return WorkloadStatus("Pending", conditions=conditions)

    def log_indices(self) -> list[int]:
        found = {int(p.stem) for p in self.app.directory.glob("*.log") if p.stem.isdigit()}
        return sorted(found | {run.slot for run in self.runs}) or [0]

    def pids(self) -> list[int]:
        return [pid for run in self.runs if (pid := run.pid) is not None]
