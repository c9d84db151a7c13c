"""The local runtime: compiled workloads run as processes on this machine, no Kubernetes.

Objects are kept in memory only. Owned Deployments, Jobs and CronJobs run (see ``model``,
``deployments``, ``jobs``); Namespaces, Services, Secrets and the like are kept without a
process; any other owned kind (an Argo Rollout, a KEDA ScaledObject, a training operator's job…)
is reported NotRunnable with the reason (``kinds``). Objects without the ownership labels are
kept and not reported. Each app (workspace + app label) has a directory
``root/<workspace>/<app>/``: the processes' working directory and their logs (``<index>.log``;
job runs also ``runs/<run>.log``).

Job runs (``runs``): a CronJob is a run template; ``run_job`` starts a run now, ``runs`` reports
the active and the last ``runs_kept`` finished runs of each job (in memory only), ``stop_run``
and ``run_logs`` act on one run. Rollout steps (``promote``/``abort``) are not run locally.

A process is the pod's first container's ``command + args``; a container without ``command`` is
NotRunnable (the local runtime runs commands, not images). Replica 0 gets ``PORT`` = the first
declared container port, other replicas a free port: a command that serves more than one
replica must listen on ``$(PORT)``. Not done locally: images, init containers and sidecars,
liveness and startup probes, volumes and mounts, resource limits, security contexts.
"""

from __future__ import annotations

import asyncio
import platform
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ironplane.agent.local.deployments import DeploymentWorkload
from ironplane.agent.local.jobs import JobWorkload
from ironplane.agent.local.logs import merge
from ironplane.agent.local.model import WorkloadDef, labels, owner, workload_defs
from ironplane.agent.local.runs import RunRecord
from ironplane.agent.local.state import AppContext, Settings, Workload, WorkloadStatus
from ironplane.agent.local.unrunnable import UnrunnableWorkload
from ironplane.agent.runtime import KIND, VERSION, RuntimeError_

if TYPE_CHECKING:
    from ironplane.agent.runtime import Runtime
from ironplane.core.errors import NotFoundError, UnsupportedError
from ironplane.wire.agent_protocol import (
    AppStatus,
    Condition,
    NodeInfo,
    Object,
    Phase,
    RunStatus,
)
from ironplane.wire.manifests import identity

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# When an app has several workloads, the phase reported is the first of these that any has.
_PHASE_ORDER: tuple[Phase, ...] = (
    "Failed",
    "NotRunnable",
    "Degraded",
    "Progressing",
    "Pending",
    "Running",
    "Suspended",
    "Succeeded",
    "Unknown",
)


async def count_gpus() -> int:
    """GPUs listed by ``nvidia-smi -L``; 0 when it is missing, fails or hangs."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        process = await asyncio.create_subprocess_exec(
            "nvidia-smi",
            "-L",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return 0
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()
        return 0
    if process.returncode != 0:
        return 0
    return sum(1 for line in out.decode(errors="replace").splitlines() if line.startswith("GPU "))


class LocalRuntime:
    """Runs the desired state's workloads as local processes (see the module docstring)."""

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        restart_backoff: Sequence[float] = (1, 2, 5, 10, 30),
        probe_interval_s: float = 2.0,
        log_max_bytes: int = 10 * 1024 * 1024,
        log_backups: int = 3,
        clock: Callable[[], float] = time.time,
        backoff_reset_s: float = 60.0,
        ready_without_probe_s: float = 1.0,
        runs_kept: int = 20,
    ) -> None:
        """``restart_backoff``: delays before restarting a crashed replica or retrying a failed
        Job attempt (capped at the last); ``probe_interval_s``: the readiness probe period when
        the probe sets none, and the most a not-yet-ready replica waits between probes;
        ``clock``: wall-clock time for events and cron schedules; ``backoff_reset_s``: a
        process up this long starts its backoff afresh; ``ready_without_probe_s``: a replica
        without a readiness probe is ready once running this long; ``runs_kept``: finished
        runs remembered per job, with their logs."""
        if not restart_backoff or any(delay < 0 for delay in restart_backoff):
            raise ValueError("restart_backoff needs at least one delay, none negative")
        if runs_kept < 0:
            raise ValueError("runs_kept cannot be negative")
        self.root = Path(root)
        self.changed = asyncio.Event()
        self.settings = Settings(
            backoff=tuple(float(d) for d in restart_backoff),
            probe_interval_s=probe_interval_s,
            backoff_reset_s=backoff_reset_s,
            ready_without_probe_s=ready_without_probe_s,
            log_max_bytes=log_max_bytes,
            log_backups=log_backups,
            clock=clock,
            runs_kept=runs_kept,
        )
        self._objects: dict[str, Object] = {}
        self._workloads: dict[str, Workload] = {}
        self._apps: dict[tuple[str, str], AppContext] = {}
        self._lock = asyncio.Lock()
        self._started = False
        self._gpus: int | None = None

    def _notify(self) -> None:
        self.changed.set()

    # lifecycle

    async def start(self) -> None:
        if self._started:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RuntimeError_(f"cannot create the local runtime root {self.root}: {exc}") from exc
        self._started = True
        self._notify()

    async def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after the grace period) and forget all."""
        async with self._lock:
            workloads = list(self._workloads.values())
            self._workloads.clear()
            await asyncio.gather(*(w.stop() for w in workloads))
            for app in self._apps.values():
                app.close()
            self._apps.clear()
            self._objects.clear()
            self._started = False
            self._notify()

    # desired state

    def _app(self, definition: WorkloadDef) -> AppContext:
        key = (definition.workspace, definition.app)
        if key not in self._apps:
            directory = self.root / definition.workspace / definition.app
            self._apps[key] = AppContext(*key, directory, self.settings, self._notify)
        return self._apps[key]

    def _make(self, definition: WorkloadDef) -> Workload:
        app = self._app(definition)
        if definition.api_kind == "Deployment":
            return DeploymentWorkload(definition, app)
        if definition.api_kind == "Other":
            return UnrunnableWorkload(definition, app)
        return JobWorkload(definition, app)

    async def converge(self, objects: Sequence[Object]) -> None:
        await self.start()
        desired: dict[str, Object] = {}
        for obj in objects:
            try:
                desired[identity(obj)] = obj
            except (AttributeError, TypeError) as exc:
                raise RuntimeError_(f"not a Kubernetes object: {str(obj)[:200]}") from exc
        async with self._lock:
            definitions = workload_defs(desired.values())
            failures: list[str] = []
            keep: dict[str, Workload] = {}
            replace: dict[str, WorkloadDef] = {}
            for ident, workload in self._workloads.items():
                definition = definitions.get(ident)
                if definition is None:
                    continue
                try:
                    if await workload.update(definition):
                        keep[ident] = workload
                    else:
                        replace[ident] = definition
                except OSError as exc:
                    keep[ident] = workload
                    failures.append(f"{ident}: {exc}")
            leaving = [w for ident, w in self._workloads.items() if ident not in keep]
            for ident, definition in replace.items():
                old = self._workloads[ident].definition
                change = (
                    f"version {old.version} → {definition.version}"
                    if old.version != definition.version
                    else "its spec changed"
                )
                self._workloads[ident].app.events.add(
                    "Replacing", f"{definition.api_kind} {definition.name}: {change}; replacing it"
                )
            await asyncio.gather(*(w.stop() for w in leaving))
            self._workloads = keep
            self._objects = desired
            for ident, definition in definitions.items():
                if ident in keep:
                    continue
                try:
                    workload = self._make(definition)
                    self._workloads[ident] = workload
                    await workload.start()
                except OSError as exc:
                    self._workloads.pop(ident, None)
                    failures.append(f"{ident}: {exc}")
            self._forget_apps()
            self._notify()
            if failures:
                raise RuntimeError_("cannot start: " + "; ".join(failures))

    def _forget_apps(self) -> None:
        known = self._groups().keys()
        for key in [key for key in self._apps if key not in known]:
            self._apps.pop(key).close()

    def _groups(self) -> dict[tuple[str, str], list[Object]]:
        groups: dict[tuple[str, str], list[Object]] = {}
        for obj in self._objects.values():
            who = owner(obj)
            if who is not None:
                groups.setdefault(who, []).append(obj)
        return groups

    def _of(self, workspace: str, app: str) -> list[Workload]:
        if (workspace, app) not in self._groups():
            raise NotFoundError(f"app {workspace}/{app} is not in the local runtime")
        return [
            w
            for w in self._workloads.values()
            if (w.definition.workspace, w.definition.app) == (workspace, app)
        ]

    # operations

    async def restart(self, workspace: str, app: str) -> None:
        async with self._lock:
            workloads = self._of(workspace, app)
            await asyncio.gather(*(w.restart() for w in workloads))

    async def logs(self, workspace: str, app: str, lines: int) -> list[str]:
        workloads = self._of(workspace, app)
        context = self._apps.get((workspace, app))
        if context is None or not workloads:
            return []
        indices = sorted({i for w in workloads for i in w.log_indices()})
        return merge([(i, context.sink(i).tail(lines)) for i in indices], lines)

    # rollouts: one version at a time locally

    _NO_ROLLOUTS = (
        "the local runtime runs one version of an app at a time: canary and blue-green steps "
        "are not run locally (apply rolls the new version out at once); to start the app's "
        "processes again, use restart"
    )

    async def promote(self, workspace: str, app: str, *, full: bool) -> str:
        raise UnsupportedError(f"cannot promote {workspace}/{app}: {self._NO_ROLLOUTS}")

    async def abort(self, workspace: str, app: str) -> str:
        raise UnsupportedError(f"cannot abort a rollout of {workspace}/{app}: {self._NO_ROLLOUTS}")

    # job runs

    def _template(self, workspace: str, job: str) -> JobWorkload:
        if (workspace, job) not in self._groups():
            raise NotFoundError(
                f"job {job!r} is not in workspace {workspace!r} of the local runtime: "
                "apply it first, or check the names"
            )
        for workload in self._of(workspace, job):
            if isinstance(workload, JobWorkload) and workload.cron:
                return workload
        raise NotFoundError(
            f"{workspace}/{job} is not a Job: it has no run template (a batch CronJob) in the "
            "local runtime, and only Jobs can be run"
        )

    def _record(self, workspace: str, job: str, run: str) -> RunRecord:
        context = self._apps.get((workspace, job))
        record = None if context is None else context.runs.get(run)
        if record is None:
            raise NotFoundError(
                f"run {run!r} of job {workspace}/{job} is not known to the local runtime (it "
                f"keeps the active runs and the last {self.settings.runs_kept} finished runs "
                "of each job, in memory only)"
            )
        return record

    async def runs(self) -> list[RunStatus]:
        records = [record for context in self._apps.values() for record in context.runs.records()]
        records.sort(key=lambda r: (r.workspace, r.job, r.started_at, r.id))
        return [record.status() for record in records]

    async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
        async with self._lock:
            self._template(workspace, job).run_now(run, params)

    async def stop_run(self, workspace: str, job: str, run: str) -> None:
        async with self._lock:
            record = self._record(workspace, job, run)
            if not record.active:
                return
            for workload in self._of(workspace, job):
                active = workload.active(run) if isinstance(workload, JobWorkload) else None
                if active is not None:
                    await active.stop("stopped on request")

    async def run_logs(self, workspace: str, job: str, run: str, lines: int) -> list[str]:
        return self._record(workspace, job, run).tail(lines)

    def pids(self, workspace: str, app: str) -> list[int]:
        """The process ids running for the app now (diagnostics and tests)."""
        return [pid for w in self._of(workspace, app) for pid in w.pids()]

    # reports

    async def statuses(self) -> list[AppStatus]:
        result: list[AppStatus] = []
        for (workspace, app), objects in sorted(self._groups().items()):
            workloads = [
                w
                for w in self._workloads.values()
                if (w.definition.workspace, w.definition.app) == (workspace, app)
            ]
            first = labels(
                self._objects.get(workloads[0].definition.identity, objects[0])
                if workloads
                else objects[0]
            )
            context = self._apps.get((workspace, app))
            status = self._combine([w.status() for w in workloads], len(objects))
            result.append(
                AppStatus(
                    workspace=workspace,
                    app=app,
                    kind=first.get(KIND, str(objects[0].get("kind", "")).lower()),
                    phase=status.phase,
                    ready=status.ready,
                    desired=status.desired,
                    version=first.get(VERSION),
                    conditions=status.conditions,
                    events=context.events.recent() if context else [],
                    error=status.error,
                )
            )
        return result

    @staticmethod
    def _combine(statuses: list[WorkloadStatus], objects: int) -> WorkloadStatus:
        if not statuses:
            return WorkloadStatus(
                "Running",
                conditions=[
                    Condition(
                        type="Ready",
                        status="True",
                        reason="Applied",
                        message=f"{objects} object(s) kept; nothing to run locally",
                    )
                ],
            )
        if len(statuses) == 1:
            return statuses[0]
        worst = min(statuses, key=lambda s: _PHASE_ORDER.index(s.phase))
        return WorkloadStatus(
            worst.phase,
            ready=sum(s.ready for s in statuses),
            desired=sum(s.desired for s in statuses),
            conditions=[c for s in statuses for c in s.conditions],
            error=next((s.error for s in statuses if s.error), None),
        )

    async def inventory(self) -> list[NodeInfo]:
        if self._gpus is None:
            self._gpus = await count_gpus()
        hostname = socket.gethostname()
        machine = platform.machine().lower()
        return [
            NodeInfo(
                name=hostname,
                labels={
                    "kubernetes.io/hostname": hostname,
                    "kubernetes.io/os": platform.system().lower(),
                    "kubernetes.io/arch": _ARCH.get(machine, machine),
                },
                ready=True,
                allocatable_gpus=self._gpus,
                gpu_resource="nvidia.com/gpu" if self._gpus else None,
            )
        ]


if TYPE_CHECKING:  # LocalRuntime is a Runtime

    def _is_runtime(runtime: LocalRuntime) -> Runtime:
        return runtime
