"""``POST /clusters/{cluster}/bootstrap``: install a cluster's add-on stack through Argo CD."""

from __future__ import annotations

from pydantic import Field

from ironplane.api.common import Request, Response
from ironplane.spec.kinds.bootstrap import BootstrapSpec


class BootstrapRequest(Request):
    bootstrap: BootstrapSpec = Field(
        default_factory=BootstrapSpec,
        description="the Cluster's new bootstrap section (replaces the stored one)",
    )
    dry_run: bool = Field(default=False, description="report what would change; store nothing")


class BootstrapApplication(Response):
    """One Argo CD Application of the stack, as the root Application creates it."""

    name: str
    addon: str
    namespace: str
    source: str
    """``repoURL`` and chart (or path) of its first source."""
    version: str
    wave: int


class BootstrapResult(Response):
    cluster: str
    dry_run: bool
    changed: bool
    """Whether the Cluster's spec (and so its desired state) changed."""
    revision: int
    """The cluster's desired-state revision after the call (unchanged on a dry run)."""
    profile: str
    argocd_namespace: str
    installs_argo_cd: bool
    """False when Argo CD is existing: no installer Job, the Applications go to its namespace."""
    addons: list[str]
    """The Cluster's add-ons: installed or existing."""
    existing: list[str] = []
    applications: list[BootstrapApplication] = []
    objects: int = 0
    """How many objects the bootstrap puts into the desired state (the agent applies them)."""
