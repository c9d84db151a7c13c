"""The runtime as a whole: lifecycle, passive objects, probes, inventory, clean shutdown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ironplane.agent.local import LocalRuntime
from ironplane.agent.runtime import Runtime, RuntimeError_
from ironplane.core.errors import NotFoundError
from tests.ports import free_port

from .helpers import PY, alive, deployment, phase_is, secret, service, status_of, until

pytestmark = pytest.mark.anyio

# A process that starts a child of its own, and both ignore SIGTERM.
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


async def test_close_leaves_no_process_behind(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, probe_interval_s=0.05, ready_without_probe_s=0.1)
    runtime_protocol: Runtime = runtime
    assert runtime_protocol.name == "local"
    await runtime.start()
    await runtime.start()  # idempotent
    await runtime.converge(
        [
            deployment("stubborn", [PY, "-c", STUBBORN], replicas=2, grace=1),
            deployment("plain", ["sh", "-c", "sleep 60 & echo $!; sleep 60"]),
        ]
    )

    async def grandchildren() -> list[int]:
        lines = await runtime.logs("dev", "stubborn", 10) + await runtime.logs("dev", "plain", 1)
        return [int(line.split()[-1]) for line in lines] if len(lines) == 3 else []

    def children() -> list[int]:
        found = runtime.pids("dev", "stubborn") + runtime.pids("dev", "plain")
        return found if len(found) == 3 else []

    pids = await until(children, what="three processes")
    pids += await until(grandchildren, what="the grandchildren's pids")
    assert len(set(pids)) == 6 and all(alive(pid) for pid in pids)
    started = time.monotonic()
    await runtime.close()
    assert time.monotonic() - started < 5  # SIGKILL after the 1 s grace period
    assert not [pid for pid in pids if alive(pid)]
    assert await runtime.statuses() == []
    await runtime.close()  # idempotent


async def test_passive_objects_and_unknown_kinds(runtime: LocalRuntime) -> None:
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "dev",
                "labels": {
                    "ironplane.dev/app": "dev",
                    "ironplane.dev/workspace": "dev",
                    "ironplane.dev/kind": "workspace",
                    "ironplane.dev/version": "w1",
                },
            },
        },
        secret("creds", {"k": "v"}),
        service("api", free_port()),
        {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}},
    ]
    await runtime.converge(objects)
    statuses = {s.app: s for s in await runtime.statuses()}
    assert set(statuses) == {"dev", "api"}
    assert statuses["dev"].kind == "workspace" and statuses["dev"].version == "w1"
    assert statuses["api"].phase == "Running" and statuses["api"].desired == 0
    assert await runtime.logs("dev", "api", 10) == []
    await runtime.restart("dev", "api")  # nothing to restart: no error
    with pytest.raises(NotFoundError):
        await runtime.logs("dev", "missing", 10)


async def test_changed_is_set_on_status_changes(runtime: LocalRuntime) -> None:
    runtime.changed.clear()
    await runtime.converge([deployment("w", [PY, "-c", "import time; time.sleep(30)"])])
    assert runtime.changed.is_set()
    runtime.changed.clear()
    await until(runtime.changed.is_set, what="a change after start")  # becoming ready
    status = await phase_is(runtime, "w", "Running")
    assert [e.reason for e in status.events][:2] == ["Started", "Ready"]


async def test_pending_until_ready_then_tcp_and_exec_probes(runtime: LocalRuntime) -> None:
    port = free_port()
    marker = runtime.root / "ready-flag"
    tcp_app = deployment(
        "tcp",
        [PY, "-m", "http.server", "$(PORT)", "--bind", "127.0.0.1"],
        port=port,
        probe={"tcpSocket": {"port": port}, "initialDelaySeconds": 0},
    )
    exec_app = deployment(
        "exec",
        [PY, "-c", "import time; time.sleep(30)"],
        probe={"exec": {"command": ["test", "-e", str(marker)]}, "periodSeconds": 0.05},
    )
    await runtime.converge([tcp_app, exec_app])
    await phase_is(runtime, "tcp", "Running")
    await until(lambda: runtime.pids("dev", "exec"), what="the exec app's process")
    status = await status_of(runtime, "exec")
    assert status.phase == "Pending" and status.ready == 0
    marker.touch()
    await phase_is(runtime, "exec", "Running")
    # the probe failing again makes the replica not ready: Progressing, with an event
    marker.unlink()
    status = await phase_is(runtime, "exec", "Progressing")
    assert any(e.reason == "Unhealthy" for e in status.events)


async def test_unknown_executable_is_degraded(runtime: LocalRuntime) -> None:
    await runtime.converge([deployment("ghost", ["/nonexistent/ironplane-test-binary"])])
    status = await phase_is(runtime, "ghost", "Degraded")
    assert "cannot start '/nonexistent/ironplane-test-binary'" in (status.error or "")
    assert any(e.reason == "FailedStart" for e in status.events)


async def test_inventory_without_nvidia_smi(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    (node,) = await runtime.inventory()
    assert node.ready and node.allocatable_gpus == 0
    assert node.labels["kubernetes.io/hostname"] == node.name
    assert node.labels["kubernetes.io/os"] == "linux"
    assert node.labels["kubernetes.io/arch"] in ("amd64", "arm64")


async def test_inventory_counts_gpus(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: a)'\necho 'GPU 1: NVIDIA H100 (UUID: b)'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    (node,) = await runtime.inventory()
    assert node.allocatable_gpus == 2 and node.gpu_resource == "nvidia.com/gpu"


async def test_converge_rejects_what_is_not_an_object(runtime: LocalRuntime) -> None:
    with pytest.raises(RuntimeError_, match="not a Kubernetes object"):
        await runtime.converge(["nonsense"])  # type: ignore[list-item]
