"""The gateway snapshot: models from the ``Model`` apps, keys from the API tokens.

``render`` is pure: it turns the loaded facts into the gateway's config (field names as in the
gateway's config file) and is tested directly. ``load`` reads those facts in three queries
whatever the number of apps and tokens: the active Model versions joined with their cluster and
their last reported status, the live user and service-account tokens with their principals, and
each user's first team by name.

The version is the SHA-256 of the config's canonical JSON, so it moves exactly when something the
gateway uses changes; an expiring token drops out of the next computation, which moves it too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.gateway import (
    GatewayConfig,
    GatewayKey,
    GatewayModel,
    GatewayProvider,
    GatewaySnapshot,
    GatewayTarget,
)
from ironplane.server.db.tables import (
    ApiTokenRow,
    AppRow,
    AppStatusRow,
    AppVersionRow,
    ClusterRow,
    ServiceAccountRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
    WorkspaceRow,
)
from ironplane.server.services.store import spec_load
from ironplane.spec.kinds import ModelSpec

log = logging.getLogger("ironplane.server.gateway")

COLD_START = "10m"
"""How long the gateway holds a request for a Model that scales to zero: long enough for a node
with the weights cached to start the engine, well under the gateway's 30-minute ceiling."""
FULL_WEIGHT = 100
KEY_HASH_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class ModelApp:
    """One Model app with an active version, and what the snapshot needs around it."""

    workspace: str
    app: str
    spec: ModelSpec
    local: bool
    """Its cluster runs the local runtime: the engine listens on 127.0.0.1."""
    rollout: Mapping[str, Any] | None = None
    """The rollout part of the agent's last status report, if any."""
    created_at: datetime | None = None
    """When the app was first applied: the oldest app claiming a gateway name keeps it."""


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """One live user or service-account token."""

    token_id: str
    secret_hash: str
    principal: str
    """``user:alice`` or ``service_account:ci-bot``."""
    team: str | None
    expires_at: datetime | None


def served_model(spec: ModelSpec) -> str:
    """The model id the engine answers to (``compiler/kinds/model.py``'s ``engine_command``):
    vLLM and SGLang get ``--served-model-name <gateway name>`` unless the spec replaces the
    command; TGI, custom engines and replaced commands answer to the spec's ``model``."""
    if spec.engine in ("vllm", "sglang") and spec.command is None:
        return spec.gateway_name
    return spec.model


def canary_weight(rollout: Mapping[str, Any] | None) -> int | None:
    """The new version's share (1..99) while a canary is in flight, else None."""
    if not rollout or rollout.get("strategy") != "canary" or rollout.get("aborted"):
        return None
    weight = rollout.get("canary_weight")
    if isinstance(weight, int) and not isinstance(weight, bool) and 1 <= weight <= 99:
        return weight
    return None


def _provider(m: ModelApp, service: str) -> GatewayProvider:
    host = "127.0.0.1" if m.local else f"{service}.{m.workspace}.svc.cluster.local"
    return GatewayProvider(
        name=f"model:{m.workspace}/{service}", base_url=f"http://{host}:{m.spec.port}/v1"
    )


def _routes(m: ModelApp) -> tuple[list[GatewayProvider], list[GatewayTarget]]:
    served = served_model(m.spec)
    stable = _provider(m, m.app)
    # The local runtime runs no canaries: there is no second endpoint to send a share to.
    weight = None if m.local else canary_weight(m.rollout)
    if weight is None:
        return [stable], [GatewayTarget(provider=stable.name, model=served, weight=FULL_WEIGHT)]
    canary = _provider(m, f"{m.app}-canary")
    return [stable, canary], [
        GatewayTarget(provider=stable.name, model=served, weight=FULL_WEIGHT - weight),
        GatewayTarget(provider=canary.name, model=served, weight=weight),
    ]


def claims(apps: Sequence[ModelApp]) -> tuple[list[ModelApp], list[tuple[ModelApp, ModelApp]]]:
    """The apps that serve their gateway name, and (app, holder) for each app left out because
    an older app (first applied earlier, then by workspace and name) already serves the name.

    A gateway name belongs to one app: merging apps of several workspaces under one name would
    let anyone who may deploy in one workspace take a share of another's traffic (and prompts).
    """
    oldest = datetime.min.replace(tzinfo=UTC)
    holders: dict[str, ModelApp] = {}
    left_out: list[tuple[ModelApp, ModelApp]] = []
    for m in sorted(apps, key=lambda m: (m.created_at or oldest, m.workspace, m.app)):
        holder = holders.setdefault(m.spec.gateway_name, m)
        if holder is not m:
            left_out.append((m, holder))
    return sorted(holders.values(), key=lambda m: m.spec.gateway_name), left_out


def render(apps: Sequence[ModelApp], tokens: Sequence[TokenEntry]) -> GatewayConfig:
    """The gateway's config for these Model apps and tokens, in a canonical order. Of the apps
    sharing a gateway name only the oldest is served (``claims``); the others are logged."""
    providers: list[GatewayProvider] = []
    models = []
    served, left_out = claims(apps)
    for m, holder in left_out:
        log.warning(
            "gateway snapshot: %s/%s is not served: its gateway name %r belongs to %s/%s",
            m.workspace,
            m.app,
            m.spec.gateway_name,
            holder.workspace,
            holder.app,
        )
    for m in served:
        ps, targets = _routes(m)
        providers += ps
        cold = m.spec.autoscaling is not None and m.spec.autoscaling.min == 0
        models.append(
            GatewayModel(
                name=m.spec.gateway_name, targets=targets, cold_start=COLD_START if cold else None
            )
        )
    keys = [
        GatewayKey(
            name=t.principal,
            token_id=t.token_id,
            hash=KEY_HASH_PREFIX + t.secret_hash,
            team=t.team,
            models=["*"],
            expires_at=t.expires_at.timestamp() if t.expires_at is not None else None,
        )
        for t in sorted(tokens, key=lambda t: (t.principal, t.token_id))
    ]
    providers.sort(key=lambda p: p.name)
    return GatewayConfig(providers=providers, models=models, keys=keys)


def version_of(config: GatewayConfig) -> str:
    """Hex SHA-256 of the config's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def snapshot_of(config: GatewayConfig, now: datetime) -> GatewaySnapshot:
    return GatewaySnapshot(version=version_of(config), generated_at=now, config=config)


async def load_models(session: AsyncSession) -> list[ModelApp]:
    """Every Model app with an active version (deleted apps have none), in one query."""
    status = and_(
        AppStatusRow.cluster_id == WorkspaceRow.cluster_id,
        AppStatusRow.workspace == WorkspaceRow.name,
        AppStatusRow.app == AppRow.name,
    )
    rows = await session.execute(
        select(
            WorkspaceRow.name,
            AppRow.name,
            ClusterRow.agent_runtime,
            AppVersionRow.spec,
            AppStatusRow.data,
            AppRow.created_at,
        )
        .select_from(AppRow)
        .join(WorkspaceRow, WorkspaceRow.id == AppRow.workspace_id)
        .join(ClusterRow, ClusterRow.id == WorkspaceRow.cluster_id)
        .join(
            AppVersionRow,
            and_(AppVersionRow.app_id == AppRow.id, AppVersionRow.number == AppRow.active_version),
        )
        .outerjoin(AppStatusRow, status)
        .where(AppRow.kind == "Model", AppRow.active_version.is_not(None))
    )
    out = []
    for workspace, app, runtime, data, status_data, created_at in rows.all():
        try:
            spec = spec_load(data)
        except ValidationError:
            # A version stored by an older release that this one no longer reads: leave the model
            # out rather than fail every gateway's refresh.
            log.warning("gateway snapshot: cannot read the spec of %s/%s; skipped", workspace, app)
            continue
        if not isinstance(spec, ModelSpec):
            continue
        rollout = (status_data or {}).get("rollout")
        out.append(
            ModelApp(
                workspace=workspace,
                app=app,
                spec=spec,
                local=runtime == "local",
                rollout=rollout if isinstance(rollout, dict) else None,
                created_at=created_at,
            )
        )
    return out


async def load_tokens(session: AsyncSession, now: datetime) -> list[TokenEntry]:
    """Live user and service-account tokens (not agent or session tokens, not revoked, not
    expired, not of a deactivated user), with each user's first team by name: two queries."""
    user_name = UserRow.name.label("user_name")
    sa_name = ServiceAccountRow.name.label("sa_name")
    rows = await session.execute(
        select(
            ApiTokenRow.id,
            ApiTokenRow.secret_hash,
            ApiTokenRow.expires_at,
            ApiTokenRow.user_id,
            user_name,
            sa_name,
        )
        .select_from(ApiTokenRow)
        .outerjoin(UserRow, and_(UserRow.id == ApiTokenRow.user_id, UserRow.active.is_(True)))
        .outerjoin(ServiceAccountRow, ServiceAccountRow.id == ApiTokenRow.service_account_id)
        .where(
            ApiTokenRow.kind.in_(("user", "service_account")),
            ApiTokenRow.revoked_at.is_(None),
            or_(ApiTokenRow.expires_at.is_(None), ApiTokenRow.expires_at > now),
            or_(
                and_(ApiTokenRow.kind == "user", UserRow.id.is_not(None)),
                and_(ApiTokenRow.kind == "service_account", ServiceAccountRow.id.is_not(None)),
            ),
        )
    )
    memberships = await session.execute(
        select(TeamMemberRow.user_id, func.min(TeamRow.name))
        .join(TeamRow, TeamRow.id == TeamMemberRow.team_id)
        .group_by(TeamMemberRow.user_id)
    )
    teams: dict[int, str] = {user_id: team for user_id, team in memberships.all()}
    out = []
    for token_id, secret_hash, expires_at, user_id, user, sa in rows.all():
        principal = f"user:{user}" if user is not None else f"service_account:{sa}"
        out.append(
            TokenEntry(
                token_id=token_id,
                secret_hash=secret_hash,
                principal=principal,
                team=teams.get(user_id) if user is not None and user_id is not None else None,
                expires_at=expires_at,
            )
        )
    return out


async def current(session: AsyncSession, now: datetime) -> GatewaySnapshot:
    """The snapshot as of ``now``."""
    config = render(await load_models(session), await load_tokens(session, now))
    return snapshot_of(config, now)


def matches(if_none_match: str | None, version: str) -> bool:
    """Whether an ``If-None-Match`` header names this version (weak or strong, or ``*``)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip().removeprefix("W/")
        if tag == "*" or tag.strip('"') == version:
            return True
    return False
