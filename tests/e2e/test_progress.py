"""What `apply` waits on, end to end: an agent's status (weights progress included) and acks
reach `GET /workspaces/{ws}/progress` and `GET /apps`, and the CLI shows them while it waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ironplane.wire.agent_protocol import AppStatus, Object
from ironplane.wire.pull_progress import WeightsProgress
from tests.conftest import run_cli
from tests.e2e.conftest import Api, RecordingRuntime, connected, eventually
from tests.e2e.test_agent_protocol import running_agent
from tests.sdk.live import Live

pytestmark = pytest.mark.anyio

GIB = 1024**3
PLATFORM = "kind: Cluster\nname: edge-wt\n---\nkind: Workspace\nname: pulls\ncluster: edge-wt\n"
SERVICE = "kind: Service\nname: llm\nworkspace: pulls\nimage: example.com/llm:{tag}\n"
WEIGHTS = WeightsProgress(done=12 * GIB, total=40 * GIB, rate=850.0 * 1024**2, eta=33.7)


class PullingRuntime(RecordingRuntime):
    """Reports each app's version label; Progressing with a weights download for
    ``pull_s`` seconds after each converge, then Running."""

    def __init__(self, pull_s: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.pull_s = pull_s
        self.converged_at = 0.0

    async def converge(self, objects: Sequence[Object]) -> None:
        await super().converge(objects)
        self.converged_at = time.monotonic()

    async def statuses(self) -> list[AppStatus]:
        # The agent asks every 0.2 s (``running_agent``), so the end of a pull gets reported.
        pulling = time.monotonic() - self.converged_at < self.pull_s
        out = []
        for o in self.objects:
            labels = o["metadata"].get("labels", {})
            if o["kind"] != "Deployment":
                continue
            out.append(
                AppStatus(
                    workspace=labels["ironplane.dev/workspace"],
                    app=labels["ironplane.dev/app"],
                    kind="service",
                    phase="Progressing" if pulling else "Running",
                    ready=0 if pulling else 1,
                    desired=1,
                    version=labels.get("ironplane.dev/version"),
                    weights=WEIGHTS if pulling else None,
                )
            )
        return out


async def test_progress_carries_revisions_version_labels_and_weights(
    live: Live,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    first = await api.apply(PLATFORM + "---\n" + SERVICE.format(tag=1))
    token = first["changes"][0]["agent_token"]["secret"]
    runtime = PullingRuntime(pull_s=60.0)
    async with running_agent(live, token, runtime):

        async def progress() -> dict[str, Any] | None:
            r = await api.client.get("/workspaces/pulls/progress", params={"apps": "llm"})
            assert r.status_code == 200, r.text
            body = dict(r.json())
            status = body["apps"][0]["status"]
            return body if status and status.get("weights") else None

        await eventually(progress, what="the weights reach the control plane")
        body = await progress()
        assert body is not None
        assert (body["cluster"], body["agent_connected"]) == ("edge-wt", True)
        assert body["applied_revision"] == body["revision"] >= 1
        [app] = body["apps"]
        assert (app["name"], app["kind"], app["active_version"]) == ("llm", "Service", 1)
        assert app["cluster_revision"] == body["revision"]
        assert app["version_label"] and app["status"]["version"] == app["version_label"]
        assert app["status"]["weights"] == {
            "done": 12 * GIB,
            "total": 40 * GIB,
            "rate": 850.0 * 1024**2,
            "eta": 33.7,
            "files_done": 0,
            "files_total": 0,
            "pods": 1,
        }
        listed = (await api.client.get("/apps", params={"workspace": "pulls"})).json()
        assert listed[0]["status"]["weights"]["total"] == 40 * GIB
        # Only the apps named (none: only the revisions).
        r = await api.client.get("/workspaces/pulls/progress", params={"apps": ""})
        assert r.json()["apps"] == []

        # The CLI waits, showing the download, until the new version runs.
        runtime.pull_s = 3.0
        monkeypatch.setenv("IRONPLANE_CONFIG", str(tmp_path / "cli.yaml"))
        monkeypatch.setenv("IRONPLANE_URL", live.url)
        monkeypatch.setenv("IRONPLANE_TOKEN", live.admin_token)
        spec = tmp_path / "llm.yaml"
        spec.write_text(SERVICE.format(tag=2))
        code, _, err = await asyncio.to_thread(
            run_cli, ["apply", "-f", str(spec), "--timeout", "30s"]
        )
        assert code == 0, err
        lines = [line for line in err.splitlines() if line.startswith("Service pulls/llm: ")]
        assert any(
            "Progressing 0/1" in line and "weights 12.0/40.0 GiB · 850.0 MiB/s · eta 34 s" in line
            for line in lines
        ), err
        assert lines[-1].startswith("Service pulls/llm: Running 1/1 · revision ")
        assert lines[-1].endswith(" applied · ready")


async def test_a_revision_the_agent_fails_fails_the_apply(
    live: Live, api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = await api.apply(
        PLATFORM.replace("edge-wt", "edge-bad").replace(" pulls", " bad") + "\n"
    )
    token = first["changes"][0]["agent_token"]["secret"]

    def refuse(objects: Sequence[Object]) -> str | None:
        images = [
            c["image"]
            for o in objects
            if o["kind"] == "Deployment"
            for c in o["spec"]["template"]["spec"]["containers"]
        ]
        return "Deployment bad/llm: admission webhook denied it" if images else None

    async with running_agent(live, token, PullingRuntime(pull_s=0.0, fail=refuse)):
        monkeypatch.setenv("IRONPLANE_CONFIG", str(tmp_path / "cli.yaml"))
        monkeypatch.setenv("IRONPLANE_URL", live.url)
        monkeypatch.setenv("IRONPLANE_TOKEN", live.admin_token)
        await eventually(lambda: connected(api, "edge-bad"), what="the agent of edge-bad connects")
        spec = tmp_path / "llm.yaml"
        spec.write_text(SERVICE.format(tag=1).replace("workspace: pulls", "workspace: bad"))
        code, _, err = await asyncio.to_thread(
            run_cli, ["apply", "-f", str(spec), "--timeout", "1m"]
        )
        assert code == 3, err
        assert "failed: Service bad/llm: the agent failed to apply revision " in err
        assert "admission webhook denied it" in err
