"""Heartbeats both ways: a silent agent is dropped, a silent control plane is left, and an idle
but live connection stays up on pings and pongs alone."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ironplane.agent.settings import AgentSettings
from ironplane.server.agents.session import CLOSE_HEARTBEAT
from ironplane.wire import agent_protocol as proto
from tests.e2e.conftest import Api, RecordingRuntime, eventually, running
from tests.sdk.live import Live, running_server

pytestmark = pytest.mark.anyio

HEARTBEAT_S = 0.5


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(tmp_path_factory.mktemp("cp"), agent_heartbeat_s=HEARTBEAT_S) as server:
        yield server


async def cluster_token(api: Api, name: str) -> str:
    await api.apply(f"kind: Cluster\nname: {name}\n")
    r = await api.client.post(f"/clusters/{name}/agent-token")
    return str(r.json()["secret"])


async def test_a_silent_agent_is_dropped_after_three_heartbeats(live: Live, api: Api) -> None:
    token = await cluster_token(api, "hb-silent")
    url = live.url.replace("http://", "ws://") + "/api/v1/agent/connect"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(proto.encode(proto.Hello(agent_version="x", runtime="local")))
        welcome = proto.decode_server_frame(await ws.recv())
        assert isinstance(welcome, proto.Welcome) and welcome.heartbeat_s == HEARTBEAT_S
        started = time.monotonic()
        pings = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # never answer: the control plane's pings go unanswered
                frame = proto.decode_server_frame(await asyncio.wait_for(ws.recv(), 10))
                pings += isinstance(frame, proto.Ping)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_HEARTBEAT
        assert time.monotonic() - started >= 3 * HEARTBEAT_S
        # At least one ping went unanswered before the drop; how many more fit in the three
        # heartbeats depends on scheduling on a loaded machine.
        assert pings >= 1, "the control plane pings before it gives up"


async def test_an_idle_agent_stays_connected_on_pongs_alone(live: Live, api: Api) -> None:
    token = await cluster_token(api, "hb-idle")
    settings = AgentSettings(
        server_url=live.url,
        token=token,
        runtime="local",
        status_interval_s=3600,  # no status or inventory frames: only pongs keep it alive
        inventory_interval_s=3600,
        backoff_base_s=0.05,
    )
    async with running(settings, RecordingRuntime()) as agent:
        await eventually(lambda: agent.connected.is_set(), what="connected")
        deadline = time.monotonic() + 8 * HEARTBEAT_S
        while time.monotonic() < deadline:
            assert agent.connected.is_set(), "the idle connection dropped"
            await asyncio.sleep(0.05)


async def test_the_agent_leaves_a_silent_control_plane_and_reconnects() -> None:
    """A control plane that says welcome and then nothing: the agent gives up after three of the
    heartbeats it was told, and dials again."""
    accepted = 0

    async def mute(ws: ServerConnection) -> None:
        nonlocal accepted
        accepted += 1
        hello = proto.decode_agent_frame(await ws.recv())
        assert isinstance(hello, proto.Hello)
        await ws.send(proto.encode(proto.Welcome(cluster="mute", revision=0, heartbeat_s=0.2)))
        with contextlib.suppress(ConnectionClosed):
            await ws.wait_closed()

    async with serve(mute, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        settings = AgentSettings(
            server_url=f"http://127.0.0.1:{port}",
            token="ipt_x",
            runtime="local",
            status_interval_s=3600,
            inventory_interval_s=3600,
            backoff_base_s=0.05,
            backoff_cap_s=0.1,
        )
        async with running(settings, RecordingRuntime()):
            await eventually(lambda: accepted >= 2, timeout=10, what="a second connection")
