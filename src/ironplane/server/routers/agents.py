"""The WebSocket agents dial (``/api/v1/agent/connect``), and on-demand requests to them."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Query, WebSocket

from ironplane.api.apps import AppLogs, PromoteRequest, Restarted, RolloutAction
from ironplane.api.permissions import Permission as P
from ironplane.core.errors import IronplaneError
from ironplane.server.agents.session import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    AgentSession,
)
from ironplane.server.context import Services
from ironplane.server.security.authn import authenticate
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import rollouts
from ironplane.server.services.audit import record

router = APIRouter()
log = logging.getLogger("ironplane.server.agents")
_APP = "/workspaces/{workspace}/apps/{app}"


@router.websocket("/agent/connect")
async def agent_connect(ws: WebSocket) -> None:
    """An agent's session. It authenticates with its cluster's agent token in the
    ``Authorization: Bearer`` header of the upgrade request; any other token is refused."""
    services = ws.app.state.services
    assert isinstance(services, Services)
    header = ws.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    source_ip = ws.client.host if ws.client else None
    try:
        async with services.db.session() as s:
            principal = await authenticate(
                s, bearer.strip() if scheme.lower() == "bearer" else None
            )
    except IronplaneError as exc:
        await ws.close(code=CLOSE_UNAUTHENTICATED, reason=exc.message[:120])
        return
    if principal.agent_cluster_id is None:
        async with services.db.session() as s:
            record(
                s,
                None,
                action="agent.connect",
                target="agent",
                outcome="denied",
                source_ip=source_ip,
                details={"principal": principal.ref},
            )
        await ws.close(code=CLOSE_FORBIDDEN, reason="only a cluster's agent token may connect here")
        return
    await ws.accept()
    session = AgentSession(
        ws,
        services,
        ws.app.state.hub,
        cluster_id=principal.agent_cluster_id,
        cluster=principal.name,
        token_id=principal.token_id or "",
        source_ip=source_ip,
    )
    try:
        await session.run()
    except Exception:
        log.exception("the session of cluster %s failed", principal.name)


@router.get(_APP + "/logs", tags=["apps"])
async def app_logs(
    workspace: str,
    app: str,
    request_lines: int = Query(default=100, ge=1, le=10_000, alias="lines"),
    a: Access = Depends(allow(P.APPS_READ, on="workspace")),
) -> AppLogs:
    """The app's last log lines, fetched from its cluster's agent."""
    cluster_id, cluster = await rollouts.cluster_of(a.services, workspace)
    result = await a.services.hub.command(
        cluster_id, cluster, op="logs", workspace=workspace, app=app, lines=request_lines
    )
    return AppLogs(workspace=workspace, app=app, lines=result.lines)


@router.post(_APP + "/restart", tags=["apps"])
async def app_restart(
    workspace: str, app: str, a: Access = Depends(allow(P.APPS_WRITE, on="workspace"))
) -> Restarted:
    """Restart the app's processes or pods (its spec and version stay as they are)."""
    await rollouts.restart(a.services, a.caller, workspace, app)
    return Restarted(restarted=f"{workspace}/{app}")


@router.post(_APP + "/rollout/promote", tags=["apps"])
async def rollout_promote(
    workspace: str,
    app: str,
    body: PromoteRequest,
    a: Access = Depends(allow(P.APPS_WRITE, on="workspace")),
) -> RolloutAction:
    """Promote a canary or blue-green rollout past its current pause (``full``: to the end)."""
    return await rollouts.act(a.services, a.caller, workspace, app, "promote", full=body.full)


@router.post(_APP + "/rollout/abort", tags=["apps"])
async def rollout_abort(
    workspace: str, app: str, a: Access = Depends(allow(P.APPS_WRITE, on="workspace"))
) -> RolloutAction:
    """Abort a canary or blue-green rollout: all traffic back to the stable version."""
    return await rollouts.act(a.services, a.caller, workspace, app, "abort")
