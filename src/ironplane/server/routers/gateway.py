"""The gateway's endpoints: its snapshot, its request logs, and the usage they add up to."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from ironplane.api.gateway import (
    GatewayReplica,
    GatewaySnapshot,
    UsageAccepted,
    UsageBatch,
    UsageGroup,
    UsageRow,
)
from ironplane.api.permissions import Permission as P
from ironplane.server.db.types import utcnow
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import gateway as svc
from ironplane.server.services import usage

router = APIRouter(tags=["gateway"])


@router.get(
    "/gateway/snapshot",
    response_model=GatewaySnapshot,
    responses={304: {"description": "the snapshot still has the version in If-None-Match"}},
)
async def snapshot(request: Request, a: Access = Depends(allow(P.GATEWAY_SERVE))) -> Response:
    """What a gateway serves from: providers and models from the Model apps, keys from the
    live API tokens. ``ETag`` is the version; a request whose ``If-None-Match`` still names it
    (`"<version>"`) answers 304 with no body."""
    # If-None-Match is read from the request rather than declared as a parameter: any string is
    # a valid value, and the schema would otherwise promise an invalid one exists.
    if_none_match = request.headers.get("if-none-match")
    async with a.services.db.session() as s:
        current = await svc.current(s, utcnow())
    headers = {"ETag": f'"{current.version}"', "Cache-Control": "no-cache"}
    if svc.matches(if_none_match, current.version):
        return Response(status_code=304, headers=headers)
    return Response(
        content=current.model_dump_json(), media_type="application/json", headers=headers
    )


@router.post("/gateway/usage", status_code=202)
async def report_usage(
    body: UsageBatch, a: Access = Depends(allow(P.GATEWAY_SERVE))
) -> UsageAccepted:
    """A batch of request logs from one gateway replica (at most 5000 records)."""
    accepted = await usage.ingest(a.services, body, sender=a.caller.ref)
    a.services.metrics.usage_records.inc(accepted)
    return UsageAccepted(accepted=accepted)


@router.get("/gateway/usage")
async def usage_summary(
    by: UsageGroup = Query(default="key", description="group by key, model or team"),
    since: str = Query(
        default="24h", max_length=40, description="how far back: 15m, 24h, 7d (at most 90d)"
    ),
    a: Access = Depends(allow(P.GATEWAY_READ)),
) -> list[UsageRow]:
    """Requests, errors, tokens, cost and mean latency per group, most expensive first."""
    window = usage.parse_since(since)
    async with a.services.db.session() as s:
        return await usage.aggregate(s, by, window)


@router.get("/gateway/replicas")
async def list_replicas(a: Access = Depends(allow(P.GATEWAY_READ))) -> list[GatewayReplica]:
    """The gateway replicas that shipped request logs: last seen, records accepted and dropped."""
    async with a.services.db.session() as s:
        return await usage.replicas(s)
