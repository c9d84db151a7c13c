"""The agent protocol end to end: a real control plane, a real agent, a real WebSocket."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import AbstractAsyncContextManager

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ironplane.agent.agent import Agent
from ironplane.agent.settings import AgentSettings
from ironplane.wire import agent_protocol as proto
from tests.e2e.conftest import Api, RecordingRuntime, eventually, running
from tests.sdk.live import Live

pytestmark = pytest.mark.anyio

PLATFORM = "kind: Cluster\nname: edge-one\n---\nkind: Workspace\nname: prod\ncluster: edge-one\n"


def service(image: str = "example.com/chat:1", name: str = "chat-api") -> str:
    return (
        f"kind: Service\nname: {name}\nworkspace: prod\nimage: {image}\nports: [{{port: 8000}}]\n"
    )


def acks(live: Live, cluster: str = "edge-one") -> list[tuple[int, bool]]:
    db = sqlite3.connect(live.data_dir / "ironplane.db")
    try:
        return db.execute(
            "SELECT cluster_acks.revision, ok FROM cluster_acks JOIN clusters ON clusters.id = cluster_id "
            "WHERE clusters.name = ? ORDER BY cluster_acks.revision",
            (cluster,),
        ).fetchall()
    finally:
        db.close()


def running_agent(
    live: Live, token: str, runtime: RecordingRuntime
) -> AbstractAsyncContextManager[Agent]:
    """An agent on ``live`` with quick status reports and reconnects."""
    settings = AgentSettings(
        server_url=live.url,
        token=token,
        runtime="local",
        status_interval_s=0.2,
        backoff_base_s=0.05,
        backoff_cap_s=0.5,
    )
    return running(settings, runtime)


def images(runtime: RecordingRuntime) -> list[str]:
    return [
        c["image"]
        for o in runtime.objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]


async def test_deploy_update_rollback_delete_with_status_logs_and_restart(
    live: Live, api: Api
) -> None:
    first = await api.apply(PLATFORM + "---\n" + service())
    token = first["changes"][0]["agent_token"]["secret"]
    runtime = RecordingRuntime()
    fulls: list[bool] = []
    async with running_agent(live, token, runtime) as agent:
        original = agent._desired

        async def spy(frame: proto.Desired) -> None:
            fulls.append(frame.full)
            await original(frame)

        agent._desired = spy  # type: ignore[method-assign]
        await eventually(lambda: images(runtime) == ["example.com/chat:1"], what="first deploy")
        await eventually(
            lambda: _applied(api, 1), what="the control plane records the applied revision"
        )
        cluster = await api.cluster()
        assert cluster["agent"]["connected"] is True
        assert cluster["agent"]["runtime"] == "local"
        assert cluster["nodes"][0]["labels"] == {"oci.oraclecloud.com/rdma.local_block_id": "b1"}

        await api.apply(service("example.com/chat:2"))
        await eventually(lambda: images(runtime) == ["example.com/chat:2"], what="update")
        r = await api.client.post("/workspaces/prod/apps/chat-api/rollback", json={"to": 1})
        assert r.status_code == 200
        await eventually(lambda: images(runtime) == ["example.com/chat:1"], what="rollback")
        await eventually(lambda: _applied(api, 3), what="rollback applied")

        detail = (await api.client.get("/workspaces/prod/apps/chat-api")).json()
        assert detail["app"]["status"]["phase"] == "Running"
        r = await api.client.get("/workspaces/prod/apps/chat-api/logs", params={"lines": 3})
        assert r.status_code == 200 and r.json()["lines"] == ["line 0", "line 1", "line 2"]
        r = await api.client.post("/workspaces/prod/apps/chat-api/restart")
        assert r.status_code == 200 and runtime.restarts == [("prod", "chat-api")]
        r = await api.client.get("/workspaces/prod/apps/nothing-here/logs")
        assert r.status_code == 404

        r = await api.client.delete("/workspaces/prod/apps/chat-api")
        assert r.status_code == 200
        await eventually(lambda: images(runtime) == [], what="delete")
        await eventually(lambda: _applied(api, 4), what="delete applied")
    assert fulls[0] is True and not any(fulls[1:]), "a full state on connect, then deltas"
    assert acks(live) == [(1, True), (2, True), (3, True), (4, True)]

    async def disconnected() -> bool:  # the server records the close asynchronously
        return bool((await api.cluster())["agent"]["connected"] is False)

    await eventually(disconnected, what="the agent's disconnect recorded")
    r = await api.client.get("/workspaces/prod/apps/chat-api/logs")
    assert r.status_code == 503 and "not connected" in r.json()["error"]["message"]


async def _applied(api: Api, revision: int) -> bool:
    return bool((await api.cluster())["agent"]["applied_revision"] == revision)


async def test_only_an_agent_token_may_connect(live: Live) -> None:
    url = live.url.replace("http://", "ws://") + "/api/v1/agent/connect"
    for headers in (
        {},
        {"Authorization": "Bearer ipt_0000000000000000_nope"},
        {"Authorization": f"Bearer {live.admin_token}"},
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403


async def test_a_bad_first_frame_or_old_protocol_is_refused_with_a_reason(
    live: Live, api: Api
) -> None:
    await api.apply("kind: Cluster\nname: edge-proto\n")
    token = (await api.client.post("/clusters/edge-proto/agent-token")).json()["secret"]
    url = live.url.replace("http://", "ws://") + "/api/v1/agent/connect"
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(proto.encode(proto.Hello(protocol=99, agent_version="x", runtime="local")))
        error = proto.decode_server_frame(await ws.recv())
        assert isinstance(error, proto.Error) and "protocol 99 is not supported" in error.message
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    async with connect(url, additional_headers=headers) as ws:
        await ws.send('{"type": "ack", "revision": 1}')
        error = proto.decode_server_frame(await ws.recv())
        assert isinstance(error, proto.Error) and "hello" in error.message


async def test_a_revoked_agent_token_is_disconnected(live: Live, api: Api) -> None:
    await api.apply("kind: Cluster\nname: edge-two\n")
    token = (await api.client.post("/clusters/edge-two/agent-token")).json()["secret"]
    runtime = RecordingRuntime()
    async with running_agent(live, token, runtime) as agent:
        await eventually(lambda: agent.connected.is_set(), what="connected")
        # A rotation with revoke_old revokes the old token at once (a plain one waits for an
        # agent on the new token: test_install_agent.py).
        await api.client.post("/clusters/edge-two/agent-token", params={"revoke_old": "true"})
        await eventually(lambda: not agent.connected.is_set(), timeout=10, what="disconnected")
        await asyncio.sleep(0.5)
        assert not agent.connected.is_set(), "a revoked token must not reconnect"


async def test_an_agent_reports_only_on_its_own_clusters_workspaces(live: Live, api: Api) -> None:
    await api.apply(
        "kind: Cluster\nname: other-cl\n---\nkind: Workspace\nname: other-ws\ncluster: other-cl\n"
        "---\nkind: Service\nname: victim\nworkspace: other-ws\nimage: example.com/v:1\n"
    )
    await api.apply("kind: Cluster\nname: rogue-cl\n")
    token = (await api.client.post("/clusters/rogue-cl/agent-token")).json()["secret"]
    url = live.url.replace("http://", "ws://") + "/api/v1/agent/connect"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(proto.encode(proto.Hello(agent_version="x", runtime="local")))
        assert isinstance(proto.decode_server_frame(await ws.recv()), proto.Welcome)
        # A frame type from some future protocol revision is ignored, not fatal.
        await ws.send('{"type": "telemetry", "cpu": 3}')
        spoof = proto.AppStatus(
            workspace="other-ws", app="victim", kind="service", phase="Running", ready=9, desired=9
        )
        await ws.send(proto.encode(proto.Status(apps=[spoof])))
        await ws.send(proto.encode(proto.Ping(at=1.0)))
        while not isinstance(frame := proto.decode_server_frame(await ws.recv()), proto.Pong):
            assert frame is not None
    detail = (await api.client.get("/workspaces/other-ws/apps/victim")).json()
    assert detail["app"]["status"] is None


async def test_the_agent_survives_runtime_errors_while_reporting(live: Live, api: Api) -> None:
    await api.apply("kind: Cluster\nname: flaky-cl\n")
    token = (await api.client.post("/clusters/flaky-cl/agent-token")).json()["secret"]
    runtime = RecordingRuntime()
    failures = 0
    original = runtime.inventory

    async def flaky_inventory() -> list[proto.NodeInfo]:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise RuntimeError("the node list is not synced yet")
        return await original()

    runtime.inventory = flaky_inventory  # type: ignore[method-assign]
    async with running_agent(live, token, runtime) as agent:
        await eventually(lambda: failures == 2, what="two failed inventories")
        await api.apply("kind: Workspace\nname: flaky-ws\ncluster: flaky-cl\n")
        await eventually(
            lambda: _cluster_nodes(api, "flaky-cl"), what="the inventory once the runtime recovers"
        )
        assert agent.connected.is_set()


async def _cluster_nodes(api: Api, name: str) -> bool:
    return bool((await api.cluster(name))["nodes"])
