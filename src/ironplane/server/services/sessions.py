"""A login session for a user who signs in to the web UI with one of their API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.identity import LoginResponse
from ironplane.core.errors import UnauthenticatedError
from ironplane.server.context import Caller
from ironplane.server.db.tables import ApiTokenRow
from ironplane.server.db.types import utcnow
from ironplane.server.security.authn import authenticate
from ironplane.server.services.audit import record
from ironplane.server.services.tokens import add_session


async def session_from_token(
    session: AsyncSession, token: str, *, ttl: timedelta, source_ip: str | None
) -> LoginResponse:
    """A new session for the user the API token belongs to: the browser never keeps the
    long-lived token itself. Service-account and agent tokens are refused."""
    principal = await authenticate(session, token)
    if principal.kind != "user":
        raise UnauthenticatedError(
            "only a user's token signs in to the web UI (this one belongs to a "
            f"{principal.kind.replace('_', ' ')})"
        )
    source = await session.get(ApiTokenRow, principal.token_id)
    if source is None or source.kind == "session":
        # A session cannot renew itself into a new one (nor outlive what it came from).
        raise UnauthenticatedError("sign in with an API token or a password, not a session")
    expires = utcnow() + ttl
    if source.expires_at is not None:
        expires = min(expires, source.expires_at)  # never outlives the token it came from
    created = add_session(session, principal.id, expires)
    record(
        session,
        Caller(principal, source_ip),
        action="auth.login",
        target=f"user/{principal.name}",
        details={"with": "token", "token": principal.token_id},
    )
    return created.response
