"""A re-apply keeps the canary weights Argo Rollouts set on a VirtualService's routes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ironplane.agent.kube import KubeApi, KubeRuntime, ResourceType
from ironplane.agent.kube.apply import with_live_weights
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster

pytestmark = pytest.mark.anyio

VS = ResourceType.of("networking.istio.io/v1", "VirtualService", namespaced=True)


def virtual_service(ws: str, *, canary: bool = True) -> dict[str, Any]:
    dests = [{"destination": {"host": "web", "port": {"number": 8000}}, "weight": 100}]
    if canary:
        dests.append({"destination": {"host": "web-canary", "port": {"number": 8000}}, "weight": 0})
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": ws, "labels": o.labels(ws, "web")},
        "spec": {
            "hosts": ["web.example.com"],
            "gateways": ["istio-system/ironplane-ingress"],
            "http": [{"name": "http-8000", "route": dests}],
        },
    }


def weights(obj: dict[str, Any] | None) -> list[int]:
    assert obj is not None
    return [d["weight"] for d in obj["spec"]["http"][0]["route"]]


async def test_reapply_keeps_argos_weights_until_the_destinations_change(
    cluster: Cluster, runtime: KubeRuntime, api: KubeApi
) -> None:
    ws = cluster.namespace()
    desired = [o.namespace(ws), virtual_service(ws)]
    await runtime.converge(desired)
    assert weights(await api.get(VS, "web", ws)) == [100, 0]

    # Argo Rollouts moves the canary to 30 % (a patch under its own field manager).
    moved = copy.deepcopy(virtual_service(ws)["spec"]["http"])
    moved[0]["route"][0]["weight"], moved[0]["route"][1]["weight"] = 70, 30
    await api.merge_patch(VS, "web", ws, {"spec": {"http": moved}}, field_manager="argo-rollouts")

    await runtime.converge(desired)  # e.g. another app of the cluster changed
    assert weights(await api.get(VS, "web", ws)) == [70, 30]

    # The canary is gone from the spec: the compiled route applies as it is.
    await runtime.converge([o.namespace(ws), virtual_service(ws, canary=False)])
    assert weights(await api.get(VS, "web", ws)) == [100]


def test_routes_are_matched_by_name_and_destinations() -> None:
    mine = virtual_service("ws")
    live = copy.deepcopy(mine)
    live["spec"]["http"][0]["route"][1]["weight"] = 40
    live["spec"]["http"][0]["route"][0]["weight"] = 60
    assert weights(with_live_weights(mine, live)) == [60, 40]
    assert weights(mine) == [100, 0], "the desired object is not changed in place"
    renamed = copy.deepcopy(live)
    renamed["spec"]["http"][0]["name"] = "other"
    assert weights(with_live_weights(mine, renamed)) == [100, 0]
    swapped = copy.deepcopy(live)
    swapped["spec"]["http"][0]["route"].reverse()
    assert weights(with_live_weights(mine, swapped)) == [100, 0]
