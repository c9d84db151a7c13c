"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ironplane.api.common import Response


class AuditEvent(Response):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    source_ip: str | None = None
    outcome: str
    details: dict[str, Any] = {}
