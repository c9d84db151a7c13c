"""What the control plane makes of the runs an agent reports: new rows for scheduled runs,
runs it no longer reports marked Unknown, old finished runs trimmed, other workspaces ignored."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ironplane.server.db.tables import ClusterRow, JobRunRow
from ironplane.server.db.types import utcnow
from ironplane.server.services import runs as svc
from ironplane.wire.agent_protocol import RunStatus
from tests.server.conftest import Server

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: rcl\n---\nkind: Workspace\nname: ws-r\ncluster: rcl\n---\n"
    "kind: Job\nname: nightly\nworkspace: ws-r\nimage: x/y:1\ncommand: [a]\n"
)


async def _cluster(server: Server) -> int:
    r = await server.admin.post(
        "/apply", json={"documents": [{"source": "p.yaml", "content": PLATFORM}]}
    )
    assert r.status_code == 200, r.text
    async with server.app.state.services.db.session() as s:
        cluster = await s.scalar(select(ClusterRow).where(ClusterRow.name == "rcl"))
        assert cluster is not None
        return cluster.id


def run(name: str, phase: str = "Running", **extra: object) -> RunStatus:
    return RunStatus(id=name, workspace="ws-r", job="nightly", phase=phase, **extra)  # type: ignore[arg-type]


async def _rows(server: Server) -> dict[str, JobRunRow]:
    async with server.app.state.services.db.session() as s:
        return {r.name: r for r in await s.scalars(select(JobRunRow))}


async def test_reported_runs_are_recorded_and_lost_ones_marked(server: Server) -> None:
    cluster = await _cluster(server)
    db = server.app.state.services.db
    started = time.time() - 30
    async with db.session() as s:
        await svc.record_reported(
            s,
            cluster,
            {"ws-r"},
            [
                run("nightly-1", scheduled=True, started_at=started),
                run("nightly-2"),
                RunStatus(id="other-1", workspace="elsewhere", job="nightly", phase="Running"),
            ],
        )
    rows = await _rows(server)
    assert set(rows) == {"nightly-1", "nightly-2"}, "another cluster's workspace is ignored"
    assert rows["nightly-1"].started_by == "schedule" and rows["nightly-1"].scheduled
    assert rows["nightly-2"].started_by == "outside ironplane"

    # nightly-2 disappears from the reports: after the grace period it is Unknown.
    async with db.session() as s:
        await svc.record_reported(s, cluster, {"ws-r"}, [run("nightly-1")])
    assert (await _rows(server))["nightly-2"].phase == "Running", "within the grace period"
    async with db.session() as s:
        await s.execute(update(JobRunRow).values(updated_at=utcnow() - timedelta(minutes=5)))
    async with db.session() as s:
        await svc.record_reported(s, cluster, {"ws-r"}, [run("nightly-1")])
    rows = await _rows(server)
    assert rows["nightly-2"].phase == "Unknown" and "no longer reports" in (
        rows["nightly-2"].message or ""
    )
    assert rows["nightly-1"].phase == "Running"


async def test_each_job_keeps_its_newest_finished_runs(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = await _cluster(server)
    monkeypatch.setattr(svc, "KEEP_PER_JOB", 3)
    db = server.app.state.services.db
    now = time.time()
    for i in range(6):
        async with db.session() as s:
            finished = run(f"nightly-{i}", "Succeeded", started_at=now + i, finished_at=now + i)
            await svc.record_reported(s, cluster, {"ws-r"}, [finished, run("nightly-live")])
    rows = await _rows(server)
    assert sorted(rows) == ["nightly-3", "nightly-4", "nightly-5", "nightly-live"]
