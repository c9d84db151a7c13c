"""A frame sent to an agent whose socket has closed is a ConnectionError (what the hub turns into
"the agent disconnected"), never Starlette's state error escaping from a shielded push."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.websockets import WebSocketState

from ironplane.server.agents.session import AgentSession
from ironplane.wire import agent_protocol as proto

pytestmark = pytest.mark.anyio


class ClosedSocket:
    """A socket Starlette already closed: sending raises its RuntimeError."""

    def __init__(self, state: WebSocketState) -> None:
        self.application_state = state

    async def send_text(self, text: str) -> None:
        raise RuntimeError('Cannot call "send" once a close message has been sent.')


def session(ws: Any) -> AgentSession:
    settings = SimpleNamespace(agent_heartbeat_s=1.0, agent_poll_s=1.0)
    services: Any = SimpleNamespace(settings=settings)
    hub: Any = None
    return AgentSession(ws, services, hub, cluster_id=1, cluster="c1", token_id="t", source_ip=None)


@pytest.mark.parametrize("state", [WebSocketState.DISCONNECTED, WebSocketState.CONNECTED])
async def test_sending_on_a_closed_socket_is_a_connection_error(state: WebSocketState) -> None:
    """Closed as Starlette knows it, or closed while the frame was on its way."""
    agent = session(ClosedSocket(state))
    with pytest.raises(ConnectionError, match="the agent of cluster c1 is disconnected"):
        await agent.send(proto.Ping(at=0.0))


async def test_a_closed_session_sends_nothing() -> None:
    ws = ClosedSocket(WebSocketState.CONNECTED)
    agent = session(ws)
    await agent.close(1000, "bye")  # Starlette's close is not there: suppressed, still closed
    with pytest.raises(ConnectionError):
        await agent.send(proto.Ping(at=0.0))
