"""Calls that follow what was applied (``ironplane apply`` waits with them)."""

from __future__ import annotations

from collections.abc import Sequence

from ironplane.api.progress import WorkspaceProgress
from ironplane.sdk._call import Call, one, path


def workspaces_progress(
    workspace: str, apps: Sequence[str] | None = None
) -> Call[WorkspaceProgress]:
    """The workspace's cluster revision, the revision its agent applied (or failed to apply),
    and for each app (those named; None: all of them) its active version and reported status."""
    params = None if apps is None else {"apps": ",".join(apps)}
    return Call(
        "GET", path("workspaces", workspace, "progress"), one(WorkspaceProgress), params=params
    )
