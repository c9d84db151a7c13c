"""Small helpers the cluster and app pages share: fragments, and what an app's status looks like
on a page (event times, the weights download, diff lines, whether a rollout can be steered)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ironplane.api.apps import AppStatus, Version
from ironplane.core.quantities import human_bytes
from ironplane.server.security.guards import Access
from ironplane.server.services.rollouts import PROGRESSIVE
from ironplane.ui.render import context, env
from ironplane.ui.topology import percent

_NO_STORE = {"Cache-Control": "no-store"}


def fragment(
    request: Request, access: Access, template: str, *, status: int = 200, **values: Any
) -> HTMLResponse:
    """A piece of a page for htmx to swap in (a ``_name.html`` template, no layout)."""
    html = env.get_template(template).render(context(request, access, **values))
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


def is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    type: str
    reason: str
    message: str


def events_of(status: AppStatus | None, limit: int = 20) -> list[EventView]:
    """The agent's recent events, newest first, with their Unix times as datetimes."""
    if status is None:
        return []
    out = [
        EventView(datetime.fromtimestamp(e.at, UTC), e.type, e.reason, e.message)
        for e in status.events
    ]
    return sorted(out, key=lambda e: e.at, reverse=True)[:limit]


@dataclass(frozen=True, slots=True)
class WeightsView:
    """A weights download in flight, ready to print."""

    done: int
    total: int
    rate: float
    eta: float | None
    files_done: int
    files_total: int
    pods: int

    @property
    def percent(self) -> int:
        return percent(self.done, self.total)


def weights_of(status: AppStatus | None) -> WeightsView | None:
    """The status's ``weights`` progress when the agent reported one (the field is optional and
    older control planes do not know it), else None."""
    raw = getattr(status, "weights", None) if status is not None else None
    if raw is None:
        return None
    data: dict[str, Any] = raw if isinstance(raw, dict) else _as_dict(raw)
    try:
        return WeightsView(
            done=int(data.get("done") or 0),
            total=int(data.get("total") or 0),
            rate=float(data.get("rate") or 0.0),
            eta=float(data["eta"]) if data.get("eta") is not None else None,
            files_done=int(data.get("files_done") or 0),
            files_total=int(data.get("files_total") or 0),
            pods=int(data.get("pods") or 1),
        )
    except (TypeError, ValueError):
        return None


def _as_dict(value: object) -> dict[str, Any]:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        result = dump()
        return result if isinstance(result, dict) else {}
    fields = getattr(value, "__struct_fields__", None)
    if fields is not None:
        return {f: getattr(value, f) for f in fields}
    return {}


def duration(seconds: float | None) -> str:
    """``1 h 5 min``, ``42 s``; a dash when unknown."""
    if seconds is None:
        return "-"
    s = max(int(seconds), 0)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min {s % 60} s"
    return f"{s} s"


env.filters["human_bytes"] = human_bytes
env.filters["human_seconds"] = duration


def progressive(active: Version | None) -> str | None:
    """The active version's canary or blue-green strategy (the rollout buttons apply), else
    None: the same rule ``services.rollouts`` checks before asking the agent."""
    if active is None or active.spec.get("kind") not in ("Service", "Model"):
        return None
    strategy = (active.spec.get("rollout") or {}).get("strategy", "rolling")
    return str(strategy) if strategy in PROGRESSIVE else None


def settled(status: AppStatus | None) -> bool:
    """Nothing is moving: the page may refresh its live part slowly."""
    if status is None or status.phase not in ("Running", "Succeeded"):
        return False
    if weights_of(status) is not None:
        return False
    rollout = status.rollout
    return rollout is None or (rollout.phase == "Healthy" and not rollout.paused)


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, text) per line of a unified diff: added, removed, hunk header or context."""
    out: list[tuple[str, str]] = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            css = "muted"
        elif line.startswith("+"):
            css = "diff-add"
        elif line.startswith("-"):
            css = "diff-del"
        elif line.startswith("@@"):
            css = "muted"
        else:
            css = ""
        out.append((css, line))
    return out
