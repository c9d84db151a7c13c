"""The agent's log lines about a command carry the control-plane request that asked for it and
the app it is about, as JSON fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ironplane.agent.settings import AgentSettings
from ironplane.core.logs import JsonFormatter
from tests.e2e.conftest import Api, RecordingRuntime, eventually, running
from tests.sdk.live import Live, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(tmp_path_factory.mktemp("cp"), agent_heartbeat_s=2.0) as server:
        yield server


async def test_a_logs_command_is_logged_by_the_agent_with_the_request_id(
    live: Live, api: Api
) -> None:
    text = (
        "kind: Cluster\nname: logs-cl\n---\nkind: Workspace\nname: logs-ws\ncluster: logs-cl\n"
        "---\nkind: Service\nname: web\nworkspace: logs-ws\nimage: example.com/web:1\n"
    )
    changes = (await api.apply(text))["changes"]
    token = next(c["agent_token"]["secret"] for c in changes if c.get("agent_token"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    agent_log = logging.getLogger("ironplane.agent")
    agent_log.addHandler(handler)
    level = agent_log.level
    agent_log.setLevel(logging.INFO)
    runtime = RecordingRuntime()
    settings = AgentSettings(server_url=live.url, token=token, runtime="local")
    try:
        async with running(settings, runtime) as agent:
            await eventually(lambda: agent.connected.is_set(), what="connected")
            await eventually(lambda: ("logs-ws", "web") in runtime.apps(), what="applied")
            r = await api.client.get(
                "/workspaces/logs-ws/apps/web/logs", headers={"X-Request-ID": "req-logs-42"}
            )
            assert r.status_code == 200, r.text
            assert r.headers["x-request-id"] == "req-logs-42"
    finally:
        agent_log.removeHandler(handler)
        agent_log.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    [command] = [d for d in lines if d["msg"].startswith("command logs")]
    assert command["request_id"] == "req-logs-42"
    assert (command["workspace"], command["app"], command["command"]) == ("logs-ws", "web", "logs")
    assert command["cluster"] == "logs-cl"
