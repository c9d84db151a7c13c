"""KubeRuntime.converge over real HTTP: apply in dependency order, idempotence, prune."""

from __future__ import annotations

import random

import pytest

from ironplane.agent.kube import KubeApi, KubeRuntime, KubeRuntimeError, ResourceType
from ironplane.agent.runtime import RuntimeError_
from ironplane.wire.manifests import object_key
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import REAL, Cluster, eventually

pytestmark = pytest.mark.anyio

NS = ResourceType.of("v1", "Namespace")
CM = ResourceType.of("v1", "ConfigMap")
SA = ResourceType.of("v1", "ServiceAccount")
SVC = ResourceType.of("v1", "Service")
DEPLOY = ResourceType.of("apps/v1", "Deployment")
JOB = ResourceType.of("batch/v1", "Job")
CRONJOB = ResourceType.of("batch/v1", "CronJob")
ROLLOUT = ResourceType.of("argoproj.io/v1alpha1", "Rollout", namespaced=True)
CRD = ResourceType.of("apiextensions.k8s.io/v1", "CustomResourceDefinition")
WIDGET = ResourceType.of(f"{o.WIDGET_GROUP}/v1", "Widget", namespaced=True)


async def gone(api: KubeApi, rt: ResourceType, name: str, namespace: str | None = None) -> bool:
    """Deleted, or being deleted (a real namespace takes a while to terminate)."""
    obj = await api.get(rt, name, namespace)
    return obj is None or bool(obj["metadata"].get("deletionTimestamp"))


async def test_converge_applies_in_dependency_order(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws, other = cluster.namespace(), cluster.namespace("other")
    desired = [
        o.namespace(ws),
        o.namespace(other),
        *o.app_objects(ws, "web"),
        o.pvc(ws, "data"),
        o.cronjob(ws, "nightly"),
        o.config_map(other, "settings", {"a": "1"}),
    ]
    random.Random(7).shuffle(desired)  # the runtime sorts, whatever order it gets
    await runtime.converge(desired)

    for obj in desired:
        meta = obj["metadata"]
        live = await api.get(ResourceType.of_object(obj), meta["name"], meta.get("namespace"))
        assert live is not None and live["metadata"]["labels"] == meta["labels"]
    if cluster.fake:
        order = cluster.fake.applied()
        expected = [
            f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            if obj["metadata"].get("namespace")
            else f"{obj['kind']} {obj['metadata']['name']}"
            for obj in sorted(desired, key=object_key)
        ]
        assert order == expected
        assert order[:2] == sorted([f"Namespace {ws}", f"Namespace {other}"])
        assert order[-1] == f"CronJob {ws}/nightly"


async def test_reconverge_is_idempotent(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    desired = [o.namespace(ws), *o.app_objects(ws, "web"), o.config_map(ws, "cfg", {"k": "v"})]
    await runtime.converge(desired)

    async def versions() -> dict[str, tuple[object, ...]]:
        """What a no-op apply must not change: the generation, when our field manager last
        changed something, and (the fake has no controllers writing status) the version."""
        out = {}
        for obj in desired:
            meta = obj["metadata"]
            live = await api.get(ResourceType.of_object(obj), meta["name"], meta.get("namespace"))
            assert live is not None
            ours = [
                m["time"]
                for m in live["metadata"]["managedFields"]
                if m["manager"] == "ironplane-agent"
            ]
            version = live["metadata"]["resourceVersion"] if cluster.fake else None
            out[f"{obj['kind']}/{meta['name']}"] = (
                live["metadata"].get("generation"),
                ours,
                version,
            )
        return out

    before = await versions()
    await runtime.converge(desired)
    await runtime.converge(list(reversed(desired)))
    assert await versions() == before


async def test_removing_an_app_prunes_it_and_leaves_the_rest(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    keep = [o.namespace(ws), *o.app_objects(ws, "api")]
    drop = [*o.app_objects(ws, "web"), o.config_map(ws, "web-cfg", {"k": "v"})]
    await runtime.converge(keep + drop)
    # Not ours: no ownership label (another tool's object in the same namespace).
    await api.apply(o.config_map(ws, "hand-made", {"x": "y"}, owned=False))

    await runtime.converge(keep)

    for obj in drop:
        meta = obj["metadata"]
        rt = ResourceType.of_object(obj)
        assert await eventually(lambda rt=rt, m=meta: gone(api, rt, m["name"], m["namespace"]))
    for obj in keep:
        meta = obj["metadata"]
        assert await api.get(ResourceType.of_object(obj), meta["name"], meta.get("namespace"))
    assert await api.get(CM, "hand-made", ws) is not None
    if cluster.fake:
        deletes = [c for c in cluster.fake.calls if c.verb == "delete"]
        assert {(c.plural, c.name) for c in deletes} == {
            ("deployments", "web"),
            ("services", "web"),
            ("serviceaccounts", "web"),
            ("configmaps", "web-cfg"),
        }
        # Reverse dependency order: the workload first, the account last.
        assert [c.plural for c in deletes] == [
            "deployments",
            "services",
            "configmaps",
            "serviceaccounts",
        ]


async def test_removing_a_workspace_deletes_its_workloads_before_its_namespace(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    fake = cluster.need_fake()
    ws, stays = cluster.namespace(), cluster.namespace("stays")
    await runtime.converge([o.namespace(ws), o.namespace(stays), *o.app_objects(ws, "web")])
    await runtime.converge([o.namespace(stays)])

    deletes = [(c.plural, c.name) for c in fake.calls if c.verb == "delete"]
    assert deletes[-1] == ("namespaces", ws)
    assert set(deletes[:-1]) == {
        ("deployments", "web"),
        ("services", "web"),
        ("serviceaccounts", "web"),
    }
    assert await api.get(NS, stays) is not None


async def test_objects_made_by_a_controller_are_not_pruned(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    """The Jobs a CronJob starts carry its ownership labels but are the CronJob's."""
    ws = cluster.namespace()
    desired = [o.namespace(ws), o.cronjob(ws, "nightly", suspend=True)]
    await runtime.converge(desired)
    owner = await api.get(CRONJOB, "nightly", ws)
    assert owner is not None
    await api.apply(o.job(ws, "nightly", name="nightly-28000000", owner=owner))

    await runtime.converge(desired)
    assert await api.get(JOB, "nightly-28000000", ws) is not None


async def test_a_field_dropped_from_the_desired_object_disappears(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    first = o.deployment(ws, "web", env={"A": "1"}, annotations={"team": "ml", "tier": "gold"})
    first["metadata"]["annotations"] = {"ironplane.dev/owner": "ml"}
    await runtime.converge([o.namespace(ws), first])
    # Another manager's field in the same map survives our applies.
    await api.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ws, "annotations": {"other/tool": "x"}},
        }
    )

    second = o.deployment(ws, "web", annotations={"team": "ml"})  # no env, no tier, no annotations
    await runtime.converge([o.namespace(ws), second])

    live = await api.get(DEPLOY, "web", ws)
    assert live is not None
    template = live["spec"]["template"]
    assert template["metadata"]["annotations"] == {"team": "ml"}
    assert "env" not in template["spec"]["containers"][0]
    assert live["metadata"].get("annotations", {}).get("other/tool") == "x"
    assert "ironplane.dev/owner" not in live["metadata"].get("annotations", {})


async def test_a_custom_resource_is_applied_and_pruned(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    """An Argo Rollout: a kind the agent knows only from the objects it applied."""
    if REAL:
        try:
            await api.list_objects(ROLLOUT)
        except Exception:
            pytest.skip("the cluster does not serve argoproj.io/v1alpha1 Rollout")
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.rollout(ws, "llm")])
    live = await api.get(ROLLOUT, "llm", ws)
    assert live is not None and live["spec"]["replicas"] == 2
    assert live["apiVersion"] == "argoproj.io/v1alpha1" and live["kind"] == "Rollout"

    await runtime.converge([o.namespace(ws)])  # no Rollout left in the desired set
    assert await eventually(lambda: gone(api, ROLLOUT, "llm", ws))


async def test_a_crd_and_its_custom_resources_in_one_converge(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    cluster.cluster_scoped(CRD, f"widgets.{o.WIDGET_GROUP}")
    desired = [o.widget(ws, "w1", size=3), o.namespace(ws), o.widget_crd()]
    await runtime.converge(desired)

    live = await api.get(WIDGET, "w1", ws)
    assert live is not None and live["spec"] == {"size": 3}
    if cluster.fake:
        assert cluster.fake.applied()[:3] == [
            f"Namespace {ws}",
            f"CustomResourceDefinition widgets.{o.WIDGET_GROUP}",
            f"Widget {ws}/w1",
        ]
    await runtime.converge([o.namespace(ws), o.widget_crd()])
    assert await eventually(lambda: gone(api, WIDGET, "w1", ws))


async def test_an_apply_failure_names_the_object_and_the_api_message(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    bad = o.deployment(ws, "web")
    if cluster.fake:
        cluster.fake.fail_next(
            "apply",
            kind="Deployment",
            name="web",
            code=422,
            message='Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1',
        )
    else:
        bad["spec"]["replicas"] = -1
    desired = [o.namespace(ws), o.service_account(ws, "web"), bad]

    with pytest.raises(RuntimeError_) as caught:
        await runtime.converge(desired)
    text = str(caught.value)
    assert f"Deployment {ws}/web" in text
    assert "spec.replicas" in text and "422" in text
    assert isinstance(caught.value, KubeRuntimeError)
    assert caught.value.status == 422 and caught.value.reason == "Invalid"
    # What came before the failure stays applied; the next converge retries.
    assert await api.get(SA, "web", ws) is not None
    if cluster.fake:
        await runtime.converge(desired)
        assert await api.get(DEPLOY, "web", ws) is not None


async def test_a_refused_object_does_not_hold_back_the_others(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    """One app's bad object: the other apps' objects are applied and what left the desired
    state is pruned, then the converge fails naming the refusals."""
    fake = cluster.need_fake()
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), *o.app_objects(ws, "old")])
    fake.fail_next("apply", kind="Service", name="bad", code=422, message="bad is invalid")
    fake.fail_next("apply", kind="Deployment", name="bad", code=403, message="no deployments")
    desired = [o.namespace(ws), *o.app_objects(ws, "bad"), *o.app_objects(ws, "good")]
    with pytest.raises(KubeRuntimeError) as caught:
        await runtime.converge(desired)
    text = str(caught.value)
    # The first refusal in apply order (Services before Deployments), then the count.
    assert text.startswith(f"cannot apply Service {ws}/bad: 422 Invalid: bad is invalid")
    assert text.endswith(f"(and 1 more refused: Deployment {ws}/bad)")
    assert (caught.value.status, caught.value.reason) == (422, "Invalid")
    assert await api.get(DEPLOY, "good", ws) is not None
    assert await api.get(SVC, "good", ws) is not None
    assert await api.get(DEPLOY, "old", ws) is None  # pruned all the same
    await runtime.converge(desired)  # the next converge retries the refused ones
    assert await api.get(DEPLOY, "bad", ws) is not None


@pytest.mark.parametrize(
    ("code", "reason"), [(403, "Forbidden"), (409, "Conflict"), (500, "InternalError")]
)
async def test_api_refusals_become_runtime_errors(
    cluster: Cluster, runtime: KubeRuntime, code: int, reason: str
) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    fake.fail_next("apply", kind="Service", code=code, message=f"services is {reason.lower()}")
    with pytest.raises(RuntimeError_, match=rf"Service {ws}/web: {code} {reason}: services is"):
        await runtime.converge([o.namespace(ws), *o.app_objects(ws, "web")])


async def test_prune_tolerates_objects_already_gone_and_reports_refusals(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), *o.app_objects(ws, "web"), *o.app_objects(ws, "b")])

    fake.fail_next("delete", kind="Deployment", name="web", code=404, message="already gone")
    await runtime.converge([o.namespace(ws), *o.app_objects(ws, "b")])
    assert await api.get(SVC, "web", ws) is None

    fake.fail_next("delete", kind="Service", name="b", code=403, message="services is forbidden")
    with pytest.raises(RuntimeError_, match=rf"cannot delete Service {ws}/b: 403 Forbidden"):
        await runtime.converge([o.namespace(ws)])


async def test_unknown_kinds_listed_for_prune_are_skipped_when_not_served(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake = cluster.need_fake()
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.rollout(ws, "llm")])
    # The Rollout CRD was uninstalled: listing rollouts answers 404.
    fake.fail_next("list", kind="rollouts", code=404, message="the server could not find it")
    await runtime.converge([o.namespace(ws)])


async def test_objects_without_identity_are_refused_before_anything_is_applied(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake = cluster.need_fake()
    with pytest.raises(RuntimeError_, match=r"metadata\.name"):
        await runtime.converge([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}])
    no_namespace = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    with pytest.raises(RuntimeError_, match=r"ConfigMap x: metadata\.namespace is empty"):
        await runtime.converge([o.namespace("ok"), no_namespace])
    assert fake.applied() == []
