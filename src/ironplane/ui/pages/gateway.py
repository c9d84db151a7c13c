"""The AI gateway as the control plane sees it: the models and keys of its snapshot, the usage
its replicas reported, and charts of that usage over time.

Everything needs ``gateway.read`` (what ``GET /gateway/usage`` needs). Models and keys come from
the snapshot service (``services/gateway.py``) without the keys' hashes; the usage table is
``services/usage.aggregate`` (``ironplane gateway usage``); the charts read
``/ui/gateway/series.json``, a thin route over the service of ``GET /gateway/usage/series``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, get_args

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ironplane.api.gateway import UsageGroup, UsageRow
from ironplane.api.permissions import Permission as P
from ironplane.api.telemetry import UsageBucket, UsageSeriesSet
from ironplane.core.errors import InvalidError
from ironplane.server.db.types import utcnow
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import gateway as gateway_service
from ironplane.server.services import usage, usage_series
from ironplane.ui.render import can, page

router = APIRouter(include_in_schema=False)

SINCE_CHOICES = ("1h", "6h", "24h", "7d", "30d")
STEPS = (60, 300, 900, 3600, 6 * 3600, 86400)
"""Bucket widths the charts use: the smallest giving at most ``MAX_CHART_POINTS`` points."""
MAX_CHART_POINTS = 300
MAX_CHART_GROUPS = 8
"""Groups drawn per chart (the busiest of the window); the table lists them all."""

Measure = Literal[
    "requests", "errors", "p50_ms", "p99_ms", "tokens", "prompt_tokens", "completion_tokens", "cost"
]
MEASURES: tuple[str, ...] = get_args(Measure)
COUNTS = frozenset(MEASURES) - {"p50_ms", "p99_ms"}
"""Measures that are 0 in a bucket without requests (latencies have no value there)."""
LABELS = {"p50_ms": "p50", "p99_ms": "p99", "cost": "spend"}


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    unit: str
    measures: tuple[str, ...]


CHARTS = (
    Chart("requests", "Requests and errors", "requests", ("requests", "errors")),
    Chart("latency", "Latency p50 / p99", "ms", ("p50_ms", "p99_ms")),
    Chart("tokens", "Tokens (prompt + completion)", "tokens", ("tokens",)),
    Chart("spend", "Spend", "USD", ("cost",)),
)


def step_for(window: timedelta) -> int:
    seconds = window.total_seconds()
    return next((s for s in STEPS if seconds / s <= MAX_CHART_POINTS), STEPS[-1])


def _value(bucket: UsageBucket, measure: str) -> float | None:
    if measure == "tokens":
        return bucket.prompt_tokens + bucket.completion_tokens
    value = getattr(bucket, measure)
    return None if value is None else float(value)


def chart_series(found: UsageSeriesSet, measures: list[str]) -> list[dict[str, Any]]:
    """The service's buckets as ``charts.js`` series: one per group (the busiest
    ``MAX_CHART_GROUPS``) and measure; counts are 0 in buckets without requests."""
    step = found.step
    first, last = int(found.since // step) * step, int(found.until // step) * step
    busiest = sorted(found.series, key=lambda s: -sum(b.requests for b in s.buckets))
    out = []
    for s in busiest[:MAX_CHART_GROUPS]:
        by_t = {int(b.t): b for b in s.buckets}
        for m in measures:
            if m in COUNTS:
                points = [
                    [t, _value(by_t[t], m) if t in by_t else 0]
                    for t in range(first, last + 1, step)
                ]
            else:
                points = [[t, _value(b, m)] for t, b in sorted(by_t.items())]
            name = LABELS.get(m, m.replace("_", " "))
            labels: dict[str, str] = {"measure": m}
            if found.by is not None:
                group = s.group if s.group is not None else "(none)"
                labels[found.by] = group
                name = f"{group} {name}"
            out.append({"label": name, "labels": labels, "points": points})
    return out


@router.get("/gateway/series.json")
async def series_json(
    measure: str = Query(default="requests", max_length=200),
    since: str = Query(default="24h", max_length=40),
    by: UsageGroup | None = Query(default=None),
    access: Access = Depends(allow(P.GATEWAY_READ)),
) -> JSONResponse:
    """Chart data: ``measure`` is a comma-separated list of measures."""
    measures = [m.strip() for m in measure.split(",") if m.strip()]
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise InvalidError(f"measure: use one or more of {', '.join(MEASURES)}")
    window = usage.parse_since(since)
    step = step_for(window)
    async with access.services.db.session() as session:
        found = await usage_series.series(
            access.services.db, session, window=window, step=step, by=by
        )
    body = {
        "since": found.since,
        "until": found.until,
        "step": found.step,
        "series": chart_series(found, list(dict.fromkeys(measures))),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _models(config: Any) -> list[dict[str, Any]]:
    """Each served model: its app(s), targets with their weights, the canary's share."""
    urls = {p.name: p.base_url for p in config.providers}
    out = []
    for m in config.models:
        canary = next((t.weight for t in m.targets if t.provider.endswith("-canary")), None)
        stable = next((t for t in m.targets if not t.provider.endswith("-canary")), None)
        out.append(
            {
                "name": m.name,
                "app": (stable.provider if stable else m.targets[0].provider).removeprefix(
                    "model:"
                ),
                "targets": [
                    {
                        "provider": t.provider,
                        "model": t.model,
                        "weight": t.weight,
                        "url": urls.get(t.provider, ""),
                    }
                    for t in m.targets
                ],
                "canary": canary,
                "cold_start": m.cold_start,
            }
        )
    return out


@router.get("/gateway", response_class=HTMLResponse)
async def gateway(
    request: Request,
    by: UsageGroup = Query(default="model"),
    since: str = Query(default="24h", max_length=40),
    access: Access = Depends(allow(P.GATEWAY_READ)),
) -> HTMLResponse:
    error = None
    try:
        window = usage.parse_since(since)
    except InvalidError as exc:
        error, since, window = exc.message, "24h", timedelta(hours=24)
    now = utcnow()
    async with access.services.db.session() as session:
        models = await gateway_service.load_models(session)
        config = gateway_service.render(models, [])
        # Every live token is a gateway key; listing them is what `tokens list --all` needs.
        show_keys = can(access, P.USERS_WRITE)
        tokens = await gateway_service.load_tokens(session, now) if show_keys else []
        rows: list[UsageRow] = await usage.aggregate(session, by, window, now)
        replicas = await usage.replicas(session)
    totals = {
        "requests": sum(r.requests for r in rows),
        "errors": sum(r.errors for r in rows),
        "tokens": sum(r.prompt_tokens + r.completion_tokens for r in rows),
        "cost": sum(r.cost for r in rows),
    }
    keys = [
        {"name": t.principal, "token_id": t.token_id, "team": t.team, "expires_at": t.expires_at}
        for t in sorted(tokens, key=lambda t: (t.principal, t.token_id))
    ]
    return page(
        request,
        access,
        "gateway.html",
        status=400 if error else 200,
        error=error,
        by=by,
        since=since,
        since_choices=SINCE_CHOICES,
        models=_models(config),
        keys=keys,
        show_keys=show_keys,
        rows=rows,
        totals=totals,
        replicas=replicas,
        charts=CHARTS,
        step=step_for(window),
    )
