"""API tokens for users and service accounts, login sessions, and cluster agent tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.identity import LoginRequest, LoginResponse, Token, TokenCreate, TokenCreated
from ironplane.api.permissions import Permission
from ironplane.core.errors import ForbiddenError, NotFoundError, UnauthenticatedError
from ironplane.server.context import Caller
from ironplane.server.db.tables import ApiTokenRow, ClusterRow, ServiceAccountRow, UserRow
from ironplane.server.db.types import utcnow
from ironplane.server.security import tokens
from ironplane.server.security.authn import live, load_grants
from ironplane.server.security.escalation import require_grants_held
from ironplane.server.security.passwords import verify_password
from ironplane.server.security.principals import Principal
from ironplane.server.services.audit import record
from ironplane.server.services.lookup import by_name


def subject_of(row: ApiTokenRow) -> str:
    if row.kind == "agent" and row.cluster is not None:
        return f"agent:{row.cluster.name}"
    if row.service_account is not None:
        return f"service_account:{row.service_account.name}"
    if row.user is not None:
        return f"user:{row.user.name}"
    return "unknown"


def token_out(row: ApiTokenRow) -> Token:
    return Token(
        id=row.id,
        name=row.name,
        subject=subject_of(row),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


async def _mint(session: AsyncSession, row: ApiTokenRow, secret: str) -> TokenCreated:
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return TokenCreated(token=token_out(row), secret=secret)


def _row(minted: tokens.Minted, name: str, kind: str, days: int | None) -> ApiTokenRow:
    expires = utcnow() + timedelta(days=days) if days else None
    return ApiTokenRow(
        id=minted.id, name=name, secret_hash=minted.secret_hash, kind=kind, expires_at=expires
    )


async def create_token(session: AsyncSession, caller: Caller, body: TokenCreate) -> TokenCreated:
    principal = caller.principal
    minted = tokens.mint()
    if body.service_account is not None:
        if not principal.allows(Permission.SERVICE_ACCOUNTS_WRITE):
            raise ForbiddenError(
                "permission denied: minting a service account's token needs "
                "service_accounts.write on tenant"
            )
        sa = await by_name(session, ServiceAccountRow, body.service_account)
        require_grants_held(
            principal,
            await load_grants(session, service_account_id=sa.id),
            action=f"a token of service account {sa.name!r}",
        )
        row = _row(minted, body.name, "service_account", body.expires_in_days)
        row.service_account_id = sa.id
    elif principal.kind == "user":
        row = _row(minted, body.name, "user", body.expires_in_days)
        row.user_id = principal.id
    else:
        raise ForbiddenError(
            "a service account cannot mint tokens for itself; an admin mints them with "
            "`service_account` set"
        )
    created = await _mint(session, row, minted.secret)
    record(
        session,
        caller,
        action="token.create",
        target=f"token/{minted.id}",
        details={"name": body.name, "subject": created.token.subject},
    )
    return created


async def mint_agent_token(
    session: AsyncSession, caller: Caller, cluster: ClusterRow, *, revoke_old: bool = False
) -> TokenCreated:
    """A new agent token for the cluster.

    The cluster's earlier agent tokens keep working until an agent connects with this one
    (``retire_older_agent_tokens``), so a rotation never leaves the cluster without an agent;
    ``revoke_old`` revokes them at once instead (a leaked token).
    """
    earlier = list(
        await session.scalars(
            select(ApiTokenRow.id)
            .where(
                ApiTokenRow.cluster_id == cluster.id,
                ApiTokenRow.kind == "agent",
                ApiTokenRow.revoked_at.is_(None),
            )
            .order_by(ApiTokenRow.created_at, ApiTokenRow.id)
        )
    )
    if revoke_old and earlier:
        await session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id.in_(earlier))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    # Generations, not timestamps, order a cluster's tokens: replicas' clocks may disagree. The
    # cluster row is locked first, so two rotations at once get distinct generations.
    await session.execute(
        select(ClusterRow.id).where(ClusterRow.id == cluster.id).with_for_update()
    )
    highest = await session.scalar(
        select(func.max(func.coalesce(ApiTokenRow.generation, 0))).where(
            ApiTokenRow.cluster_id == cluster.id, ApiTokenRow.kind == "agent"
        )
    )
    minted = tokens.mint()
    row = _row(minted, f"agent {cluster.name}", "agent", None)
    row.cluster_id = cluster.id
    row.generation = (highest or 0) + 1
    created = await _mint(session, row, minted.secret)
    details: dict[str, object] = {"token": minted.id}
    if earlier:
        details["revoked" if revoke_old else "valid_until_it_connects"] = earlier
    record(
        session,
        caller,
        action="cluster.agent_token",
        target=f"cluster/{cluster.name}",
        details=details,
    )
    return created


async def retire_older_agent_tokens(
    session: AsyncSession, cluster_id: int, token_id: str, *, source_ip: str | None = None
) -> list[str]:
    """An agent connected with ``token_id``: revoke the cluster's agent tokens of a lower
    generation (the rotation is complete) and return their ids. Tokens minted after it stay
    valid. Raises UnauthenticatedError when ``token_id`` itself has been revoked or has expired
    since the connection was authenticated: such a session must not take the cluster over."""
    row = await session.get(ApiTokenRow, token_id)
    if row is None or row.cluster_id != cluster_id or row.kind != "agent":
        raise UnauthenticatedError("the agent token is not valid any more")
    if not live(row.revoked_at, row.expires_at, utcnow()):
        raise UnauthenticatedError("the agent token was revoked or rotated")
    mine = row.generation or 0
    older = list(
        await session.scalars(
            select(ApiTokenRow.id)
            .where(
                ApiTokenRow.cluster_id == cluster_id,
                ApiTokenRow.kind == "agent",
                ApiTokenRow.revoked_at.is_(None),
                func.coalesce(ApiTokenRow.generation, 0) < mine,
            )
            .order_by(ApiTokenRow.generation, ApiTokenRow.created_at, ApiTokenRow.id)
        )
    )
    if not older:
        return []
    await session.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.id.in_(older), ApiTokenRow.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    record(
        session,
        None,
        action="cluster.agent_token_rotated",
        target=f"cluster/{row.cluster.name if row.cluster else cluster_id}",
        source_ip=source_ip,
        details={"token": token_id, "revoked": older},
    )
    return older


def _visible(caller: Caller, row: ApiTokenRow) -> bool:
    p = caller.principal
    if p.kind == "user" and row.user_id == p.id:
        return True
    if row.kind == "service_account":
        return p.allows(Permission.SERVICE_ACCOUNTS_WRITE)
    return p.allows(Permission.USERS_WRITE)


async def list_tokens(session: AsyncSession, caller: Caller, *, everyone: bool) -> list[Token]:
    query = select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.id)
    if everyone:
        if not caller.principal.allows(Permission.USERS_WRITE):
            raise ForbiddenError("permission denied: listing everyone's tokens needs users.write")
    elif caller.principal.kind == "user":
        query = query.where(ApiTokenRow.user_id == caller.principal.id)
    else:
        return []
    return [token_out(r) for r in await session.scalars(query)]


async def revoke_token(session: AsyncSession, caller: Caller, token_id: str) -> Token:
    row = await session.get(ApiTokenRow, token_id)
    if row is None or not _visible(caller, row):
        raise NotFoundError(f"token {token_id!r} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    record(session, caller, action="token.revoke", target=f"token/{token_id}")
    return token_out(row)


async def logout(session: AsyncSession, caller: Caller) -> Token:
    """Revoke the token the call was made with."""
    token_id = caller.principal.token_id
    row = await session.get(ApiTokenRow, token_id) if token_id else None
    if row is None:
        raise NotFoundError("the token of this call is not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    record(session, caller, action="auth.logout", target=f"token/{row.id}")
    return token_out(row)


async def revoke_sessions(session: AsyncSession, user_id: int, *, keep: str | None) -> int:
    """Revoke the user's live session tokens, but ``keep``; returns how many."""
    query = (
        update(ApiTokenRow)
        .where(
            ApiTokenRow.user_id == user_id,
            ApiTokenRow.kind == "session",
            ApiTokenRow.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        query = query.where(ApiTokenRow.id != keep)
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


async def login(
    session: AsyncSession, body: LoginRequest, *, ttl: timedelta, source_ip: str | None
) -> LoginResponse | None:
    """A session token, or None (with the failure audited) for a wrong name or password.

    A failed attempt names the user only if one of that name exists: a password typed into the
    name field must not land in the audit log.
    """
    user = await session.scalar(select(UserRow).where(UserRow.name == body.username))
    ok = verify_password(user.password_hash if user else None, body.password.get_secret_value())
    if user is None or not ok or not user.active:
        record(
            session,
            None,
            action="auth.login",
            target=f"user/{user.name}" if user is not None else "user/?",
            outcome="denied",
            source_ip=source_ip,
        )
        return None
    created = add_session(session, user.id, utcnow() + ttl)
    who = Caller(
        Principal(kind="user", name=user.name, id=user.id, token_id=created.token_id), source_ip
    )
    record(session, who, action="auth.login", target=f"user/{user.name}")
    return created.response


@dataclass(frozen=True, slots=True)
class NewSession:
    token_id: str
    response: LoginResponse


def add_session(session: AsyncSession, user_id: int, expires_at: datetime) -> NewSession:
    """A login session for the user (a password or a UI sign-in with a token); the caller
    audits how it was obtained."""
    minted = tokens.mint()
    session.add(
        ApiTokenRow(
            id=minted.id,
            name="login session",
            secret_hash=minted.secret_hash,
            kind="session",
            user_id=user_id,
            expires_at=expires_at,
        )
    )
    return NewSession(minted.id, LoginResponse(token=minted.secret, expires_at=expires_at))
