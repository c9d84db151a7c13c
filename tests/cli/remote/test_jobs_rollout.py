"""``ironplane jobs`` and ``ironplane rollout`` against a fake control plane."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli
from tests.sdk import samples as s

JOB_APP = {**s.APP, "name": "nightly-eval", "kind": "Job", "workspace": "team-a"}
RUN: dict[str, Any] = {
    "name": "nightly-eval-0a1b2c3d",
    "workspace": "team-a",
    "job": "nightly-eval",
    "phase": "Pending",
    "started_by": "user:alice",
    "params": {"dataset": "gsm8k", "expr": "a=b"},
    "scheduled": False,
    "created_at": s.AT,
    "started_at": None,
    "finished_at": None,
    "duration_s": None,
    "message": None,
}


def test_jobs_run_sends_params_and_prints_the_run(server: FakeServer) -> None:
    server.on("POST", "/workspaces/team-a/jobs/nightly-eval/runs", RUN, status=201)
    code, out, err = run_cli(
        ["jobs", "run", "team-a/nightly-eval", "-p", "dataset=gsm8k", "-p", "expr=a=b"]
    )
    assert code == 0, err
    assert out.strip() == "started run team-a/nightly-eval-0a1b2c3d"
    body = server.body("POST", "/workspaces/team-a/jobs/nightly-eval/runs")
    assert body == {"params": {"dataset": "gsm8k", "expr": "a=b"}}


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["-p", "dataset"], "write it as NAME=VALUE"), (["-p", "a=1", "-p", "a=2"], "given twice")],
)
def test_jobs_run_refuses_malformed_params_before_calling(
    server: FakeServer, flags: list[str], message: str
) -> None:
    code, _, err = run_cli(["jobs", "run", "team-a/nightly-eval", *flags])
    assert code == 2 and message in err
    assert server.requests == []


def test_jobs_run_shows_the_servers_refusal(server: FakeServer) -> None:
    problem = s.error("invalid", "job 'nightly-eval': unknown param 'shot' (did you mean 'shots'?)")
    server.on("POST", "/workspaces/team-a/jobs/nightly-eval/runs", problem, status=400)
    code, _, err = run_cli(["jobs", "run", "team-a/nightly-eval", "-p", "shot=1"])
    assert code == 2 and "did you mean 'shots'?" in err


def test_jobs_run_wait_follows_the_run_to_its_end(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    phases = iter(["Running", "Running", "Failed"])

    def current(_: httpx.Request) -> dict[str, Any]:
        phase = next(phases)
        return {**RUN, "phase": phase, "message": "exit code 3" if phase == "Failed" else None}

    monkeypatch.setattr("time.sleep", lambda _: None)
    server.on("POST", "/workspaces/team-a/jobs/nightly-eval/runs", RUN, status=201)
    server.on("GET", "/workspaces/team-a/runs/nightly-eval-0a1b2c3d", current)
    code, out, err = run_cli(["jobs", "run", "team-a/nightly-eval", "--wait"])
    assert code == 1
    assert "nightly-eval-0a1b2c3d: Running" in err and "Failed: exit code 3" in err
    assert err.count(": Running") == 1, "each phase change is printed once"
    assert out.strip().endswith(": Failed")


def test_jobs_runs_lists_phase_duration_and_who(server: FakeServer) -> None:
    server.on("GET", "/apps", [JOB_APP])
    finished = {**RUN, "phase": "Succeeded", "duration_s": 3725.4, "started_at": s.AT}
    scheduled = {**RUN, "name": "nightly-eval-cron", "started_by": "schedule", "params": {}}
    scheduled |= {"phase": "Running", "duration_s": 42.0}
    server.on("GET", "/workspaces/team-a/jobs/nightly-eval/runs", [scheduled, finished])
    code, out, err = run_cli(["jobs", "runs", "nightly-eval"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "PHASE", "STARTED", "DURATION", "BY", "PARAMS", "MESSAGE"]
    assert lines[1].split()[:2] == ["nightly-eval-cron", "Running"]
    assert "42s" in lines[1] and "schedule" in lines[1]
    assert "1h02m" in lines[2] and "dataset=gsm8k, expr=a=b" in lines[2]


def test_jobs_logs_and_stop_find_the_run_through_its_job(server: FakeServer) -> None:
    server.on("GET", "/apps", [JOB_APP, {**s.APP, "name": "nightly", "kind": "Service"}])
    server.on(
        "GET",
        "/workspaces/team-a/runs/nightly-eval-0a1b2c3d/logs",
        {"workspace": "team-a", "run": RUN["name"], "lines": ["one", "two"]},
    )
    server.on("POST", "/workspaces/team-a/runs/nightly-eval-0a1b2c3d/stop", RUN)
    code, out, err = run_cli(["jobs", "logs", "nightly-eval-0a1b2c3d", "-n", "2"])
    assert code == 0, err
    assert out.splitlines() == ["one", "two"]
    [request] = server.sent("GET", "/workspaces/team-a/runs/nightly-eval-0a1b2c3d/logs")
    assert request.url.params["lines"] == "2"
    code, out, err = run_cli(["jobs", "stop", "nightly-eval-0a1b2c3d"])
    assert code == 0 and "stopping run team-a/nightly-eval-0a1b2c3d" in out


def test_jobs_logs_for_a_run_no_job_explains(server: FakeServer) -> None:
    server.on("GET", "/apps", [JOB_APP])
    code, _, err = run_cli(["jobs", "logs", "other-123"])
    assert code == 1 and "--workspace" in err


ROLLOUT_STATUS = {
    "phase": "Progressing",
    "ready": 3,
    "desired": 4,
    "version": "h123",
    "updated_at": s.AT,
    "rollout": {
        "strategy": "canary",
        "phase": "Paused",
        "step": 1,
        "steps": 4,
        "canary_weight": 10,
        "stable_weight": 90,
        "paused": True,
        "stable_revision": "5d4f",
        "current_revision": "77aa",
        "analysis": [
            {
                "name": "chat-api-77aa-2",
                "phase": "Running",
                "metrics": [{"name": "error-rate", "phase": "Successful", "value": "[0.002]"}],
            }
        ],
    },
    "scaling": {"min": 1, "max": 8, "current": 4, "desired": 5, "active": True},
}


def test_rollout_status_shows_step_weights_analysis_and_scaling(server: FakeServer) -> None:
    detail = {"app": {**s.APP, "status": ROLLOUT_STATUS}, "versions": []}
    server.on("GET", "/workspaces/team-a/apps/chat-api", detail)
    code, out, err = run_cli(["rollout", "status", "team-a/chat-api"])
    assert code == 0, err
    text = " ".join(out.split())
    assert "step 1/4" in text and "weights canary 10%, stable 90%" in text
    assert "rollout phase Paused (paused)" in text
    assert "analysis chat-api-77aa-2 Running" in text and "error-rate Successful = [0.002]" in text
    assert "autoscaling 4 now, 5 desired (min 1, max 8)" in text
    code, out, _ = run_cli(["rollout", "status", "team-a/chat-api", "-o", "json"])
    assert json.loads(out)["status"]["rollout"]["canary_weight"] == 10


def test_rollout_promote_abort_restart(server: FakeServer) -> None:
    action = {"workspace": "team-a", "app": "chat-api", "action": "promote", "message": "moved on"}
    server.on("POST", "/workspaces/team-a/apps/chat-api/rollout/promote", action)
    server.on("POST", "/workspaces/team-a/apps/chat-api/rollout/abort", {**action, "message": "x"})
    server.on("POST", "/workspaces/team-a/apps/chat-api/restart", {"restarted": "team-a/chat-api"})
    code, out, err = run_cli(["rollout", "promote", "team-a/chat-api", "--full"])
    assert code == 0 and out.strip() == "team-a/chat-api: moved on", err
    assert server.body("POST", "/workspaces/team-a/apps/chat-api/rollout/promote") == {"full": True}
    code, out, _ = run_cli(["rollout", "abort", "team-a/chat-api"])
    assert code == 0 and out.strip() == "team-a/chat-api: x"
    code, out, _ = run_cli(["rollout", "restart", "team-a/chat-api"])
    assert code == 0 and out.strip() == "restarted team-a/chat-api"


def test_describe_app_shows_the_reported_status_with_the_rollout(server: FakeServer) -> None:
    detail = {"app": {**s.APP, "status": ROLLOUT_STATUS}, "versions": []}
    server.on("GET", "/workspaces/team-a/apps/chat-api", detail)
    code, out, err = run_cli(["describe", "app", "team-a/chat-api"])
    assert code == 0, err
    status = out.split("Status (as the cluster's agent reports it):", 1)[1]
    assert "replicas" in status and "3/4 ready" in status and "step" in status
