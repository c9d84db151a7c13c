"""Reading watched objects: labels, conditions, numbers and times of plain dicts, and ``Part``
(one object's contribution to its app's status).

Shared by ``status`` (built-in workloads), ``crd_status`` (Argo Rollouts, KEDA, Argo Workflows)
and ``run_status`` (job runs), so that each reads objects the same forgiving way: a field that
is missing or of the wrong type reads as absent, never as an exception in the status loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ironplane.wire.agent_protocol import Condition, Phase


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def created(obj: Mapping[str, Any]) -> tuple[str, str]:
    """A sort key, oldest first: (creationTimestamp, name). RFC 3339 UTC strings sort as times."""
    return str((obj.get("metadata") or {}).get("creationTimestamp") or ""), name_of(obj)


def owners(obj: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    """The object's ownerReferences of ``kind``."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if isinstance(r, Mapping) and r.get("kind") == kind]


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def is_true(obj: Mapping[str, Any], kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def conditions_of(obj: Mapping[str, Any]) -> list[Condition]:
    return [
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "Unknown")),
            reason=c.get("reason") or None,
            message=c.get("message") or None,
        )
        for c in (obj.get("status") or {}).get("conditions") or []
        if isinstance(c, Mapping)
    ]


def int_of(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def optional_int(value: Any) -> int | None:
    """``value`` as an int, None when absent or not a number (booleans are not numbers)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def unix_time(value: Any) -> float | None:
    """An RFC 3339 time (``2025-01-01T00:00:00Z``) as Unix seconds; None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def rfc3339_now() -> str:
    """Now, as the API writes times (whole seconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Part:
    """One object's contribution to its app's status."""

    phase: Phase
    ready: int = 0
    desired: int = 0
    error: str | None = None
    conditions: list[Condition] = field(default_factory=list)
