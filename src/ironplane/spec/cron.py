"""Cron expressions as Kubernetes, Argo Workflows and KEDA take them (5 fields or a macro)."""

from __future__ import annotations

import re
import zoneinfo

_CRON_FIELD = r"(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?"
_CRON = re.compile(
    rf"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    rf"{_CRON_FIELD}(,{_CRON_FIELD})*(\s+{_CRON_FIELD}(,{_CRON_FIELD})*){{4}})$"
)


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a cron expression, or None."""
    if not _CRON.match(expr.strip()):
        return "not a 5-field cron expression (minute hour day-of-month month day-of-week)"
    return None


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone (``Europe/Paris``, ``UTC``), or None."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
    return None
