"""Apply, apps and their immutable versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ironplane.api.common import MAX_ID, DiagnosticBody, Request, Response
from ironplane.api.identity import TokenCreated

Action = Literal["create", "update", "unchanged", "delete"]


class SourceText(Request):
    source: str = Field(min_length=1, max_length=1024, examples=["apps/chat.yaml"])
    """Where the text came from; error messages name it with the line and column."""
    content: str
    """YAML (or JSON) holding one or more spec documents."""


class ApplyRequest(Request):
    documents: list[SourceText] = Field(min_length=1, max_length=1000)
    default_workspace: str | None = Field(default=None, max_length=63)
    dry_run: bool = False
    diff: bool = False
    """Return a unified diff of each changed app's compiled manifests against its active version."""
    sync: str | None = Field(default=None, min_length=1, max_length=1024)
    """A source id (e.g. a git remote and directory). Apps applied earlier with the same id that
    are absent from this request are deleted."""


class Change(Response):
    kind: str
    name: str
    workspace: str | None = None
    action: Action
    version: int | None = None
    """The app's version after the change (apps only)."""
    cluster_revision: int | None = None
    diff: str | None = None
    agent_token: TokenCreated | None = None
    """Set once, when apply registered a new cluster."""


class ApplyResult(Response):
    dry_run: bool
    changes: list[Change]
    warnings: list[DiagnosticBody] = []


class AppStatusCondition(Response):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class AppStatusEvent(Response):
    at: float
    type: str = "Normal"
    reason: str = ""
    message: str = ""


class AnalysisMetricStatus(Response):
    name: str
    phase: str
    value: str | None = None
    message: str | None = None


class AnalysisStatus(Response):
    name: str
    phase: str
    metrics: list[AnalysisMetricStatus] = []
    message: str | None = None


class RolloutStatus(Response):
    """A canary or blue-green rollout as the agent sees it (Argo Rollouts)."""

    strategy: Literal["canary", "blue_green"]
    phase: str
    step: int | None = None
    steps: int | None = None
    canary_weight: int | None = None
    stable_weight: int | None = None
    paused: bool = False
    aborted: bool = False
    message: str | None = None
    stable_revision: str | None = None
    current_revision: str | None = None
    analysis: list[AnalysisStatus] = []


class ScalingStatus(Response):
    """The autoscaler's view (KEDA)."""

    min: int | None = None
    max: int | None = None
    current: int | None = None
    desired: int | None = None
    active: bool | None = None
    paused: bool = False
    message: str | None = None


class WeightsStatus(Response):
    """A weights download in flight: the app's ``fetch-weights`` init containers (the least
    advanced of its pods)."""

    done: int
    """Bytes downloaded."""
    total: int
    """Bytes to download."""
    rate: float = 0.0
    """Bytes per second."""
    eta: float | None = None
    """Seconds left at the current rate; None until a rate is known."""
    files_done: int = 0
    files_total: int = 0
    pods: int = 1
    """How many of the app's pods are downloading."""


class AppStatus(Response):
    """What the cluster's agent last reported for the app."""

    phase: str
    ready: int = 0
    desired: int = 0
    version: str | None = None
    conditions: list[AppStatusCondition] = []
    events: list[AppStatusEvent] = []
    error: str | None = None
    rollout: RolloutStatus | None = None
    scaling: ScalingStatus | None = None
    weights: WeightsStatus | None = None
    updated_at: datetime


class App(Response):
    workspace: str
    name: str
    kind: str
    active_version: int | None = None
    """None once the app is deleted; its history stays."""
    latest_version: int
    source: str | None = None
    created_at: datetime
    updated_at: datetime
    status: AppStatus | None = None


class VersionSummary(Response):
    workspace: str
    app: str
    number: int
    hash: str
    reason: Literal["apply", "rollback"]
    rollback_of: int | None = None
    author: str
    created_at: datetime
    cluster_revision: int
    active: bool = False


class Version(VersionSummary):
    spec: dict[str, Any]
    objects: list[dict[str, Any]]


class RollbackRequest(Request):
    to: int = Field(ge=1, le=MAX_ID)
    dry_run: bool = False


class AppDetail(Response):
    app: App
    active: Version | None = None
    versions: list[VersionSummary] = []


class AppLogs(Response):
    workspace: str
    app: str
    lines: list[str]


class Restarted(Response):
    restarted: str


class PromoteRequest(Request):
    full: bool = False
    """Skip the remaining steps (and analysis) and make the new version stable now."""


class RolloutAction(Response):
    workspace: str
    app: str
    action: Literal["promote", "abort", "restart"]
    message: str
