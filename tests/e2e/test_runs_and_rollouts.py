"""Job runs and rollout actions end to end: the API, a real agent over a real WebSocket, and a
recording runtime standing in for the cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ironplane.wire import agent_protocol as proto
from tests.e2e.conftest import Api, RecordingRuntime, eventually
from tests.e2e.test_agent_protocol import running_agent
from tests.sdk.live import Live, running_server

pytestmark = pytest.mark.anyio

PLATFORM = "kind: Cluster\nname: runs-one\n---\nkind: Workspace\nname: batch\ncluster: runs-one\n"
JOB = """\
kind: Job
name: evaluate
workspace: batch
image: example.com/eval:1
command: [python, eval.py, --dataset, "{{dataset}}", --shots, "{{shots}}"]
params:
  - {name: dataset, default: mmlu}
  - {name: shots}
"""
SERVICE = """\
kind: Service
name: {name}
workspace: batch
image: example.com/web:1
ports: [{{port: 8000}}]
rollout: {{strategy: {strategy}}}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(
        tmp_path_factory.mktemp("cp"), agent_heartbeat_s=2.0, agent_command_timeout_s=1.0
    ) as server:
        yield server


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class RolloutRuntime(RecordingRuntime):
    """Reports a canary mid-way for every app whose name starts with ``bg``."""

    async def statuses(self) -> list[proto.AppStatus]:
        out = await super().statuses()
        for status in out:
            if status.app.startswith("bg"):
                status.rollout = proto.RolloutInfo(
                    strategy="blue_green",
                    phase="Paused",
                    paused=True,
                    stable_revision="abc",
                    current_revision="def",
                    analysis=[
                        proto.AnalysisInfo(
                            name="bg-1",
                            phase="Running",
                            metrics=[proto.AnalysisMetric(name="error-rate", phase="Successful")],
                        )
                    ],
                )
                status.scaling = proto.ScalingInfo(min=1, max=4, current=2, desired=3)
        return out


async def _token(api: Api) -> str:
    first = await api.apply(
        PLATFORM
        + "---\n"
        + JOB
        + "---\n"
        + SERVICE.format(name="bg-web", strategy="blue_green")
        + "---\n"
        + SERVICE.format(name="plain", strategy="rolling")
    )
    # The cluster may have been registered by this module's other test (any order): then mint.
    minted = first["changes"][0]["agent_token"]
    if minted is None:
        minted = (await api.client.post("/clusters/runs-one/agent-token")).json()
    return str(minted["secret"])


async def _runs(api: Api) -> list[dict[str, Any]]:
    r = await api.client.get("/workspaces/batch/jobs/evaluate/runs")
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_runs_and_rollout_actions_through_the_agent(live: Live, api: Api) -> None:
    token = await _token(api)
    runtime = RolloutRuntime()
    async with running_agent(live, token, runtime):
        await eventually(lambda: ("batch", "evaluate") in runtime.apps(), what="the job applied")

        # Bad params are refused before anything is recorded or sent.
        for params, expected in (
            ({"shot": "5"}, "unknown param 'shot' (did you mean 'shots'?)"),
            ({}, "-p shots=VALUE"),
        ):
            r = await api.client.post(
                "/workspaces/batch/jobs/evaluate/runs", json={"params": params}
            )
            assert r.status_code == 400, r.text
            assert expected in r.json()["error"]["message"]
        r = await api.client.post("/workspaces/batch/jobs/plain/runs", json={})
        assert r.status_code == 400 and "not a Job" in r.json()["error"]["message"]
        assert await _runs(api) == [] and runtime.job_runs == {}

        r = await api.client.post(
            "/workspaces/batch/jobs/evaluate/runs", json={"params": {"shots": "5"}}
        )
        assert r.status_code == 201, r.text
        run = r.json()
        name = run["name"]
        assert name.startswith("evaluate-") and run["params"] == {"shots": "5"}
        assert run["started_by"] == "user:admin" and run["scheduled"] is False
        assert runtime.run_params == {name: {"shots": "5"}}

        async def phase_is(want: str) -> bool:
            got = await api.client.get(f"/workspaces/batch/runs/{name}")
            return bool(got.json()["phase"] == want)

        await eventually(lambda: phase_is("Running"), what="the agent reports the run")
        r = await api.client.get(f"/workspaces/batch/runs/{name}/logs", params={"lines": 2})
        assert r.json()["lines"] == [f"{name} line 0", f"{name} line 1"]
        r = await api.client.post(f"/workspaces/batch/runs/{name}/stop")
        assert r.status_code == 200, r.text
        await eventually(lambda: phase_is("Stopped"), what="the stop reported")
        stopped = (await api.client.get(f"/workspaces/batch/runs/{name}")).json()
        assert stopped["finished_at"] is not None and stopped["duration_s"] >= 0

        # A run the schedule started shows up too, with who started it.
        runtime.job_runs["evaluate-cron-1"] = proto.RunStatus(
            id="evaluate-cron-1",
            workspace="batch",
            job="evaluate",
            phase="Succeeded",
            started_at=time.time() - 60,
            finished_at=time.time(),
            scheduled=True,
        )
        runtime.changed.set()

        async def two_runs() -> bool:
            return len(await _runs(api)) == 2

        await eventually(two_runs, what="the scheduled run recorded")
        by_name = {r["name"]: r for r in await _runs(api)}
        assert by_name["evaluate-cron-1"]["started_by"] == "schedule"
        assert 59 <= by_name["evaluate-cron-1"]["duration_s"] <= 61
        r = await api.client.get("/workspaces/batch/runs/not-a-run/logs")
        assert r.status_code == 404

        # Rollouts: promote and abort reach the runtime; a rolling app is refused with why.
        r = await api.client.post(
            "/workspaces/batch/apps/bg-web/rollout/promote", json={"full": True}
        )
        assert r.status_code == 200 and r.json()["message"] == "promoted"
        r = await api.client.post("/workspaces/batch/apps/bg-web/rollout/abort")
        assert r.status_code == 200 and r.json()["action"] == "abort"
        assert runtime.actions == [
            ("promote", "batch", "bg-web", True),
            ("abort", "batch", "bg-web", False),
        ]
        r = await api.client.post("/workspaces/batch/apps/plain/rollout/promote", json={})
        assert r.status_code == 400 and "rolling" in r.json()["error"]["message"]

        async def rollout_reported() -> bool:
            got = await api.client.get("/workspaces/batch/apps/bg-web")
            return got.json()["app"]["status"] is not None

        await eventually(rollout_reported, what="the rollout status")
        status = (await api.client.get("/workspaces/batch/apps/bg-web")).json()["app"]["status"]
        assert status["rollout"]["phase"] == "Paused" and status["rollout"]["paused"] is True
        assert status["rollout"]["analysis"][0]["metrics"][0]["name"] == "error-rate"
        assert status["scaling"] == {
            "min": 1,
            "max": 4,
            "current": 2,
            "desired": 3,
            "active": None,
            "paused": False,
            "message": None,
        }

    # Without an agent, a run is refused and leaves no row behind.
    before = len(await _runs(api))
    r = await api.client.post(
        "/workspaces/batch/jobs/evaluate/runs", json={"params": {"shots": "1"}}
    )
    assert r.status_code == 503 and "not connected" in r.json()["error"]["message"]
    assert len(await _runs(api)) == before
    audit = (await api.client.get("/audit")).json()
    actions = [(e["action"], e["outcome"]) for e in audit]
    assert ("job.run", "ok") in actions and ("job.run", "failed") in actions
    assert ("rollout.promote", "ok") in actions and ("job.stop", "ok") in actions


class SilentRuntime(RecordingRuntime):
    """Starts runs but never answers: the answer is lost on the way back."""

    async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
        await super().run_job(workspace, job, run, params)
        await asyncio.sleep(30)


async def test_a_run_the_agent_did_not_confirm_is_kept_with_who_started_it(
    live: Live, api: Api
) -> None:
    token = await _token(api)
    runtime = SilentRuntime()
    async with running_agent(live, token, runtime):
        await eventually(lambda: ("batch", "evaluate") in runtime.apps(), what="the job applied")
        before = {r["name"] for r in await _runs(api)}
        r = await api.client.post(
            "/workspaces/batch/jobs/evaluate/runs", json={"params": {"shots": "9"}}
        )
        assert r.status_code == 503 and "did not answer" in r.json()["error"]["message"]
        [kept] = [r for r in await _runs(api) if r["name"] not in before]
        # The agent did start it: who started it and with what stay on record.
        assert kept["name"] in runtime.job_runs
        assert kept["started_by"] == "user:admin" and kept["params"] == {"shots": "9"}

        async def reported() -> bool:
            rows = {r["name"]: r for r in await _runs(api)}
            return bool(rows[kept["name"]]["phase"] == "Running")

        await eventually(reported, what="the agent's report corrects the phase")
