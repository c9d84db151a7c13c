"""Turn desired Kubernetes objects into local workload definitions.

Only owned workloads run: a Deployment (``apps/v1``), Job or CronJob (``batch/v1``) with the
ownership labels ``ironplane.dev/workspace`` and ``ironplane.dev/app``. Its first container is the
process: ``command + args`` with Kubernetes ``$(VAR)`` expansion, the container's ``env`` and
``envFrom`` (values, Secrets and ConfigMaps of the same set) and ``PORT``. What cannot run becomes
a ``Problem`` that the status reports instead of a process; so does every other owned object
that is not merely kept (``kinds``): its definition has ``api_kind`` ``Other``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from ironplane.agent.local.env import ConfigError, Sources, expand, resolve_env
from ironplane.agent.local.kinds import not_runnable
from ironplane.agent.local.runs import RunTemplate, TemplateError, run_template
from ironplane.agent.runtime import APP, KIND, VERSION, WORKSPACE
from ironplane.core.cron import CronError, CronSchedule
from ironplane.wire.agent_protocol import Object
from ironplane.wire.manifests import identity

DEFAULT_GRACE_S = 10.0
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_json = msgspec.json.Encoder(order="sorted")
WorkloadKind = Literal["Deployment", "Job", "CronJob", "Other"]
_WORKLOADS: Mapping[tuple[str, str], WorkloadKind] = {
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
}


@dataclass(frozen=True)
class Problem:
    phase: Literal["NotRunnable", "Failed"]
    reason: str
    message: str


@dataclass(frozen=True)
class ProbeDef:
    action: Literal["http", "tcp", "exec"]
    port: int | None = None
    """The declared port (a port name already resolved to its number)."""
    path: str = "/"
    host: str = "127.0.0.1"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    initial_delay_s: float = 0.0
    period_s: float | None = None
    """None: the runtime's ``probe_interval_s``."""
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class ContainerDef:
    name: str
    argv: tuple[str, ...]
    """``command + args``, not yet expanded."""
    env: tuple[tuple[str, str], ...]
    """Resolved values in order, not yet expanded."""
    ports: tuple[int, ...]
    readiness: ProbeDef | None
    grace_s: float


@dataclass(frozen=True)
class WorkloadDef:
    identity: str
    api_kind: WorkloadKind
    namespace: str
    name: str
    workspace: str
    app: str
    kind: str
    """The ``ironplane.dev/kind`` label (``service``, ``model``, ``job``…)."""
    version: str | None
    fingerprint: str
    """Changes when the processes must be replaced (version label or pod template)."""
    container: ContainerDef | None = None
    problem: Problem | None = None
    replicas: int = 1
    backoff_limit: int = 6
    deadline_s: float | None = None
    schedule: CronSchedule | None = None
    suspend: bool = False
    concurrency: str = "Allow"
    time_zone: zoneinfo.ZoneInfo | None = None
    notes: tuple[str, ...] = ()
    """Warnings to record as events when the workload starts."""
    template: RunTemplate = field(default_factory=RunTemplate)
    """A CronJob's params and raw command for manual runs (``runs.run_template``)."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one process."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    port: int | None
    port_map: dict[int, int] = field(default_factory=dict)
    """Declared container port → the port this process really uses."""
    readiness: ProbeDef | None = None
    grace_s: float = DEFAULT_GRACE_S


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata")
    found = meta.get("labels") if isinstance(meta, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def owner(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(workspace, app) from the ownership labels, when both are present and path-safe."""
    found = labels(obj)
    workspace, app = found.get(WORKSPACE, ""), found.get(APP, "")
    if _NAME.match(workspace) and _NAME.match(app):
        return workspace, app
    return None


def launch_spec(container: ContainerDef, cwd: Path, port: int | None) -> LaunchSpec:
    """The process for one replica: this process's environment, ``PYTHONUNBUFFERED=1`` unless
    set, the container's env, and ``PORT`` = ``port`` (overriding a declared ``PORT``)."""
    values: dict[str, str] = {} if port is None else {"PORT": str(port)}
    for name, value in container.env:
        values[name] = expand(value, values)
    if port is not None:
        values["PORT"] = str(port)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # Python output reaches the logs as it is written
    env.update(values)
    port_map = {container.ports[0]: port} if container.ports and port is not None else {}
    return LaunchSpec(
        argv=tuple(expand(arg, values) for arg in container.argv),
        env=env,
        cwd=cwd,
        port=port,
        port_map=port_map,
        readiness=container.readiness,
        grace_s=container.grace_s,
    )


def _number(value: Any, what: str, minimum: float = 0) -> float | None:
    """``value`` as a float (None when absent); raises ``ConfigError`` for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{what} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _probe(raw: Any, ports: Mapping[str, int]) -> ProbeDef | None:
    if not isinstance(raw, Mapping):
        return None

    def port_of(action: Mapping[str, Any]) -> int:
        port = action.get("port")
        if isinstance(port, str) and not port.isdigit():
            if port not in ports:
                raise ConfigError(f"readinessProbe: port {port!r} is not a declared port name")
            return ports[port]
        if isinstance(port, bool) or not isinstance(port, int | str):
            raise ConfigError(f"readinessProbe: port {port!r} is not a port")
        return int(port)

    timing = ProbeDef(
        "exec",
        initial_delay_s=_or(_number(raw.get("initialDelaySeconds"), "initialDelaySeconds"), 0),
        period_s=_number(raw.get("periodSeconds"), "periodSeconds", 0.001),
        timeout_s=_or(_number(raw.get("timeoutSeconds"), "timeoutSeconds", 0.001), 1),
        success_threshold=int(_or(_number(raw.get("successThreshold"), "successThreshold", 1), 1)),
        failure_threshold=int(_or(_number(raw.get("failureThreshold"), "failureThreshold", 1), 3)),
    )
    if isinstance(raw.get("httpGet"), Mapping):
        http = raw["httpGet"]
        headers = tuple(
            (str(h.get("name", "")), str(h.get("value", ""))) for h in http.get("httpHeaders") or []
        )
        return dataclasses.replace(
            timing,
            action="http",
            port=port_of(http),
            path=str(http.get("path") or "/"),
            host=str(http.get("host") or "127.0.0.1"),
            scheme=str(http.get("scheme") or "HTTP").upper(),
            headers=headers,
        )
    if isinstance(raw.get("tcpSocket"), Mapping):
        tcp = raw["tcpSocket"]
        return dataclasses.replace(
            timing, action="tcp", port=port_of(tcp), host=str(tcp.get("host") or "127.0.0.1")
        )
    if isinstance(raw.get("exec"), Mapping):
        command = tuple(str(a) for a in raw["exec"].get("command") or [])
        if not command:
            raise ConfigError("readinessProbe: exec has no command")
        return dataclasses.replace(timing, command=command)
    raise ConfigError("readinessProbe: expected httpGet, tcpSocket or exec")


def _container(
    pod: Mapping[str, Any], namespace: str, name: str, sources: Sources
) -> ContainerDef | Problem:
    where = f"{namespace}/{name}"
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        return Problem("Failed", "InvalidSpec", f"{where}: the pod template has no containers")
    container = containers[0]
    cname = str(container.get("name", "main"))
    command = container.get("command")
    if not command:
        return Problem(
            "NotRunnable",
            "NoCommand",
            f"{where}: container {cname!r} has no `command`: the local runtime runs commands, "
            "not images; add `command:` to the spec",
        )
    ports: list[int] = []
    names: dict[str, int] = {}
    try:
        for port in container.get("ports") or []:
            number = int(port["containerPort"])
            ports.append(number)
            if port.get("name"):
                names[str(port["name"])] = number
        grace = _number(pod.get("terminationGracePeriodSeconds"), "terminationGracePeriodSeconds")
        return ContainerDef(
            name=cname,
            argv=tuple(str(a) for a in [*command, *(container.get("args") or [])]),
            env=resolve_env(container, namespace, name, sources),
            ports=tuple(ports),
            readiness=_probe(container.get("readinessProbe"), names),
            grace_s=DEFAULT_GRACE_S if grace is None else grace,
        )
    except ConfigError as exc:
        return Problem("Failed", "CreateContainerConfigError", f"{where}: {exc}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return Problem("Failed", "InvalidSpec", f"{where}: malformed container: {exc!r}")


def _fingerprint(version: str | None, part: Any) -> str:
    data = _json.encode({"version": version, "part": part})
    return hashlib.sha256(data).hexdigest()[:16]


def _definition(obj: Object, kind: WorkloadKind, sources: Sources) -> WorkloadDef | None:
    who = owner(obj)
    if who is None:
        return None
    meta = obj.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "default")), str(meta.get("name", ""))
    found = labels(obj)
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    version = found.get(VERSION)
    base: dict[str, Any] = {
        "identity": identity(obj),
        "api_kind": kind,
        "namespace": namespace,
        "name": name,
        "workspace": who[0],
        "app": who[1],
        "kind": found.get(KIND, kind.lower()),
        "version": version,
    }
    where = f"{kind} {namespace}/{name}"
    try:
        if kind == "Deployment":
            template = spec.get("template") or {}
            replicas = spec.get("replicas", 1)
            if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
                raise ConfigError(f"spec.replicas must be a count, got {replicas!r}")
            extra: dict[str, Any] = {"replicas": replicas}
            job: Mapping[str, Any] = {}
            fingerprint = _fingerprint(version, template)
        else:
            notes: list[str] = []
            if kind == "CronJob":
                job = (spec.get("jobTemplate") or {}).get("spec") or {}
                fingerprint = _fingerprint(version, spec.get("jobTemplate"))
                extra = {
                    "schedule": CronSchedule.parse(str(spec.get("schedule", ""))),
                    "suspend": bool(spec.get("suspend", False)),
                    "concurrency": str(spec.get("concurrencyPolicy", "Allow")),
                }
                if extra["concurrency"] not in ("Allow", "Forbid", "Replace"):
                    raise ConfigError(f"concurrencyPolicy {extra['concurrency']!r} is unknown")
                annotations = meta.get("annotations") or {}
                if not isinstance(annotations, Mapping):
                    raise ConfigError("metadata.annotations must be a map")
                extra["template"] = run_template(annotations)
                if spec.get("timeZone"):
                    try:
                        extra["time_zone"] = zoneinfo.ZoneInfo(str(spec["timeZone"]))
                    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                        notes.append(
                            f"timeZone {spec['timeZone']!r} is not known on this machine; "
                            "the schedule uses local time"
                        )
            else:
                job = spec
                fingerprint = _fingerprint(version, spec)
                extra = {}
            extra["backoff_limit"] = int(_or(_number(job.get("backoffLimit"), "backoffLimit"), 6))
            extra["deadline_s"] = _number(
                job.get("activeDeadlineSeconds"), "activeDeadlineSeconds", 0.001
            )
            extra["notes"] = tuple(notes)
            template = job.get("template") or {}
    except (ConfigError, CronError, TemplateError, AttributeError, TypeError, ValueError) as exc:
        if isinstance(exc, CronError):
            message = exc.message
        elif isinstance(exc, ConfigError | TemplateError):
            message = str(exc)
        else:
            message = f"malformed spec: {exc!r}"
        return WorkloadDef(
            **base,
            fingerprint=_fingerprint(version, spec),
            problem=Problem("Failed", "InvalidSpec", f"{where}: {message}"),
        )
    pod = template.get("spec") if isinstance(template, Mapping) else None
    container = _container(pod if isinstance(pod, Mapping) else {}, namespace, name, sources)
    if isinstance(container, Problem):
        return WorkloadDef(**base, fingerprint=fingerprint, problem=container, **extra)
    return WorkloadDef(**base, fingerprint=fingerprint, container=container, **extra)


def _other(obj: Object) -> WorkloadDef | None:
    """An owned object the local runtime cannot run, as a definition carrying why."""
    who = owner(obj)
    why = None if who is None else not_runnable(obj)
    if who is None or why is None:
        return None
    meta = obj.get("metadata") or {}
    found = labels(obj)
    version = found.get(VERSION)
    return WorkloadDef(
        identity=identity(obj),
        api_kind="Other",
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        workspace=who[0],
        app=who[1],
        kind=found.get(KIND, str(obj.get("kind", "")).lower()),
        version=version,
        fingerprint=_fingerprint(version, why),
        problem=Problem("NotRunnable", "NotRunLocally", why),
        replicas=0,
    )


def workload_defs(objects: Iterable[Object]) -> dict[str, WorkloadDef]:
    """The owned workloads among ``objects`` by identity, and the owned objects that cannot run
    locally (``api_kind`` ``Other``); the objects that are merely kept are left out."""
    objects = list(objects)
    sources = Sources(objects)
    result: dict[str, WorkloadDef] = {}
    for obj in objects:
        kind = _WORKLOADS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        definition = _definition(obj, kind, sources) if kind is not None else _other(obj)
        if definition is not None:
            result[definition.identity] = definition
    return result
