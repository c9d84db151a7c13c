"""The agent protocol: typed frames on one WebSocket, agent dials out to the control plane.

Every frame is one JSON text message, a struct tagged by ``type``. The session:

    agent                                   control plane
    Hello(applied_revision) ───────────────▶ authenticates the cluster token (HTTP header)
                            ◀─────────────── Welcome(revision, heartbeat)
                            ◀─────────────── Desired(full=True, ...)   when the agent is behind
    Ack(revision) ─────────────────────────▶ recorded once per (cluster, revision)
                            ◀─────────────── Desired(full=False, base_revision=N, ...) changes
    Status / Inventory ────────────────────▶ per-app status, node inventory
    Ping / Pong ◀─────────────────────────▶ both ways
                            ◀─────────────── Command(logs | restart)
    CommandResult ─────────────────────────▶

A delta whose ``base_revision`` is not what the agent applied last is answered with ``Resync``,
and the control plane sends the full state. Nothing depends on a frame arriving: an agent that
reconnects says what it applied, and the control plane sends what it lacks.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

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


class Status(Frame, tag="status", kw_only=True):
    apps: list[AppStatus]
    full: bool = True
    """True: ``apps`` is every app the agent knows (apps absent from it have no status)."""


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


class Ping(Frame, tag="ping", kw_only=True):
    at: float


class Pong(Frame, tag="pong", kw_only=True):
    at: float


class Command(Frame, tag="command", kw_only=True):
    id: str
    op: Literal["logs", "restart"]
    workspace: str
    app: str
    lines: int = 100


class CommandResult(Frame, tag="command_result", kw_only=True):
    id: str
    ok: bool
    lines: list[str] = []
    error: str | None = None


class Error(Frame, tag="error", kw_only=True):
    code: str
    message: str


AgentFrame = Hello | Resync | Ack | Status | Inventory | Ping | Pong | CommandResult | Error
ServerFrame = Welcome | Desired | Ping | Pong | Command | Error


class _Tag(msgspec.Struct):
    type: str


_encoder = msgspec.json.Encoder()
_tag_decoder = msgspec.json.Decoder(_Tag)
_agent_decoder = msgspec.json.Decoder(AgentFrame)
_server_decoder = msgspec.json.Decoder(ServerFrame)
_AGENT_TAGS = frozenset(str(t.__struct_config__.tag) for t in AgentFrame.__args__)
_SERVER_TAGS = frozenset(str(t.__struct_config__.tag) for t in ServerFrame.__args__)


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
