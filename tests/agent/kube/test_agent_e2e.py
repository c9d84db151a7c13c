"""The whole path with the Kubernetes runtime: control plane → WebSocket → agent → lightkube →
the fake API server (see docs/testing.md: a fake, implementing what the agent relies on)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ironplane.agent.agent import Agent
from ironplane.agent.kube import KubeRuntime
from ironplane.agent.settings import AgentSettings
from tests.agent.kube.conftest import Cluster, eventually
from tests.sdk.live import Live, running_server

pytestmark = pytest.mark.anyio

PLATFORM = "kind: Cluster\nname: kube-one\n---\nkind: Workspace\nname: kube-ws\ncluster: kube-one\n"


def service(tag: int) -> str:
    return (
        "kind: Service\nname: web\nworkspace: kube-ws\n"
        f"image: example.com/web:{tag}\nports: [{{port: 8000}}]\nreplicas: 2\n"
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(tmp_path_factory.mktemp("cp"), agent_heartbeat_s=1.0) as server:
        yield server


@contextlib.asynccontextmanager
async def agent_on(live: Live, token: str, cluster: Cluster) -> AsyncIterator[None]:
    runtime = KubeRuntime(cluster.client(), resync_s=30.0)
    agent = Agent(
        AgentSettings(
            server_url=live.url,
            token=token,
            status_interval_s=0.2,
            backoff_base_s=0.05,
            backoff_cap_s=0.5,
        ),
        runtime,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_deploy_update_rollback_delete_through_the_kubernetes_runtime(
    live: Live, cluster: Cluster
) -> None:
    fake = cluster.need_fake()
    async with httpx.AsyncClient(
        base_url=live.url + "/api/v1", headers={"Authorization": f"Bearer {live.admin_token}"}
    ) as api:
        await _scenario(live, cluster, fake, api)


async def _scenario(live: Live, cluster: Cluster, fake: Any, api: httpx.AsyncClient) -> None:

    async def apply(text: str) -> dict[str, Any]:
        r = await api.post("/apply", json={"documents": [{"source": "k.yaml", "content": text}]})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def image() -> str | None:
        deployment = fake.get("Deployment", "kube-ws", "web")
        if deployment is None:
            return None
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    token = (await apply(PLATFORM + "---\n" + service(1)))["changes"][0]["agent_token"]["secret"]
    async with agent_on(live, token, cluster):
        await eventually(lambda: image() == "example.com/web:1", what="the Deployment applied")
        assert fake.get("Namespace", None, "kube-ws") is not None
        # Play the Deployment controller: the agent reports what it sees.
        fake.set_status(
            "Deployment",
            "kube-ws",
            "web",
            {
                "replicas": 2,
                "readyReplicas": 2,
                "availableReplicas": 2,
                "updatedReplicas": 2,
                "observedGeneration": 1,
                "conditions": [
                    {"type": "Available", "status": "True"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            },
        )

        async def reported() -> bool:
            detail = (await api.get("/workspaces/kube-ws/apps/web")).json()
            status = detail["app"]["status"]
            return bool(status and status["phase"] == "Running" and status["ready"] == 2)

        await eventually(reported, what="Running 2/2 reported to the control plane")
        await apply(service(2))
        await eventually(lambda: image() == "example.com/web:2", what="the update")
        r = await api.post("/workspaces/kube-ws/apps/web/rollback", json={"to": 1})
        assert r.status_code == 200
        await eventually(lambda: image() == "example.com/web:1", what="the rollback")
        assert (await api.delete("/workspaces/kube-ws/apps/web")).status_code == 200
        await eventually(lambda: image() is None, what="the prune")
        await eventually(
            lambda: fake.get("Service", "kube-ws", "web") is None, what="the Service pruned"
        )
        assert fake.get("Namespace", None, "kube-ws") is not None

        async def applied() -> bool:
            c = (await api.get("/clusters/kube-one")).json()
            return bool(c["agent"]["applied_revision"] == c["revision"])

        await eventually(applied, what="the last revision acked")
