"""Objects shaped like the compiler's output, and polling helpers for real processes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from ironplane.agent.local import LocalRuntime
from ironplane.wire.agent_protocol import AppStatus
from ironplane.wire.jobs import COMMAND_ANNOTATION, PARAM_REF, PARAMS_ANNOTATION

PY = sys.executable
T = TypeVar("T")


def labels(app: str, ws: str, kind: str, version: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "ironplane",
        "app.kubernetes.io/name": app,
        "ironplane.dev/app": app,
        "ironplane.dev/kind": kind,
        "ironplane.dev/version": version,
        "ironplane.dev/workspace": ws,
    }


def container(
    command: list[str] | None,
    *,
    args: list[str] | None = None,
    port: int | None = None,
    env: list[dict[str, Any]] | None = None,
    probe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"name": "main", "image": "registry.example.com/app:1.0"}
    if command is not None:
        result["command"] = command
    if args:
        result["args"] = args
    if env:
        result["env"] = env
    if port is not None:
        result["ports"] = [{"name": f"http-{port}", "containerPort": port, "protocol": "TCP"}]
    if probe is not None:
        result["readinessProbe"] = probe
    return result


def deployment(
    app: str,
    command: list[str] | None,
    *,
    ws: str = "dev",
    replicas: int = 1,
    version: str = "v1",
    grace: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": app,
        "enableServiceLinks": False,
        "containers": [container(command, **kwargs)],
    }
    if grace is not None:
        pod["terminationGracePeriodSeconds"] = grace
    meta_labels = labels(app, ws, "service", version)
    template_labels = {k: v for k, v in meta_labels.items() if k != "ironplane.dev/version"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": ws, "labels": meta_labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"ironplane.dev/app": app}},
            "template": {"metadata": {"labels": template_labels}, "spec": pod},
        },
    }


def http_server(app: str, port: int, **kwargs: Any) -> dict[str, Any]:
    """A Deployment serving HTTP on $(PORT), with an httpGet probe on the named port."""
    return deployment(
        app,
        [PY, "-m", "http.server", "$(PORT)", "--bind", "127.0.0.1"],
        port=port,
        probe={"httpGet": {"path": "/", "port": f"http-{port}"}},
        **kwargs,
    )


def service(app: str, port: int, *, ws: str = "dev", version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": ws, "labels": labels(app, ws, "service", version)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"ironplane.dev/app": app},
            "ports": [{"name": f"http-{port}", "port": port, "targetPort": f"http-{port}"}],
        },
    }


def secret(name: str, data: dict[str, str], *, ws: str = "dev") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ws, "labels": labels(ws, ws, "workspace", "v1")},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _job_spec(
    app: str, ws: str, command: list[str], backoff_limit: int, deadline: int | None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "template": {
            "metadata": {"labels": {"ironplane.dev/app": app, "ironplane.dev/workspace": ws}},
            "spec": {"restartPolicy": "Never", "containers": [container(command)]},
        },
    }
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return spec


def job(
    app: str,
    command: list[str],
    *,
    ws: str = "dev",
    backoff_limit: int = 0,
    deadline: int | None = None,
    version: str = "v1",
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": app, "namespace": ws, "labels": labels(app, ws, "job", version)},
        "spec": _job_spec(app, ws, command, backoff_limit, deadline),
    }


def cronjob(
    app: str,
    command: list[str],
    *,
    schedule: str = "* * * * *",
    ws: str = "dev",
    suspend: bool = False,
    policy: str = "Forbid",
    backoff_limit: int = 0,
    deadline: int | None = None,
    version: str = "v1",
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": app, "namespace": ws, "labels": labels(app, ws, "job", version)},
        "spec": {
            "schedule": schedule,
            "suspend": suspend,
            "concurrencyPolicy": policy,
            "jobTemplate": {
                "metadata": {"labels": labels(app, ws, "job", version)},
                "spec": _job_spec(app, ws, command, backoff_limit, deadline),
            },
        },
    }


async def until(
    check: Callable[[], T | Awaitable[T]], *, timeout: float = 10.0, what: str = "condition"
) -> T:
    """Poll ``check`` every 20 ms until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def status_of(runtime: LocalRuntime, app: str, ws: str = "dev") -> AppStatus:
    for found in await runtime.statuses():
        if (found.workspace, found.app) == (ws, app):
            return found
    raise AssertionError(f"no status for {ws}/{app}")


async def phase_is(runtime: LocalRuntime, app: str, phase: str, ws: str = "dev") -> AppStatus:
    async def check() -> AppStatus | None:
        found = await status_of(runtime, app, ws)
        return found if found.phase == phase else None

    return await until(check, what=f"{ws}/{app} to be {phase}")


async def http_status(port: int) -> int | None:
    """The HTTP status of GET / on 127.0.0.1:port, or None when nothing answers."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 2)
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 else None


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def job_template(
    app: str,
    command: list[str],
    *,
    args: list[str] | None = None,
    params: list[tuple[str, str | None]] | None = None,
    schedule: str | None = None,
    annotate: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """A Job's batch CronJob as the compiler makes it (``wire.jobs``): suspended without a
    schedule, defaults filled into the pod's command and args (params without one left as
    ``{{name}}``), the params and the raw command in annotations."""
    declared = params or []
    values = {name: default for name, default in declared if default is not None}

    def fill(words: list[str]) -> list[str]:
        return [PARAM_REF.sub(lambda m: values.get(m.group(1), m.group(0)), w) for w in words]

    obj = cronjob(
        app,
        fill(command),
        schedule=schedule or "@yearly",
        suspend=schedule is None,
        **kwargs,
    )
    if args is not None:
        pod = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        pod["containers"][0]["args"] = fill(args)
    if annotate:
        obj["metadata"]["annotations"] = {
            PARAMS_ANNOTATION: json.dumps(
                [{"default": default, "name": name} for name, default in declared]
            ),
            COMMAND_ANNOTATION: json.dumps({"args": args, "command": command}),
        }
    return obj
