"""A cluster without an operator's CRDs: the informers for its kinds idle (saying so once) and
look again at every resync; the rest of the agent works as before."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from ironplane.agent.kube import KubeRuntime
from tests.agent.kube import crd_objects as c
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster, eventually
from tests.agent.kube.fakeapi import FakeKube

pytestmark = pytest.mark.anyio

RESYNC_S = 0.1


@pytest.fixture
def fake(cluster: Cluster) -> FakeKube:
    fake = cluster.need_fake()
    fake.unserve("argoproj.io")  # neither Argo Rollouts nor Argo Workflows (group unknown)
    fake.unserve("keda.sh", "scaledobjects")  # KEDA's group served, this resource not
    return fake


@pytest.fixture
async def quick(
    cluster: Cluster, fake: FakeKube, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[KubeRuntime]:
    """A runtime that lists again every RESYNC_S (to see a CRD arrive without waiting)."""
    caplog.set_level(logging.INFO, logger="ironplane.agent.kube.watching")
    runtime = KubeRuntime(cluster.client(), resync_s=RESYNC_S, start_timeout_s=5.0)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


def not_found(fake: FakeKube, plural: str) -> int:
    return sum(1 for call in fake.calls if call.plural == plural and call.code == 404)


async def test_kinds_not_served_idle_quietly_and_are_picked_up_once_installed(
    cluster: Cluster, fake: FakeKube, quick: KubeRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    ws = cluster.namespace()
    # Every informer counts as synced at once: start() did not wait for the missing kinds.
    assert all(i.synced.is_set() for i in quick._all_informers())
    assert not quick.informers["Rollout"].served
    await quick.converge([o.namespace(ws), o.deployment(ws, "web")])
    assert [s.app for s in await quick.statuses() if s.workspace == ws] == [ws, "web"]
    assert await quick.runs() == []

    # Several resyncs later: still one line per missing kind, and no warnings.
    await eventually(lambda: not_found(fake, "workflows") >= 4, what="retries")
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    said = [r.getMessage() for r in records if "not served" in r.getMessage()]
    assert sorted(line.split(" ")[0] for line in said) == sorted(
        [
            "rollouts",
            "analysisruns",
            "workflowtemplates",
            "cronworkflows",
            "workflows",
            "scaledobjects",
        ]
    )
    assert not [r for r in records if r.levelno >= logging.WARNING]

    # Argo Workflows gets installed: its objects show up at the next resync.
    fake.reinstate("argoproj.io")
    fake.put(c.workflow(ws, "train", "train-1", phase="Running"))

    async def running() -> list[str]:
        return [r.id for r in await quick.runs() if r.phase == "Running"]

    assert await eventually(running) == ["train-1"]
    assert quick.run_informers["Workflow"].served
    assert any(
        "workflows (argoproj.io/v1alpha1) is served now" in r.getMessage() for r in caplog.records
    )


async def test_a_crd_removed_takes_its_objects_out_of_the_reports(
    cluster: Cluster, fake: FakeKube, quick: KubeRuntime
) -> None:
    fake.reinstate("argoproj.io")
    ws = cluster.namespace()
    await quick.converge([o.namespace(ws)])
    fake.put(c.workflow(ws, "train", "train-1", phase="Running"))
    await eventually(quick.runs)

    fake.unserve("argoproj.io", "workflows")  # the CRD is deleted
    fake.disconnect_watches()

    async def gone() -> bool:
        return await quick.runs() == []

    await eventually(gone)
    assert not quick.run_informers["Workflow"].served
