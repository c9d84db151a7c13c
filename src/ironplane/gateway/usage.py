"""What one finished request cost: the record the gateway hands to its usage sink.

Every request that was routed, or refused by a limit or a budget, ends in one
:class:`UsageRecord`. The worker's :class:`~ironplane.gateway.governor.Governor` calls its
``sink`` (``None`` by default: nothing is built) from the request's last callback; a sink must
not block or raise (the request-log shipper appends to a bounded buffer and ships batches
later). The fields are the control plane's request-log record (``POST /api/v1/gateway/usage``),
so a sink can encode records as they are.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec


class UsageRecord(msgspec.Struct, kw_only=True):
    at: float
    """Unix time the request arrived."""
    key: str
    """The key's name (``-`` without auth); never the key."""
    team: str | None
    model: str
    """The model the client asked for."""
    target: str | None
    """``provider/upstream-model`` that answered last; None when refused before routing."""
    status: int
    """The status the client got (499: it left first)."""
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost: float
    """USD, from ``prices``; 0 without a price."""
    stream: bool


UsageSink = Callable[[UsageRecord], None]
