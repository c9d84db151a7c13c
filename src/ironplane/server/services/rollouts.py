"""Actions on a running rollout (promote, abort), sent to the cluster's agent.

The app's active version says whether it has a canary or blue-green rollout at all: a rolling
app is refused here with the reason, before the agent is asked.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select

from ironplane.api.apps import RolloutAction
from ironplane.core.errors import InvalidError, IronplaneError, NotFoundError
from ironplane.server.context import Caller, Services
from ironplane.server.db.tables import AppRow, WorkspaceRow
from ironplane.server.services.audit import record
from ironplane.server.services.versions import version_of

PROGRESSIVE = ("canary", "blue_green")


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
        strategy = (version.spec.get("rollout") or {}).get("strategy", "rolling")
        if row.kind not in ("Service", "Model") or strategy not in PROGRESSIVE:
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
