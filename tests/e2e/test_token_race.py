"""A rotation race: a connection authenticated with the OLD token before the new one connected
says hello afterwards. It must be refused (4001), never welcomed on a revoked token, and the NEW
agent's connection must stay up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ironplane.wire import agent_protocol as proto
from tests.e2e.conftest import Api
from tests.sdk.live import Live, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(
        tmp_path_factory.mktemp("cp"), agent_heartbeat_s=5.0, agent_poll_s=30.0
    ) as s:
        yield s


def hello() -> str:
    return proto.encode(proto.Hello(agent_version="9", runtime="local", applied_revision=0))


async def test_old_token_handshake_after_rotation_completed(live: Live, api: Api) -> None:
    applied = await api.apply("kind: Cluster\nname: race\n")
    token_a = applied["changes"][0]["agent_token"]["secret"]
    r = await api.client.post("/clusters/race/agent-token")
    token_b = r.json()["secret"]
    url = live.url.replace("http", "ws") + "/api/v1/agent/connect"
    old = await connect(url, additional_headers={"Authorization": f"Bearer {token_a}"})
    new = await connect(url, additional_headers={"Authorization": f"Bearer {token_b}"})
    await new.send(hello())
    assert isinstance(proto.decode_server_frame(await new.recv()), proto.Welcome)
    # The rotation is complete: A is revoked.
    async with httpx.AsyncClient() as anyone:
        r = await anyone.get(
            live.url + "/api/v1/clusters/race/desired",
            headers={"Authorization": f"Bearer {token_a}"},
        )
    assert r.status_code == 401
    # The old connection, authenticated before, says hello now: refused.
    await old.send(hello())
    got = proto.decode_server_frame(await old.recv())
    assert isinstance(got, proto.Error) and "revoked or rotated" in got.message
    with pytest.raises(ConnectionClosed) as closed:
        await old.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    # The new agent's connection is untouched: it still answers a ping.
    await new.send(proto.encode(proto.Ping(at=1.0)))
    while not isinstance(
        frame := proto.decode_server_frame(await asyncio.wait_for(new.recv(), 5)), proto.Pong
    ):
        assert frame is not None
    await new.close()
    await old.close()
