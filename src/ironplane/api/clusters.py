"""Clusters, workspaces, and the desired state an agent follows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ironplane.api.common import Response
from ironplane.api.identity import TokenCreated


class AgentState(Response):
    connected: bool = False
    last_seen_at: datetime | None = None
    applied_revision: int = 0
    """The last revision the agent acknowledged as applied."""
    version: str | None = None
    runtime: str | None = None


class Node(Response):
    name: str
    labels: dict[str, str] = {}
    ready: bool = True
    allocatable_gpus: int = 0
    gpu_resource: str | None = None
    used_gpus: int = 0
    """GPUs requested by the Ironplane pods running on the node."""


class Cluster(Response):
    name: str
    provider: str
    region: str | None = None
    enhanced: bool = False
    revision: int
    """The desired-state revision; it grows by one with every change the agent must follow."""
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    agent: AgentState = AgentState()
    nodes: list[Node] = []


class ClusterRegistered(Response):
    cluster: Cluster
    agent_token: TokenCreated
    """The token for this cluster's agent: scoped to this cluster alone, shown once."""


class Workspace(Response):
    name: str
    cluster: str
    namespace: str
    gpu: bool = False
    privileged: bool = False
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DesiredState(Response):
    cluster: str
    revision: int
    hash: str
    objects: list[dict[str, Any]]
