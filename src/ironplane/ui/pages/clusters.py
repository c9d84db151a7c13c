"""Clusters (their agents, nodes, RDMA blocks and GPU charts) and workspaces."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ironplane.api.permissions import Permission as P
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import apps as apps_service
from ironplane.server.services import clusters as clusters_service
from ironplane.server.services import telemetry
from ironplane.ui.pages.charts import NODE_CHARTS, latest
from ironplane.ui.render import page
from ironplane.ui.topology import blocks, node_views, percent

router = APIRouter(include_in_schema=False)


@router.get("/clusters", response_class=HTMLResponse)
async def clusters(request: Request, access: Access = Depends(allow(None))) -> HTMLResponse:
    async with access.services.db.session() as s:
        found = await clusters_service.list_clusters(s, access.caller)
    rows = []
    for c in found:
        used = sum(n.used_gpus for n in c.nodes)
        allocatable = sum(n.allocatable_gpus for n in c.nodes)
        rows.append(
            {
                "cluster": c,
                "nodes": len(c.nodes),
                "ready": sum(1 for n in c.nodes if n.ready),
                "used": used,
                "allocatable": allocatable,
                "percent": percent(used, allocatable),
            }
        )
    return page(request, access, "clusters.html", rows=rows)


@router.get("/clusters/{cluster}", response_class=HTMLResponse)
async def cluster_page(
    request: Request, cluster: str, access: Access = Depends(allow(P.CLUSTERS_READ, on="cluster"))
) -> HTMLResponse:
    async with access.services.db.session() as s:
        detail = await clusters_service.get_cluster(s, cluster)
        spaces = [
            w
            for w in await clusters_service.list_workspaces(s, access.caller)
            if w.cluster == cluster
        ]
    nodes = node_views(detail)
    names = [n for chart in NODE_CHARTS for n in chart.names]
    recent = await telemetry.node_series(
        access.services, access.target.cluster_id, names, since="15m"
    )
    return page(
        request,
        access,
        "cluster.html",
        cluster=detail,
        target=access.target,
        nodes=nodes,
        blocks=blocks(nodes),
        workspaces=spaces,
        gpus_used=sum(n.used for n in nodes),
        gpus_allocatable=sum(n.allocatable for n in nodes),
        charts=NODE_CHARTS,
        chart_base=f"/ui/clusters/{cluster}/series.json",
        latest=latest(recent, per_node=True),
    )


@router.get("/workspaces", response_class=HTMLResponse)
async def workspaces(request: Request, access: Access = Depends(allow(None))) -> HTMLResponse:
    async with access.services.db.session() as s:
        spaces = await clusters_service.list_workspaces(s, access.caller)
        apps = await apps_service.list_apps(s, access.caller, None)
    counts = Counter(a.workspace for a in apps if a.active_version is not None)
    return page(request, access, "workspaces.html", workspaces=spaces, counts=counts)
