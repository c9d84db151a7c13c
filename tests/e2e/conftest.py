"""End-to-end: a real control plane on loopback and real agents over real WebSockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from ironplane.agent.agent import Agent
from ironplane.agent.runtime import Runtime
from ironplane.agent.settings import AgentSettings
from ironplane.core.errors import ConflictError, NotFoundError
from ironplane.wire.agent_protocol import AppStatus, NodeInfo, Object, RunStatus
from tests.sdk.live import Live, running_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A control plane for the module. A module that needs other settings has its own."""
    data = tmp_path_factory.mktemp("cp")
    # Heartbeats every 2 s: a peer is dropped after 6 s of silence, which a loaded CI machine
    # (two test workers, gateway processes) must not reach by accident.
    with running_server(data, agent_heartbeat_s=2.0, agent_poll_s=1.0) as server:
        yield server


class Api:
    """The JSON API of ``live`` as its admin."""

    def __init__(self, live: Live) -> None:
        self.client = httpx.AsyncClient(
            base_url=live.url + "/api/v1", headers={"Authorization": f"Bearer {live.admin_token}"}
        )

    async def apply(self, text: str) -> dict[str, Any]:
        r = await self.client.post(
            "/apply", json={"documents": [{"source": "x.yaml", "content": text}]}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def cluster(self, name: str = "edge-one") -> dict[str, Any]:
        r = await self.client.get(f"/clusters/{name}")
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
async def api(live: Live) -> AsyncIterator[Api]:
    api = Api(live)
    yield api
    await api.client.aclose()


async def connected(api: Api, cluster: str) -> bool:
    """Whether the control plane shows the cluster's agent connected."""
    return bool((await api.cluster(cluster))["agent"]["connected"])


@asynccontextmanager
async def running(
    settings: AgentSettings, runtime: Runtime, join_s: float = 10
) -> AsyncIterator[Agent]:
    """An agent running in this event loop; stopped at the end, within ``join_s`` seconds."""
    agent = Agent(settings, runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, join_s)


class RecordingRuntime(Runtime):
    """A runtime that holds objects in memory and records every converge (for protocol tests)."""

    name = "local"

    def __init__(self, *, fail: Callable[[Sequence[Object]], str | None] | None = None) -> None:
        self.changed = asyncio.Event()
        self.objects: list[Object] = []
        self.converges: list[list[Object]] = []
        self.fail = fail
        self.restarts: list[tuple[str, str]] = []
        self.actions: list[tuple[str, str, str, bool]] = []
        """(op, workspace, app, full) of each promote and abort."""
        self.job_runs: dict[str, RunStatus] = {}
        self.run_params: dict[str, dict[str, str]] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def converge(self, objects: Sequence[Object]) -> None:
        problem = self.fail(objects) if self.fail else None
        if problem:
            raise RuntimeError(problem)
        self.objects = list(objects)
        self.converges.append(list(objects))
        self.changed.set()

    def apps(self) -> set[tuple[str, str]]:
        return {
            (
                o["metadata"]["labels"]["ironplane.dev/workspace"],
                o["metadata"]["labels"]["ironplane.dev/app"],
            )
            for o in self.objects
            if "ironplane.dev/app" in o["metadata"].get("labels", {})
        }

    async def statuses(self) -> list[AppStatus]:
        return [
            AppStatus(workspace=ws, app=app, kind="Service", phase="Running", ready=1, desired=1)
            for ws, app in sorted(self.apps())
        ]

    async def inventory(self) -> list[NodeInfo]:
        return [NodeInfo(name="node-1", labels={"oci.oraclecloud.com/rdma.local_block_id": "b1"})]

    async def logs(self, workspace: str, app: str, lines: int) -> list[str]:
        if (workspace, app) not in self.apps():
            raise NotFoundError(f"app {workspace}/{app} is not running here")
        return [f"line {i}" for i in range(lines)]

    async def restart(self, workspace: str, app: str) -> None:
        if (workspace, app) not in self.apps():
            raise NotFoundError(f"app {workspace}/{app} is not running here")
        self.restarts.append((workspace, app))

    async def promote(self, workspace: str, app: str, *, full: bool) -> str:
        if (workspace, app) not in self.apps():
            raise NotFoundError(f"app {workspace}/{app} has no rollout here")
        self.actions.append(("promote", workspace, app, full))
        return "promoted"

    async def abort(self, workspace: str, app: str) -> str:
        if (workspace, app) not in self.apps():
            raise NotFoundError(f"app {workspace}/{app} has no rollout here")
        self.actions.append(("abort", workspace, app, False))
        return "aborted"

    async def runs(self) -> list[RunStatus]:
        return list(self.job_runs.values())

    async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
        if (workspace, job) not in self.apps():
            raise NotFoundError(f"job {workspace}/{job} is not here")
        if run in self.job_runs:
            raise ConflictError(f"run {run} exists")
        self.job_runs[run] = RunStatus(
            id=run, workspace=workspace, job=job, phase="Running", started_at=time.time()
        )
        self.run_params[run] = params
        self.changed.set()

    async def stop_run(self, workspace: str, job: str, run: str) -> None:
        got = self.job_runs.get(run)
        if got is None or got.workspace != workspace or got.job != job:
            raise NotFoundError(f"run {run} is not here")
        got.phase, got.finished_at = "Stopped", time.time()
        self.changed.set()

    async def run_logs(self, workspace: str, job: str, run: str, lines: int) -> list[str]:
        if run not in self.job_runs:
            raise NotFoundError(f"run {run} is not here")
        return [f"{run} line {i}" for i in range(lines)]


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 15.0,
    what: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
