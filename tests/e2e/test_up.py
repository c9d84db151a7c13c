"""`ironplane up` end to end: control plane, agent and local runtime in one process; real
processes that answer HTTP are started, updated, rolled back and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ironplane.embedded.up import Embedded, up
from tests.conftest import run_cli
from tests.e2e.conftest import eventually
from tests.ports import free_port

pytestmark = pytest.mark.anyio


def hello(port: int, text: str, replicas: int = 1) -> str:
    # A tiny HTTP server that answers with its text; one replica per $(PORT).
    code = (
        "import http.server, os, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        self.send_response(200); self.end_headers(); self.wfile.write(b'{text}')\n"
        "    def log_message(self, *a): print('served', flush=True)\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    return (
        "kind: Service\nname: hello\nworkspace: default\nimage: python:3.12\n"
        f"command: [{sys.executable!r}, '-c', {code!r}, '$(PORT)']\n"
        f"ports: [{{port: {port}}}]\nreplicas: {replicas}\n"
        f"health: {{readiness: {{path: /, port: {port}, period: 1s}}}}\n"
    )


@contextlib.asynccontextmanager
async def running_up(data_dir: Path) -> AsyncIterator[Embedded]:
    stop = asyncio.Event()
    ready: asyncio.Future[Embedded] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(up(data_dir, port=0, stop=stop, ready=ready))
    try:
        yield await asyncio.wait_for(ready, 30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def answer(port: int) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://127.0.0.1:{port}/")).text
    except httpx.HTTPError:
        return None


async def app_status(api: httpx.AsyncClient) -> dict[str, Any] | None:
    apps = (await api.get("/apps")).json()
    found = [a for a in apps if a["name"] == "hello"]
    return found[0]["status"] if found and found[0]["status"] else None


async def test_up_runs_applied_services_as_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    async with contextlib.AsyncExitStack() as stack, running_up(tmp_path / "data") as embedded:
        monkeypatch.setenv("IRONPLANE_CONFIG", str(tmp_path / "cli.yaml"))
        monkeypatch.setenv("IRONPLANE_URL", embedded.url)
        monkeypatch.setenv("IRONPLANE_TOKEN", embedded.admin_token)
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=embedded.url + "/api/v1",
                headers={"Authorization": f"Bearer {embedded.admin_token}"},
            )
        )

        async def apply(text: str) -> None:
            r = await api.post(
                "/apply", json={"documents": [{"source": "h.yaml", "content": text}]}
            )
            assert r.status_code == 200, r.text

        async def running(ready: int) -> bool:
            status = await app_status(api)
            return bool(status and status["phase"] == "Running" and status["ready"] == ready)

        await apply(hello(port, "v1", replicas=2))
        await eventually(lambda: answer(port), what="replica 0 answers")
        assert await answer(port) == "v1"
        await eventually(lambda: running(2), what="2/2 ready, reported to the control plane")

        await apply(hello(port, "v2", replicas=2))
        await eventually(lambda: _is(answer(port), "v2"), what="the update")
        r = await api.post("/workspaces/default/apps/hello/rollback", json={"to": 1})
        assert r.status_code == 200
        await eventually(lambda: _is(answer(port), "v1"), what="the rollback")

        logs = (await api.get("/workspaces/default/apps/hello/logs", params={"lines": 50})).json()
        assert any("served" in line for line in logs["lines"])
        # The same through the CLI (in a thread: the control plane runs on this event loop).
        await eventually(lambda: running(2), what="2/2 again after the rollback")
        code, out, err = await asyncio.to_thread(run_cli, ["get", "apps"])
        assert code == 0, err
        assert out.splitlines()[1].split()[:5] == ["default", "hello", "Service", "Running", "2/2"]
        code, out, err = await asyncio.to_thread(run_cli, ["logs", "hello", "-n", "50"])
        assert code == 0 and "served" in out, err
        code, out, err = await asyncio.to_thread(run_cli, ["restart", "hello"])
        assert (code, out) == (0, "restarted default/hello\n"), err
        await eventually(lambda: _is(answer(port), "v1"), what="answers after the restart")

        r = await api.delete("/workspaces/default/apps/hello")
        assert r.status_code == 200
        await eventually(lambda: _is(answer(port), None), what="the processes stop")

        # The processes stop while the agent applies; its acknowledgement follows.
        async def acknowledged() -> bool:
            cluster = (await api.get("/clusters/local")).json()
            return bool(cluster["agent"]["applied_revision"] == cluster["revision"])

        await eventually(acknowledged, what="the agent acknowledges the deletion")
        cluster = (await api.get("/clusters/local")).json()
        assert cluster["agent"]["connected"] is True
        assert cluster["nodes"] and cluster["nodes"][0]["ready"] is True

        await apply(hello(port, "v3"))
        await eventually(lambda: _is(answer(port), "v3"), what="redeploy")
    # Leaving `up` stops every process the local runtime started.
    assert await answer(port) is None

    # A second `up` on the same data directory finds its tokens and converges again.
    async with running_up(tmp_path / "data") as embedded:
        assert (tmp_path / "data" / "admin-token").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "data" / "agent-token").stat().st_mode & 0o777 == 0o600
        await eventually(lambda: _is(answer(port), "v3"), what="the app back after a restart")


async def _is(value: Any, expected: object) -> bool:
    return bool(await value == expected)


async def test_up_runs_jobs_with_params_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jobs run -p` with `up`: the control plane records the run, the local runtime runs the
    command with the param, the run's log and phase come back, and a long run can be stopped."""
    code = "import sys, time; print('dataset=' + sys.argv[1], flush=True); time.sleep(float(sys.argv[2]))"
    job = (
        "kind: Job\nname: evaluate\nworkspace: default\nimage: python:3.12\n"
        f"command: [{sys.executable!r}, '-c', {code!r}, '{{{{dataset}}}}', '{{{{sleep}}}}']\n"
        "params: [{name: dataset, default: mmlu}, {name: sleep, default: '0'}]\n"
    )
    async with running_up(tmp_path / "data") as embedded:
        monkeypatch.setenv("IRONPLANE_CONFIG", str(tmp_path / "cli.yaml"))
        monkeypatch.setenv("IRONPLANE_URL", embedded.url)
        monkeypatch.setenv("IRONPLANE_TOKEN", embedded.admin_token)
        source = tmp_path / "job.yaml"
        source.write_text(job)
        result = await asyncio.to_thread(run_cli, ["apply", "-f", str(source)])
        assert result[0] == 0, result[2]

        async def cli(*args: str) -> str:
            rc, out, err = await asyncio.to_thread(run_cli, list(args))
            assert rc == 0, err
            return out

        async def agent_has_it() -> bool:
            rows = (await cli("get", "apps")).splitlines()[1:]
            return any(r.split()[1:4] == ["evaluate", "Job", "Suspended"] for r in rows)

        await eventually(agent_has_it, what="the job reaches the local runtime")
        rc, _, err = await asyncio.to_thread(
            run_cli, ["jobs", "run", "evaluate", "-p", "datasett=x"]
        )
        assert rc == 2 and "did you mean 'dataset'" in err
        out = await cli("jobs", "run", "evaluate", "-p", "dataset=gsm8k", "--wait")
        name = out.split()[2].split("/")[1].rstrip(":")
        assert out.strip().endswith("Succeeded")
        assert (await cli("jobs", "logs", name)).splitlines() == ["dataset=gsm8k"]

        out = await cli("jobs", "run", "evaluate", "-p", "sleep=60")
        long_run = out.split()[2].split("/")[1]

        async def phase(run: str, want: str) -> bool:
            rows = (await cli("jobs", "runs", "evaluate")).splitlines()[1:]
            return any(r.split()[:2] == [run, want] for r in rows)

        await eventually(lambda: phase(long_run, "Running"), what="the long run is running")
        await cli("jobs", "stop", long_run)
        await eventually(lambda: phase(long_run, "Stopped"), what="the stop")
        rows = (await cli("jobs", "runs", "evaluate")).splitlines()
        assert len(rows) == 3 and all("user:admin" in r for r in rows[1:])
