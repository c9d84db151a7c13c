"""Faults: each scenario must end converged on the latest revision, every ack recorded once."""

from __future__ import annotations

import asyncio
import http.server
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ironplane.agent.agent import Agent
from ironplane.agent.settings import AgentSettings
from tests.e2e.conftest import RecordingRuntime, eventually, running
from tests.e2e.faults import CuttingProxy, ServerProcess
from tests.ports import free_port

pytestmark = pytest.mark.anyio

PLATFORM = "kind: Cluster\nname: edge\n---\nkind: Workspace\nname: prod\ncluster: edge\n"


def service(tag: int, *, padding: int = 0) -> str:
    # Random text: WebSocket compression must not shrink the frame below the cut point.
    env = f"env: {{PADDING: {secrets.token_hex(padding // 2)}}}\n" if padding else ""
    return f"kind: Service\nname: web\nworkspace: prod\nimage: example.com/web:{tag}\n{env}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "cp", free_port())
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def apply(server: ServerProcess, text: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=30,
    ) as client:
        r = await client.post("/apply", json={"documents": [{"source": "x.yaml", "content": text}]})
        assert r.status_code == 200, r.text
        return dict(r.json())


def db_rows(server: ServerProcess, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(server.data_dir / "ironplane.db", timeout=30)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def revision(server: ServerProcess) -> int:
    return int(db_rows(server, "SELECT revision FROM clusters WHERE name = 'edge'")[0][0])


def acked(server: ServerProcess) -> list[int]:
    return [
        r
        for (r,) in db_rows(server, "SELECT revision FROM cluster_acks WHERE ok ORDER BY revision")
    ]


def image(runtime: RecordingRuntime) -> str | None:
    found = [
        o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in runtime.objects
        if o["kind"] == "Deployment"
    ]
    return found[0] if found else None


def agent_running(
    url: str, token: str, runtime: RecordingRuntime
) -> AbstractAsyncContextManager[Agent]:
    settings = AgentSettings(
        server_url=url,
        token=token,
        runtime="local",
        status_interval_s=0.2,
        backoff_base_s=0.05,
        backoff_cap_s=0.3,
    )
    return running(settings, runtime, join_s=15)


async def converged(server: ServerProcess, runtime: RecordingRuntime, tag: int) -> None:
    want = f"example.com/web:{tag}"
    await eventually(lambda: image(runtime) == want, timeout=30, what=f"runtime at {want}")
    await eventually(
        lambda: revision(server) in acked(server), timeout=30, what="the latest revision acked"
    )


def assert_acks_unique(server: ServerProcess) -> None:
    rows = db_rows(server, "SELECT revision, COUNT(*) FROM cluster_acks GROUP BY revision")
    assert all(count == 1 for _, count in rows), rows


async def test_kill_9_the_control_plane_during_a_rollout(server: ServerProcess) -> None:
    token = (await apply(server, PLATFORM + "---\n" + service(1)))["changes"][0]["agent_token"][
        "secret"
    ]
    gate = asyncio.Event()
    gate.set()

    runtime = RecordingRuntime()
    original = runtime.converge

    async def slow_converge(objects: Any) -> None:
        await gate.wait()
        await original(objects)

    runtime.converge = slow_converge  # type: ignore[method-assign]
    async with agent_running(server.url, token, runtime):
        await converged(server, runtime, 1)
        gate.clear()  # the next rollout hangs in the runtime ...
        await apply(server, service(2))
        await eventually(lambda: runtime.converges and True, what="agent busy")
        await asyncio.sleep(0.3)
        server.kill9()  # ... while the control plane dies
        gate.set()
        await asyncio.sleep(0.5)
        server.start()
        await apply(server, service(3))
        await converged(server, runtime, 3)
    assert_acks_unique(server)
    assert revision(server) == 3


async def test_connection_cut_in_the_middle_of_a_desired_state_message(
    server: ServerProcess,
) -> None:
    token = (await apply(server, PLATFORM + "---\n" + service(1)))["changes"][0]["agent_token"][
        "secret"
    ]
    proxy = CuttingProxy(server.port)
    await proxy.start()
    runtime = RecordingRuntime()
    try:
        async with agent_running(f"http://127.0.0.1:{proxy.port}", token, runtime):
            await converged(server, runtime, 1)
            proxy.cut_after(20_000)  # the next frame is ~200 kB: cut well inside it
            await apply(server, service(2, padding=200_000))
            await eventually(lambda: proxy.cuts == 1, what="the cut")
            await converged(server, runtime, 2)
            assert proxy.connections >= 2
            env = [
                e
                for o in runtime.objects
                if o["kind"] == "Deployment"
                for e in o["spec"]["template"]["spec"]["containers"][0]["env"]
            ]
            assert [len(e["value"]) for e in env if e["name"] == "PADDING"] == [200_000]
    finally:
        await proxy.close()
    assert_acks_unique(server)
    assert acked(server) == [1, 2]


async def test_versions_applied_while_the_agent_is_away_and_an_agent_restart(
    server: ServerProcess,
) -> None:
    token = (await apply(server, PLATFORM + "---\n" + service(1)))["changes"][0]["agent_token"][
        "secret"
    ]
    proxy = CuttingProxy(server.port)
    await proxy.start()
    try:
        runtime = RecordingRuntime()
        async with agent_running(f"http://127.0.0.1:{proxy.port}", token, runtime) as agent:
            await converged(server, runtime, 1)
            await proxy.close()  # away: the network is gone while three versions land
            await eventually(lambda: not agent.connected.is_set(), what="disconnected")
            for tag in (2, 3, 4):
                await apply(server, service(tag))
            await asyncio.sleep(0.3)
            assert image(runtime) == "example.com/web:1"
            await proxy.start()  # back: straight to the latest
            await converged(server, runtime, 4)
        await apply(server, service(5))  # no agent at all now
        fresh = RecordingRuntime()  # a restarted agent: no memory of what it applied
        async with agent_running(server.url, token, fresh):
            await converged(server, fresh, 5)
    finally:
        await proxy.close()
    assert_acks_unique(server)
    assert acked(server) == [1, 4, 5]


def test_a_server_started_on_a_port_another_server_holds_fails_with_its_log(
    tmp_path: Path,
) -> None:
    """A server that cannot bind its port exits: ``start`` says so with the server's log, at
    once, and does not mistake the other server on the port (which does not know our admin
    token) for ours."""

    class Other(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    taken = other.server_address[1]
    proc = ServerProcess(tmp_path / "cp", int(taken))
    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="the server did not start") as refused:
            proc.start()
        assert time.monotonic() - started < 25, "start waited for its deadline"
        assert "already in use" in str(refused.value)
    finally:
        proc.stop()
        other.shutdown()
        other.server_close()
