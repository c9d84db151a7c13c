"""Small helpers the cluster and app pages share: whether htmx asks, and what an app's status
looks like on a page (event times, diff lines, whether a rollout can be steered)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from ironplane.api.apps import AppStatus, Version
from ironplane.core.quantities import human_bytes
from ironplane.server.services.rollouts import progressive_strategy
from ironplane.ui.render import env


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
    if active is None:
        return None
    return progressive_strategy(active.spec.get("kind"), active.spec)


def settled(status: AppStatus | None) -> bool:
    """Nothing is moving: the page may refresh its live part slowly."""
    if status is None or status.phase not in ("Running", "Succeeded"):
        return False
    if status.weights is not None:
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
