"""Jobs and CronJobs run locally.

A *run* is one execution of a Job template: its first container is started; a failed attempt is
retried after the runtime's backoff delays until ``backoffLimit`` retries are spent, and
``activeDeadlineSeconds`` bounds the whole run (the process is then stopped and the run fails).
A Job runs once (converging the same Job again does not run it again); a CronJob starts runs at
its schedule (minute resolution, in ``spec.timeZone`` when this machine knows it, else local time)
following its ``concurrencyPolicy``: ``Allow`` runs side by side, ``Forbid`` skips a start while
a scheduled run is active, ``Replace`` stops the active scheduled run first (as the Kubernetes
CronJob controller counts only the Jobs it started, manual runs do not count). Each concurrent
run writes its own log slot (``<slot>.log``, the lowest free slot: the app's log) and its own
run log (``runs``).

A manual run (``run_now``, for ``jobs run``) starts at once from a CronJob, suspended or not and
without touching its schedule, with its command resolved from the run-template annotations:
given params, else defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from ironplane.agent.local.logs import Tee
from ironplane.agent.local.model import WorkloadDef, launch_spec
from ironplane.agent.local.process import Child, describe_exit
from ironplane.agent.local.runs import Outcome, RunRecord, check_run_name
from ironplane.agent.local.state import AppContext, WorkloadStatus
from ironplane.core.errors import ConflictError, InvalidError, UnsupportedError
from ironplane.wire.agent_protocol import Condition, Phase
from ironplane.wire.jobs import check_params, resolve

_TICK_S = 1.0
"""The scheduler re-reads the clock at least this often (clock jumps, sleeps)."""


class JobRun:
    """One run: attempts of the template's first container until one succeeds, the retries are
    spent, the deadline passes or it is stopped. ``argv`` replaces the container's command for
    a manual run with params; ``ended`` is called from the run's own task once it ended, so
    whoever awaited ``stop`` or the task sees the run's end in full."""

    def __init__(
        self,
        record: RunRecord,
        slot: int,
        definition: WorkloadDef,
        app: AppContext,
        argv: tuple[str, ...] | None = None,
        ended: Callable[[JobRun], None] | None = None,
    ) -> None:
        self.record = record
        self.slot = slot
        self.definition = definition
        self.app = app
        self.argv = argv
        self._ended = ended
        self.outcome: Outcome | None = None
        self.message: str | None = None
        self.error: str | None = None
        self.child: Child | None = None
        self._stopping = False
        self._stop_why = "stopped"
        self._wake = asyncio.Event()
        self.task = asyncio.create_task(self._main(), name=f"{app.app}-run-{record.id}")

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.running else None

    async def stop(self, why: str = "stopped") -> None:
        """End the run as Stopped (``why`` says by what); a run that already ended stays as is."""
        if not self._stopping:
            self._stop_why = why
        self._stopping = True
        self._wake.set()
        if self.child is not None:
            container = self.definition.container
            await self.child.terminate(container.grace_s if container else 10.0)
        await self.task

    def _finish(self, outcome: Outcome, reason: str, message: str) -> None:
        self.outcome, self.message = outcome, message
        self.error = message if outcome == "Failed" else None
        self.app.events.add(reason, message, warning=outcome == "Failed")

    def _stopped(self, detail: str) -> None:
        self._finish("Stopped", "Stopped", f"run {self.id} {self._stop_why}: {detail}")

    async def _main(self) -> None:
        try:
            await self._run()
        except Exception as exc:  # a bug here must end the run, not leave it active forever
            self._finish("Failed", "RuntimeError", f"run {self.id} failed in the runtime: {exc!r}")
        finally:
            if self.outcome is None:  # cancelled
                self._stopped("cancelled")
            assert self.outcome is not None
            self.record.finish(self.outcome, self.message, self.app.settings.clock())
            self.app.runs.prune()
            if self._ended is not None:
                self._ended(self)
            self.app.notify()

    async def _run(self) -> None:
        definition, events = self.definition, self.app.events
        container = definition.container
        assert container is not None
        if self.argv is not None:
            container = dataclasses.replace(container, argv=self.argv)
        port = container.ports[0] if container.ports else None
        launch = launch_spec(container, self.app.directory, port)
        sink = Tee(self.app.sink(self.slot), self.record.sink)
        loop = asyncio.get_running_loop()
        deadline = None if definition.deadline_s is None else loop.time() + definition.deadline_s
        run = f"run {self.id}"
        for attempt in itertools.count(1):
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                self._finish(
                    "Failed",
                    "DeadlineExceeded",
                    f"{run} exceeded activeDeadlineSeconds={definition.deadline_s:g}",
                )
                return
            if self._stopping:
                self._stopped("before its process started")
                return
            try:
                child = await Child.spawn(launch.argv, launch.env, launch.cwd, sink)
            except OSError as exc:
                result = f"cannot start {launch.argv[0]!r}: {exc.strerror}"
            else:
                self.child = child
                if self._stopping:
                    await child.terminate(launch.grace_s)
                    self._stopped("before its process started")
                    return
                self.record.phase = "Running"
                events.add("Started", f"{run} attempt {attempt} started (pid {child.pid})")
                self.app.notify()
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
                    self._stopped(describe_exit(returncode))
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
                self._stopped(f"while waiting to retry after attempt {attempt} {result}")
                return


class JobWorkload:
    """A Job (runs once) or a CronJob (runs at its schedule)."""

    def __init__(self, definition: WorkloadDef, app: AppContext) -> None:
        self.definition = definition
        self.app = app
        self.runs: list[JobRun] = []
        self.last: JobRun | None = None
        self.next_at: float | None = None
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
        why = "stopped with its job (removed, replaced, or the runtime stopped)"
        await asyncio.gather(*(run.stop(why) for run in runs))
        self.app.notify()

    async def restart(self) -> None:
        """Stop the active runs and start a new run now."""
        if self.definition.problem is not None:
            return
        self.app.events.add("Restarting", "stopping active runs and starting a new run")
        await asyncio.gather(*(run.stop("stopped by a restart") for run in list(self.runs)))
        self._start_run()

    # runs

    def _start_run(
        self,
        *,
        name: str | None = None,
        at: float | None = None,
        argv: tuple[str, ...] | None = None,
        scheduled: bool = False,
    ) -> JobRun:
        """Start a run named ``name`` (a manual run), or one the runtime names after the minute
        ``at`` (now when None). ``scheduled``: started by the schedule (not by a run request, a
        restart, or a plain Job being applied)."""
        taken = {run.slot for run in self.runs}
        slot = next(i for i in itertools.count() if i not in taken)
        now = self.app.settings.clock()
        history = self.app.runs
        if name is None:
            name = history.free_name(f"{self.app.app}-{int((now if at is None else at) // 60)}")
        record = history.add(name, scheduled=scheduled, at=now)
        run = JobRun(record, slot, self.definition, self.app, argv, self._ended)
        self.runs.append(run)
        self.app.notify()
        return run

    def _ended(self, run: JobRun) -> None:
        if run in self.runs:
            self.runs.remove(run)
        if run.outcome in ("Succeeded", "Failed"):
            self.last = run
        self.app.notify()

    def run_now(self, run: str, params: Mapping[str, str]) -> JobRun:
        """Start run ``run`` now with ``params`` (see the module docstring). Raises
        ``UnsupportedError`` for a template that cannot run here, ``InvalidError`` for a bad
        run name, params or template, ``ConflictError`` for a name the job's runs already have;
        nothing is started then."""
        definition = self.definition
        where = f"job {self.app.app!r} in workspace {self.app.workspace!r}"
        problem = definition.problem
        if problem is not None and problem.phase == "NotRunnable":
            raise UnsupportedError(f"{where} cannot run locally: {problem.message}")
        if problem is not None:
            raise InvalidError(f"{where} cannot run: {problem.message}; fix it and apply again")
        container = definition.container
        assert container is not None
        check_run_name(run)
        if run in self.app.runs:
            raise ConflictError(
                f"{where} already has a run named {run!r}; give the new run another name"
            )
        template = definition.template
        check_params(template.params, params, job=self.app.app)
        if template.command is not None:
            words = [*template.command, *(template.args or ())]
            argv = tuple(resolve(words, template.params, params))
        elif template.params:
            argv = tuple(resolve(container.argv, template.params, params))
        else:
            argv = container.argv
        self.app.events.add("RunRequested", f"run {run} requested")
        return self._start_run(name=run, argv=argv)

    def active(self, run: str) -> JobRun | None:
        return next((r for r in self.runs if r.id == run), None)

    async def fire(self, at: float | None = None) -> JobRun | None:
        """A scheduled start (for the minute ``at``), following the concurrency policy."""
        policy = self.definition.concurrency
        scheduled = [run for run in self.runs if run.record.scheduled]
        if scheduled and policy == "Forbid":
            self.app.events.add(
                "JobAlreadyActive", "skipped a scheduled run: a scheduled run is active"
            )
            return None
        if scheduled and policy == "Replace":
            self.app.events.add("Replacing", "stopping the active run for the scheduled one")
            why = "stopped for the next scheduled run (concurrencyPolicy Replace)"
            await asyncio.gather(*(run.stop(why) for run in scheduled))
        return self._start_run(at=at, scheduled=True)

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
            await self.fire(self.next_at)

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
            # A suspended CronJob's schedule is off; a manual run of it still runs.
            return WorkloadStatus(
                "Running" if active else "Suspended",
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
        if self.last is not None and self.last.outcome in ("Succeeded", "Failed"):
            outcome: Phase = "Succeeded" if self.last.outcome == "Succeeded" else "Failed"
            conditions.append(
                Condition(
                    type="Complete" if outcome == "Succeeded" else "Failed",
                    status="True",
                    reason=outcome,
                    message=f"run {self.last.id} {outcome.lower()}",
                )
            )
            return WorkloadStatus(outcome, conditions=conditions, error=self.last.error)
        return WorkloadStatus("Pending", conditions=conditions)

    def log_indices(self) -> list[int]:
        found = {int(p.stem) for p in self.app.directory.glob("*.log") if p.stem.isdigit()}
        return sorted(found | {run.slot for run in self.runs}) or [0]

    def pids(self) -> list[int]:
        return [pid for run in self.runs if (pid := run.pid) is not None]
