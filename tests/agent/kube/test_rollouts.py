"""Promote, abort and restart of an app's Argo Rollout: the patches the fake API server receives
must be the ones ``kubectl argo rollouts`` sends (status fields through ``/status``)."""

from __future__ import annotations

from typing import Any

import pytest

from ironplane.agent.kube import KubeApi, KubeRuntime, ResourceType
from ironplane.core.errors import ConflictError, NotFoundError
from tests.agent.kube import crd_objects as c
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster
from tests.agent.kube.fakeapi import Call, FakeKube

pytestmark = pytest.mark.anyio

ROLLOUT = ResourceType.of("argoproj.io/v1alpha1", "Rollout")
Object = dict[str, Any]


@pytest.fixture
def fake(cluster: Cluster) -> FakeKube:
    return cluster.need_fake()


def rollout_writes(fake: FakeKube) -> list[Call]:
    return [
        call
        for call in fake.calls
        if call.plural == "rollouts" and call.verb in ("patch", "patch-status")
    ]


async def deployed(
    cluster: Cluster, runtime: KubeRuntime, fake: FakeKube, rollout: Object, **status: Any
) -> str:
    """Apply the Rollout as the agent does, then write its status as the controller would."""
    ws = rollout["metadata"]["namespace"]
    await runtime.converge([o.namespace(ws), rollout])
    fake.set_status("Rollout", ws, rollout["metadata"]["name"], c.rollout_status(**status))
    return str(ws)


async def test_promote_a_paused_canary_clears_its_pause_through_the_status_subresource(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    pause = [{"reason": "CanaryPauseStep", "startTime": "2025-06-01T10:04:00Z"}]
    await deployed(
        cluster,
        runtime,
        fake,
        c.canary_rollout(ws, "web"),
        phase="Paused",
        step=1,
        pauseConditions=pause,
        controllerPause=True,
    )
    before = await api.get(ROLLOUT, "web", ws)
    assert before is not None

    said = await runtime.promote(ws, "web", full=False)

    assert said == "promoted web: step 2 of 5 done"
    [call] = rollout_writes(fake)
    assert (call.verb, call.namespace, call.name) == ("patch-status", ws, "web")
    assert call.body == {"status": {"pauseConditions": None}}
    after = await api.get(ROLLOUT, "web", ws)
    assert after is not None
    assert "pauseConditions" not in after["status"]
    assert after["status"]["controllerPause"] is True  # the controller's to clear
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


async def test_promote_unpauses_the_spec_after_the_status(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    rollout = c.canary_rollout(ws, "web")
    rollout["spec"]["paused"] = True  # paused by hand (kubectl argo rollouts pause)
    pause = [{"reason": "PausedByUser", "startTime": "2025-06-01T10:04:00Z"}]
    await deployed(cluster, runtime, fake, rollout, phase="Paused", step=3, pauseConditions=pause)

    await runtime.promote(ws, "web", full=False)

    assert [(call.verb, call.body) for call in rollout_writes(fake)] == [
        ("patch-status", {"status": {"pauseConditions": None}}),
        ("patch", {"spec": {"paused": False}}),
    ]
    after = await api.get(ROLLOUT, "web", ws)
    assert after is not None and after["spec"]["paused"] is False


async def test_promote_during_an_analysis_step_skips_the_step(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    await deployed(
        cluster,
        runtime,
        fake,
        c.canary_rollout(ws, "web"),
        phase="Progressing",
        step=2,
        canary={"currentStepAnalysisRunStatus": {"name": "web-1", "status": "Running"}},
    )
    assert await runtime.promote(ws, "web", full=False) == "promoted web: skipped step 3 of 5"
    [call] = rollout_writes(fake)
    assert call.body == {"status": {"pauseConditions": None, "currentStepIndex": 3}}
    after = await api.get(ROLLOUT, "web", ws)
    assert after is not None and after["status"]["currentStepIndex"] == 3


async def test_promote_past_an_inconclusive_analysis_also_clears_the_controller_pause(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await deployed(
        cluster,
        runtime,
        fake,
        c.canary_rollout(ws, "web"),
        phase="Paused",
        step=2,
        pauseConditions=[
            {"reason": "InconclusiveAnalysisRun", "startTime": "2025-06-01T10:06:00Z"}
        ],
        controllerPause=True,
        canary={"currentStepAnalysisRunStatus": {"name": "web-1", "status": "Inconclusive"}},
    )
    await runtime.promote(ws, "web", full=False)
    [call] = rollout_writes(fake)
    assert call.body == {
        "status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": 3}
    }


async def test_full_promote_sets_promote_full(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    await deployed(cluster, runtime, fake, c.canary_rollout(ws, "web"), phase="Paused", step=1)
    said = await runtime.promote(ws, "web", full=True)
    assert said.startswith(f"fully promoting web: revision {c.CANARY} replaces {c.STABLE}")
    [call] = rollout_writes(fake)
    assert (call.verb, call.body) == ("patch-status", {"status": {"promoteFull": True}})
    after = await api.get(ROLLOUT, "web", ws)
    assert after is not None and after["status"]["promoteFull"] is True


async def test_promote_of_a_rollout_that_is_done_changes_nothing(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await deployed(
        cluster,
        runtime,
        fake,
        c.canary_rollout(ws, "web"),
        phase="Healthy",
        step=5,
        current=c.STABLE,
    )
    for full in (False, True):
        said = await runtime.promote(ws, "web", full=full)
        assert said == f"web is fully rolled out (revision {c.STABLE}): nothing to promote"
    assert rollout_writes(fake) == []


async def test_promote_a_blue_green_preview(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await deployed(
        cluster,
        runtime,
        fake,
        c.blue_green_rollout(ws, "chat"),
        phase="Paused",
        pauseConditions=[{"reason": "BlueGreenPause", "startTime": "2025-06-01T10:06:00Z"}],
        controllerPause=True,
        blueGreen={"activeSelector": c.STABLE, "previewSelector": c.CANARY},
    )
    said = await runtime.promote(ws, "chat", full=False)
    assert said == f"promoted chat: the preview revision {c.CANARY} becomes active"
    [call] = rollout_writes(fake)
    assert (call.verb, call.body) == ("patch-status", {"status": {"pauseConditions": None}})


async def test_promote_refuses_an_aborted_rollout(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await deployed(
        cluster, runtime, fake, c.canary_rollout(ws, "web"), phase="Degraded", step=0, abort=True
    )
    with pytest.raises(ConflictError, match="was aborted"):
        await runtime.promote(ws, "web", full=False)
    assert rollout_writes(fake) == []


async def test_abort_sets_status_abort_through_the_subresource(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    await deployed(cluster, runtime, fake, c.canary_rollout(ws, "web"), phase="Paused", step=1)

    said = await runtime.abort(ws, "web")

    assert (
        said == f"aborted the rollout of web: traffic and replicas go back to revision {c.STABLE}"
    )
    [call] = rollout_writes(fake)
    assert (call.verb, call.body) == ("patch-status", {"status": {"abort": True}})
    after = await api.get(ROLLOUT, "web", ws)
    assert after is not None and after["status"]["abort"] is True

    # Aborting again, or a rollout that is done, sends nothing.
    assert await runtime.abort(ws, "web") == "the rollout of web is aborted already"
    fake.set_status("Rollout", ws, "web", c.rollout_status(phase="Healthy", current=c.STABLE))
    assert "nothing to abort" in await runtime.abort(ws, "web")
    assert len(rollout_writes(fake)) == 1


async def test_restart_of_a_rollout_app_sets_restart_at_and_survives_converge(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    desired = [o.namespace(ws), c.canary_rollout(ws, "web")]
    await runtime.converge(desired)

    await runtime.restart(ws, "web")

    [call] = rollout_writes(fake)
    assert call.verb == "patch" and call.query["fieldManager"] == "ironplane-agent-restart"
    stamp = call.body["spec"]["restartAt"]
    assert list(call.body) == ["spec"] and list(call.body["spec"]) == ["restartAt"]
    assert len(stamp) == 20 and stamp[10] == "T" and stamp.endswith("Z")
    await runtime.converge(desired)
    after = await api.get(ROLLOUT, "web", ws)
    assert after is not None and after["spec"]["restartAt"] == stamp


async def test_an_app_without_a_rollout(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "web")])
    for action in (runtime.abort(ws, "web"), runtime.promote(ws, "web", full=True)):
        with pytest.raises(NotFoundError, match="has no canary or blue-green rollout"):
            await action
    with pytest.raises(NotFoundError, match="no canary or blue-green rollout"):
        await runtime.promote(ws, "nope", full=False)
    # A cluster without Argo Rollouts: the same answer, and restart still restarts Deployments.
    fake.unserve("argoproj.io")
    with pytest.raises(NotFoundError, match="no canary or blue-green rollout"):
        await runtime.promote(ws, "web", full=False)
    await runtime.restart(ws, "web")
    assert rollout_writes(fake) == []
    with pytest.raises(NotFoundError, match="no Deployment or Rollout"):
        await runtime.restart(ws, "nope")


async def test_a_rollout_that_is_not_ours_is_not_found(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws)])
    foreign = c.canary_rollout(ws, "web")
    foreign["metadata"]["labels"] = {"app": "web"}  # same name, someone else's
    fake.put(foreign)
    with pytest.raises(NotFoundError):
        await runtime.promote(ws, "web", full=False)


async def test_a_refused_patch_is_a_runtime_error(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await deployed(cluster, runtime, fake, c.canary_rollout(ws, "web"), phase="Paused", step=1)
    fake.fail_next("patch-status", kind="Rollout", code=403, reason="Forbidden", message="no")
    with pytest.raises(Exception, match=rf"cannot abort Rollout {ws}/web: 403 Forbidden: no"):
        await runtime.abort(ws, "web")


async def test_a_rollout_the_controller_never_reported_on_is_left_alone(
    cluster: Cluster, fake: FakeKube, runtime: KubeRuntime
) -> None:
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), c.canary_rollout(ws, "web")])  # no status at all
    for said in (await runtime.promote(ws, "web", full=False), await runtime.abort(ws, "web")):
        assert said.startswith("the Argo Rollouts controller has not reported on web yet")
    assert rollout_writes(fake) == []
