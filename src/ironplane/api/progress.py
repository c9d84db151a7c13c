"""How far a workspace's cluster has come with what was applied: what ``apply`` waits on."""

from __future__ import annotations

from ironplane.api.apps import AppStatus
from ironplane.api.common import Response


class AppProgress(Response):
    name: str
    kind: str
    active_version: int | None = None
    """None once the app is deleted."""
    cluster_revision: int | None = None
    """The cluster revision that carries the active version (the agent has it once its
    ``applied_revision`` reaches this)."""
    version_label: str | None = None
    """The ``ironplane.dev/version`` label of the active version's objects: the agent's
    ``status.version`` equals it once it reports on this version."""
    status: AppStatus | None = None
    """What the agent last reported (None before its first report on the app)."""


class WorkspaceProgress(Response):
    workspace: str
    cluster: str
    revision: int
    """The cluster's desired-state revision now."""
    applied_revision: int
    """The last revision the cluster's agent acknowledged as applied."""
    agent_connected: bool
    failed_revision: int | None = None
    """A revision above ``applied_revision`` that the agent failed to apply (the newest)."""
    failed_error: str | None = None
    """The agent's error for ``failed_revision``."""
    apps: list[AppProgress] = []
