"""The agent protocol: typed frames on one WebSocket, agent dials out to the control plane.

Every frame is one JSON text message, a struct tagged by ``type``. The session:

    agent                                   control plane
    Hello(applied_revision) ───────────────▶ authenticates the cluster token (HTTP header)
                            ◀─────────────── Welcome(revision, heartbeat)
                            ◀─────────────── Desired(full=True, ...)   when the agent is behind
    Ack(revision) ─────────────────────────▶ recorded once per (cluster, revision)
                            ◀─────────────── Desired(full=False, base_revision=N, ...) changes
    Status / Inventory ────────────────────▶ per-app status, node inventory
    Metrics ───────────────────────────────▶ GPU and request telemetry (from Prometheus)
    Ping / Pong ◀─────────────────────────▶ both ways
                            ◀─────────────── Command(logs | restart | promote | abort |
                                                     run | stop | run_logs)
    CommandResult ─────────────────────────▶

A delta whose ``base_revision`` is not what the agent applied last is answered with ``Resync``,
and the control plane sends the full state. Nothing depends on a frame arriving: an agent that
reconnects says what it applied, and the control plane sends what it lacks.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ironplane.wire.pull_progress import WeightsProgress

PROTOCOL_VERSION = 1
Object = dict[str, Any]

Phase = Literal[
    "Pending",
    "Progressing",
    "Running",
    "Succeeded",
    "Failed",
    "Degraded",
    "Suspended",
    "NotRunnable",
    "Unknown",
]


class Frame(msgspec.Struct, tag_field="type", forbid_unknown_fields=False, kw_only=True):
    """Base of every frame; unknown fields are ignored so that newer peers stay compatible."""


class Hello(Frame, tag="hello", kw_only=True):
    protocol: int = PROTOCOL_VERSION
    agent_version: str
    runtime: str
    """``kubernetes`` or ``local``."""
    applied_revision: int = 0
    applied_hash: str | None = None


class Welcome(Frame, tag="welcome", kw_only=True):
    protocol: int = PROTOCOL_VERSION
    cluster: str
    revision: int
    heartbeat_s: float
    prometheus_url: str | None = None
    """The cluster's Prometheus (``Cluster.prometheus_url``) when the Cluster declares the
    ``prometheus`` add-on, else None: where the agent reads GPU and request telemetry unless its
    own ``IRONPLANE_PROMETHEUS_URL`` says otherwise. Older agents ignore it."""


class Desired(Frame, tag="desired", kw_only=True):
    """The cluster's desired state at ``revision``: all of it (``full``) or the changes since
    ``base_revision``: objects to apply and identities (``wire.manifests.identity``) to delete."""

    revision: int
    hash: str
    """Content hash of the whole desired state at ``revision``."""
    full: bool
    objects: list[Object] = []
    deletes: list[str] = []
    base_revision: int | None = None


class Resync(Frame, tag="resync", kw_only=True):
    """Agent: send me the full state (a delta did not fit what I applied)."""

    applied_revision: int


class Ack(Frame, tag="ack", kw_only=True):
    revision: int
    hash: str
    ok: bool = True
    error: str | None = None


class Condition(msgspec.Struct, kw_only=True):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class Event(msgspec.Struct, kw_only=True):
    at: float
    """Unix time."""
    type: str = "Normal"
    reason: str = ""
    message: str = ""


class AnalysisMetric(msgspec.Struct, kw_only=True):
    """One metric of an analysis run (an Argo ``AnalysisRun``'s ``status.metricResults``)."""

    name: str
    phase: str
    """Pending | Running | Successful | Failed | Error | Inconclusive."""
    value: str | None = None
    """The last measured value, as Argo records it."""
    message: str | None = None


class AnalysisInfo(msgspec.Struct, kw_only=True):
    name: str
    phase: str
    metrics: list[AnalysisMetric] = []
    message: str | None = None


class RolloutInfo(msgspec.Struct, kw_only=True):
    """Where a canary or blue-green rollout stands (an Argo ``Rollout``'s status)."""

    strategy: Literal["canary", "blue_green"]
    phase: str
    """Argo's phase: Healthy | Progressing | Paused | Degraded."""
    step: int | None = None
    """Canary: the index of the current step (``status.currentStepIndex``)."""
    steps: int | None = None
    """Canary: how many steps the strategy has."""
    canary_weight: int | None = None
    """Percent of traffic on the new version (canary)."""
    stable_weight: int | None = None
    paused: bool = False
    """Waiting at a pause step or for a manual promote."""
    aborted: bool = False
    message: str | None = None
    stable_revision: str | None = None
    """Pod template hash of the stable ReplicaSet."""
    current_revision: str | None = None
    """Pod template hash of the newest ReplicaSet (the canary, or the blue-green preview)."""
    analysis: list[AnalysisInfo] = []


class ScalingInfo(msgspec.Struct, kw_only=True):
    """The autoscaler's view (a KEDA ``ScaledObject`` and the HPA it drives)."""

    min: int | None = None
    max: int | None = None
    current: int | None = None
    desired: int | None = None
    active: bool | None = None
    """KEDA's ``Active`` condition: a trigger is above its activation threshold."""
    paused: bool = False
    message: str | None = None


class AppStatus(msgspec.Struct, kw_only=True):
    """What is really running for one app, the same shape from every runtime."""

    workspace: str
    app: str
    kind: str
    phase: Phase
    ready: int = 0
    desired: int = 0
    version: str | None = None
    """The ownership label ``ironplane.dev/version`` of the objects seen."""
    conditions: list[Condition] = []
    events: list[Event] = []
    error: str | None = None
    rollout: RolloutInfo | None = None
    scaling: ScalingInfo | None = None
    weights: WeightsProgress | None = None
    """A weights download in flight (the ``fetch-weights`` init container's progress)."""


RunPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Stopped", "Unknown"]


class RunStatus(msgspec.Struct, kw_only=True):
    """One run of a Job: an Argo ``Workflow``, a batch ``Job`` made from the job's template, or
    a local process run. ``id`` is the run's name (the control plane's id for runs it started,
    the runtime's name for scheduled runs)."""

    id: str
    workspace: str
    job: str
    phase: RunPhase
    started_at: float | None = None
    """Unix time."""
    finished_at: float | None = None
    message: str | None = None
    scheduled: bool = False
    """Started by the job's schedule rather than by ``jobs run``."""


class Status(Frame, tag="status", kw_only=True):
    apps: list[AppStatus]
    full: bool = True
    """True: ``apps`` is every app the agent knows (apps absent from it have no status)."""
    runs: list[RunStatus] = []
    """The job runs the runtime knows (recent and active), whatever ``full`` says."""


class NodeInfo(msgspec.Struct, kw_only=True):
    name: str
    labels: dict[str, str] = {}
    ready: bool = True
    allocatable_gpus: int = 0
    gpu_resource: str | None = None
    used_gpus: int = 0
    """GPUs requested by Ironplane's running pods on the node (pods it does not own are not
    counted: the agent watches only its own)."""


class Inventory(Frame, tag="inventory", kw_only=True):
    nodes: list[NodeInfo]


TelemetryScope = Literal["node", "app"]


class Sample(msgspec.Struct, kw_only=True):
    """One value of one telemetry series at the frame's time. ``node`` samples name ``node``;
    ``app`` samples name ``workspace`` and ``app``. ``labels``: further dimensions (none yet)."""

    scope: TelemetryScope
    name: str
    """``gpu_utilization``, ``gpu_memory_used_bytes``, ``requests_per_second``... (the list is
    in docs/observability.md)."""
    value: float
    node: str | None = None
    workspace: str | None = None
    app: str | None = None
    labels: dict[str, str] = {}


class Metrics(Frame, tag="metrics", kw_only=True):
    """Telemetry the agent read from the cluster's Prometheus (GPU use per node and per app,
    request rate, errors and latency per app). A control plane that does not know this frame
    type ignores it."""

    at: float
    """Unix time of the queries."""
    samples: list[Sample] = []


class Ping(Frame, tag="ping", kw_only=True):
    at: float


class Pong(Frame, tag="pong", kw_only=True):
    at: float


CommandOp = Literal["logs", "restart", "promote", "abort", "run", "stop", "run_logs"]


class Command(Frame, tag="command", kw_only=True):
    """An on-demand request. ``logs``/``restart``: the app. ``promote`` (``full``: skip the
    remaining steps) / ``abort``: the app's rollout. ``run``: start run ``run`` of job ``app``
    with ``params``. ``stop`` / ``run_logs``: run ``run`` of job ``app``."""

    id: str
    op: CommandOp
    workspace: str
    app: str
    lines: int = 100
    run: str | None = None
    params: dict[str, str] = {}
    full: bool = False
    request_id: str | None = None
    """The control-plane request that asked for it: the agent's log lines about the command
    carry it (older agents ignore it)."""


class CommandResult(Frame, tag="command_result", kw_only=True):
    """``error`` starting ``not_found:`` means the app or run does not exist; starting
    ``unsupported:`` means the runtime cannot do it (the rest says why)."""

    id: str
    ok: bool
    lines: list[str] = []
    error: str | None = None
    message: str | None = None


class Error(Frame, tag="error", kw_only=True):
    code: str
    message: str


AgentFrame = (
    Hello | Resync | Ack | Status | Inventory | Metrics | Ping | Pong | CommandResult | Error
)
ServerFrame = Welcome | Desired | Ping | Pong | Command | Error


class _Tag(msgspec.Struct):
    type: str


_encoder = msgspec.json.Encoder()
_tag_decoder = msgspec.json.Decoder(_Tag)
_agent_decoder = msgspec.json.Decoder(AgentFrame)
_server_decoder = msgspec.json.Decoder(ServerFrame)


def tag_of(frame: type[Frame] | Frame | None) -> str:
    """A frame's ``type`` tag (of a frame or a frame class), ``"unknown"`` for none: the label of
    the frame counters on both ends."""
    if frame is None:
        return "unknown"
    cls = frame if isinstance(frame, type) else type(frame)
    return str(cls.__struct_config__.tag)


_AGENT_TAGS = frozenset(tag_of(t) for t in AgentFrame.__args__)
_SERVER_TAGS = frozenset(tag_of(t) for t in ServerFrame.__args__)


def encode(frame: Frame) -> str:
    return _encoder.encode(frame).decode()


def decode_agent_frame(data: str | bytes) -> AgentFrame | None:
    """The frame, or None for a frame type this revision does not know (a newer peer's: ignore
    it). Raises ``msgspec.DecodeError`` / ``msgspec.ValidationError`` on a malformed frame."""
    if _tag_decoder.decode(data).type not in _AGENT_TAGS:
        return None
    return _agent_decoder.decode(data)


def decode_server_frame(data: str | bytes) -> ServerFrame | None:
    """As ``decode_agent_frame``, for frames the control plane sends."""
    if _tag_decoder.decode(data).type not in _SERVER_TAGS:
        return None
    return _server_decoder.decode(data)
