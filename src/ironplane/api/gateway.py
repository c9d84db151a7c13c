"""The gateway's side of the API: the snapshot it serves from, and its request logs.

The snapshot is what a gateway in control-plane mode loads instead of (or on top of) its config
file: providers and models made from the ``Model`` apps, and keys made from the API tokens. Its
field names are the gateway config file's (``gateway/config.py``), so the gateway decodes it with
the structs it already has. Request logs go the other way, in batches, and are queried grouped by
key, model or team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from ironplane.api.common import Request, Response

MAX_USAGE_RECORDS = 5000
"""Records in one ``POST /gateway/usage`` batch (the gateway ships 500 by default)."""
MAX_COUNT = 2**31 - 1

UsageGroup = Literal["key", "model", "team"]


class GatewayProvider(Response):
    name: str
    """``model:<workspace>/<app>``, or ``model:<workspace>/<app>-canary`` during a canary."""
    kind: Literal["openai"] = "openai"
    base_url: str


class GatewayTarget(Response):
    provider: str
    model: str
    """The model id the engine answers to."""
    weight: int


class GatewayModel(Response):
    name: str
    targets: list[GatewayTarget]
    cold_start: str | None = None
    """Set when the Model scales to zero: how long a request may wait for a replica to start."""


class GatewayKey(Response):
    name: str
    """The principal: ``user:alice`` or ``service_account:ci-bot`` (several tokens may share it)."""
    token_id: str
    hash: str
    """``sha256:`` and the hex SHA-256 of the token's secret part."""
    team: str | None = None
    models: list[str] = ["*"]
    expires_at: float | None = None
    """Unix time; the gateway refuses the token itself from then on."""


class GatewayConfig(Response):
    providers: list[GatewayProvider] = []
    models: list[GatewayModel] = []
    keys: list[GatewayKey] = []


class GatewaySnapshot(Response):
    version: str
    """Hex SHA-256 of the canonical JSON of ``config``; also the ``ETag``."""
    generated_at: datetime
    config: GatewayConfig


Text = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Amount = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
ReplicaId = Annotated[
    str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]


class UsageRecord(Request):
    """One request the gateway answered (or refused)."""

    at: float = Field(gt=0, allow_inf_nan=False, description="unix time the request arrived")
    key: Text
    team: Annotated[str, Field(max_length=200)] | None = None
    model: Text
    target: Annotated[str, Field(max_length=400)] | None = None
    status: int = Field(ge=100, le=599)
    latency_ms: Amount
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    cost: float = Field(default=0.0, ge=0, le=1e6, allow_inf_nan=False)
    """USD; 0 when the model has no price (at most 1e6 for one request: sums stay finite)."""
    stream: bool = False


class UsageBatch(Request):
    gateway: ReplicaId = Field(description="the replica that sends: hostname-pid")
    dropped: Count = Field(default=0, description="records dropped since the last batch")
    records: list[UsageRecord] = Field(default=[], max_length=MAX_USAGE_RECORDS)


class UsageAccepted(Response):
    accepted: int
    """Records stored; records older than the retention period are skipped."""


class UsageRow(Response):
    group: str | None
    """The key, model or team (null: requests of keys in no team)."""
    requests: int
    errors: int
    """Answers with a status of 400 or more (refusals such as 429 included)."""
    prompt_tokens: int
    completion_tokens: int
    cost: float
    avg_latency_ms: float


class GatewayReplica(Response):
    gateway: str
    last_seen: datetime
    accepted: int
    """Records stored from this replica, in total."""
    dropped: int
    """Records this replica reported it dropped (its buffer was full), in total."""
