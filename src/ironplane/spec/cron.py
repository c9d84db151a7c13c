"""Cron expressions as Kubernetes, Argo Workflows and KEDA take them (5 fields or a macro)."""

from __future__ import annotations

import zoneinfo

from ironplane.core.cron import CronError, CronSchedule


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a cron expression (which field, and why), or None."""
    try:
        CronSchedule.parse(expr)
    except CronError as exc:
        return exc.message.removeprefix(f"invalid cron schedule {expr!r}: ")
    return None


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone (``Europe/Paris``, ``UTC``), or None."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
    return None
