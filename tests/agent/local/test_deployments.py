"""Deployments run as real local processes: serving, scaling, replacing, crashing, stopping."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironplane.agent.local import LocalRuntime
from ironplane.core.errors import NotFoundError
from tests.ports import free_port

from .helpers import (
    PY,
    alive,
    deployment,
    http_server,
    http_status,
    phase_is,
    secret,
    service,
    status_of,
    until,
)

pytestmark = pytest.mark.anyio


async def test_http_service_runs_and_answers(runtime: LocalRuntime) -> None:
    port = free_port()
    objects = [service("web", port), http_server("web", port)]
    await runtime.converge(objects)
    status = await phase_is(runtime, "web", "Running")
    assert (status.ready, status.desired, status.kind, status.version) == (1, 1, "service", "v1")
    assert any(c.type == "Ready" and c.status == "True" for c in status.conditions)
    assert await http_status(port) == 200
    assert runtime.changed.is_set()

    # converging the same set again restarts nothing
    pids = runtime.pids("dev", "web")
    await runtime.converge(objects)
    assert runtime.pids("dev", "web") == pids
    assert (await status_of(runtime, "web")).phase == "Running"

    # removing the objects stops the processes; the app is forgotten
    await runtime.converge([])
    assert not alive(pids[0])
    assert await http_status(port) is None
    assert await runtime.statuses() == []
    with pytest.raises(NotFoundError):
        await runtime.logs("dev", "web", 10)


async def test_replicas_get_distinct_ports_and_scale(runtime: LocalRuntime) -> None:
    port = free_port()
    await runtime.converge([http_server("web", port, replicas=2)])
    status = await phase_is(runtime, "web", "Running")
    assert (status.ready, status.desired) == (2, 2)
    workload = next(iter(runtime._workloads.values()))
    ports = [replica.launch.port for replica in workload.replicas.values()]  # type: ignore[attr-defined]
    assert ports[0] == port and ports[1] not in (None, port)
    for p in ports:
        assert await http_status(p) == 200
    first = runtime.pids("dev", "web")

    # scale down: replica 1 stops, replica 0 stays
    await runtime.converge([http_server("web", port, replicas=1)])
    assert runtime.pids("dev", "web") == first[:1]
    assert not alive(first[1])
    assert await http_status(ports[1]) is None
    status = await phase_is(runtime, "web", "Running")
    assert (status.ready, status.desired) == (1, 1)

    # scale up again: a new process next to the old one
    await runtime.converge([http_server("web", port, replicas=2)])
    status = await phase_is(runtime, "web", "Running")
    now = runtime.pids("dev", "web")
    assert now[0] == first[0] and now[1] not in first
    assert any(e.reason == "Scaled" for e in status.events)


async def test_version_change_replaces_processes(runtime: LocalRuntime) -> None:
    port = free_port()
    await runtime.converge([http_server("web", port, version="v1")])
    await phase_is(runtime, "web", "Running")
    old = runtime.pids("dev", "web")

    await runtime.converge([http_server("web", port, version="v2")])
    status = await status_of(runtime, "web")
    assert status.phase in ("Progressing", "Running") and status.version == "v2"
    status = await phase_is(runtime, "web", "Running")
    new = runtime.pids("dev", "web")
    assert new and new != old and not alive(old[0])
    assert any(e.reason == "Replacing" for e in status.events)
    assert await http_status(port) == 200


async def test_restart_changes_pids(runtime: LocalRuntime) -> None:
    port = free_port()
    await runtime.converge([http_server("web", port)])
    await phase_is(runtime, "web", "Running")
    old = runtime.pids("dev", "web")
    await runtime.restart("dev", "web")
    status = await phase_is(runtime, "web", "Running")
    assert runtime.pids("dev", "web") != old
    assert any(e.reason == "Restarting" for e in status.events)
    with pytest.raises(NotFoundError):
        await runtime.restart("dev", "nope")


async def test_crash_loop_is_degraded_with_exit_codes(runtime: LocalRuntime) -> None:
    await runtime.converge([deployment("crash", [PY, "-c", "import sys; sys.exit(3)"])])
    status = await phase_is(runtime, "crash", "Degraded")

    async def restarted_thrice() -> bool:
        events = (await status_of(runtime, "crash")).events
        return sum(1 for e in events if e.reason == "Exited") >= 3

    await until(restarted_thrice, what="three exits")
    status = await status_of(runtime, "crash")
    delays = [e.message.rsplit(" ", 1)[1] for e in status.events if e.reason == "BackOff"]
    assert delays[:3] == ["0.05s", "0.1s", "0.1s"]  # the sequence, capped at its last value
    exits = [e for e in status.events if e.reason == "Exited"]
    assert all("exited with code 3" in e.message and e.type == "Warning" for e in exits)
    assert any(e.reason == "BackOff" for e in status.events)
    assert status.ready == 0 and "code 3" in (status.error or "")
    assert any(c.reason == "CrashLoopBackOff" for c in status.conditions)


async def test_missing_command_is_not_runnable(runtime: LocalRuntime) -> None:
    await runtime.converge([deployment("img", None)])
    status = await status_of(runtime, "img")
    assert status.phase == "NotRunnable"
    assert "has no `command`" in (status.error or "")
    assert "the local runtime runs commands, not images; add `command:` to the spec" in (
        status.error or ""
    )
    assert runtime.pids("dev", "img") == []
    assert not (runtime.root / "dev" / "img" / "0.log").exists()


async def test_secret_env_and_expansion(runtime: LocalRuntime) -> None:
    code = (
        "import os; print('KEY=' + os.environ['API_KEY'], flush=True); import time; time.sleep(30)"
    )
    env = [
        {"name": "GREETING", "value": "hi"},
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
    ]
    app = deployment("sec", [PY, "-c", code, "$(GREETING)", "$(NOPE)", "$$(GREETING)"], env=env)

    # without the Secret the replica cannot start: a clear error
    await runtime.converge([app])
    status = await status_of(runtime, "sec")
    assert status.phase == "Failed"
    assert "Secret dev/creds" in (status.error or "") and "not in the desired state" in (
        status.error or ""
    )
    assert runtime.pids("dev", "sec") == []

    # with it, the value reaches the process (and the next converge starts it)
    await runtime.converge([secret("creds", {"token": "s3cr3t"}), app])
    await until(lambda: runtime.pids("dev", "sec"), what="a process")

    async def logged() -> list[str]:
        return [line for line in await runtime.logs("dev", "sec", 10) if line.startswith("KEY=")]

    assert await until(logged, what="the secret in the log") == ["KEY=s3cr3t"]
    workload = next(iter(runtime._workloads.values()))
    argv = workload.replicas[0].launch.argv  # type: ignore[attr-defined]
    assert argv[3:] == ("hi", "$(NOPE)", "$(GREETING)")


async def test_backoff_starts_afresh_after_a_stable_run(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, restart_backoff=(0.05, 30), backoff_reset_s=0.2)
    try:
        code = "import sys, time; time.sleep(0.3); sys.exit(1)"
        await runtime.converge([deployment("flaky", [PY, "-c", code])])

        async def exits() -> list[str]:
            events = (await status_of(runtime, "flaky")).events
            backoffs = [e.message for e in events if e.reason == "BackOff"]
            return backoffs if len(backoffs) >= 3 else []

        backoffs = await until(exits, what="three exits")
        assert all(message.endswith("in 0.05s") for message in backoffs)
    finally:
        await runtime.close()
