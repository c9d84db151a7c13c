"""Actions on a running app, sent to its cluster's agent: restart, and steering a rollout
(promote, abort). The JSON routes and the UI's buttons both call these, so both are audited alike.

The app's active version says whether it has a canary or blue-green rollout at all: a rolling
app is refused here with the reason, before the agent is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import select

from ironplane.api.apps import RolloutAction
from ironplane.core.errors import InvalidError, IronplaneError, NotFoundError
from ironplane.server.context import Caller, Services
from ironplane.server.db.tables import AppRow, WorkspaceRow
from ironplane.server.services.audit import record
from ironplane.server.services.versions import version_of

PROGRESSIVE = ("canary", "blue_green")


def progressive_strategy(kind: object, spec: Mapping[str, Any]) -> str | None:
    """The canary or blue-green strategy of a Service or Model (the rollouts these actions
    steer), else None: a rolling one, or a kind without rollouts."""
    if kind not in ("Service", "Model"):
        return None
    strategy = (spec.get("rollout") or {}).get("strategy", "rolling")
    return str(strategy) if strategy in PROGRESSIVE else None


async def cluster_of(services: Services, workspace: str) -> tuple[int, str]:
    """The id and name of the workspace's cluster (the caller's guard has found the workspace)."""
    async with services.db.session() as s:
        ws = await s.scalar(select(WorkspaceRow).where(WorkspaceRow.name == workspace))
        assert ws is not None  # the guard found it
        return ws.cluster_id, ws.cluster.name


async def restart(services: Services, caller: Caller, workspace: str, app: str) -> None:
    """Restart the app's pods or processes (its spec and version stay as they are)."""
    cluster_id, cluster = await cluster_of(services, workspace)
    await services.hub.command(cluster_id, cluster, op="restart", workspace=workspace, app=app)
    async with services.db.session() as s:
        record(s, caller, action="app.restart", target=f"app/{workspace}/{app}")


async def act(
    services: Services,
    caller: Caller,
    workspace: str,
    app: str,
    action: Literal["promote", "abort"],
    *,
    full: bool = False,
) -> RolloutAction:
    async with services.db.session() as s:
        row = await s.scalar(
            select(AppRow)
            .join(WorkspaceRow)
            .where(WorkspaceRow.name == workspace, AppRow.name == app)
        )
        if row is None or row.active_version is None:
            raise NotFoundError(f"app {app!r} not found in workspace {workspace!r}")
        version = await version_of(s, row, row.active_version)
        assert version is not None
        if progressive_strategy(row.kind, version.spec) is None:
            what = f"a {row.kind}" if row.kind not in ("Service", "Model") else "rolling"
            raise InvalidError(
                f"{workspace}/{app} is {what}: {action} applies to canary and blue_green "
                "rollouts (rollout.strategy in its spec)"
            )
        cluster_id, cluster = row.workspace.cluster_id, row.workspace.cluster.name
    target = f"app/{workspace}/{app}"
    try:
        result = await services.hub.command(
            cluster_id, cluster, op=action, workspace=workspace, app=app, full=full
        )
    except IronplaneError:
        async with services.db.session() as s:
            record(s, caller, action=f"rollout.{action}", target=target, outcome="failed")
        raise
    async with services.db.session() as s:
        record(s, caller, action=f"rollout.{action}", target=target, details={"full": full})
    return RolloutAction(
        workspace=workspace, app=app, action=action, message=result.message or f"{action}d"
    )
