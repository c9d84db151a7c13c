"""The agents connected to this control-plane process, and how to reach them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from ironplane.core.errors import (
    ConflictError,
    InvalidError,
    IronplaneError,
    NotFoundError,
    UnavailableError,
    UnsupportedError,
)
from ironplane.core.logs import context as log_context
from ironplane.wire.agent_protocol import Command, CommandOp, CommandResult


class AgentNotConnected(UnavailableError):
    """The cluster's agent is not connected: the command was not sent."""


_REFUSALS: dict[str, type[IronplaneError]] = {
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "invalid": InvalidError,
    "unsupported": UnsupportedError,
}

if TYPE_CHECKING:
    from ironplane.server.agents.session import AgentSession


class Hub:
    """One live session per cluster; a new connection of the same cluster replaces the old one."""

    def __init__(self, *, command_timeout_s: float = 15.0) -> None:
        self.sessions: dict[int, AgentSession] = {}
        self.command_timeout_s = command_timeout_s

    def attach(self, session: AgentSession) -> AgentSession | None:
        """Register a session; returns the one it replaces (the caller closes it)."""
        old = self.sessions.get(session.cluster_id)
        self.sessions[session.cluster_id] = session
        return old

    def detach(self, session: AgentSession) -> bool:
        """Forget the session if it is still the cluster's current one."""
        if self.sessions.get(session.cluster_id) is session:
            del self.sessions[session.cluster_id]
            return True
        return False

    def revisions_moved(self, cluster_ids: set[int]) -> None:
        """Called after a commit that moved these clusters' revisions: wake their senders."""
        for cluster_id in cluster_ids:
            session = self.sessions.get(cluster_id)
            if session is not None:
                session.wake.set()

    def last_seen(self, cluster_id: int) -> float | None:
        session = self.sessions.get(cluster_id)
        return session.last_seen if session else None

    async def command(
        self,
        cluster_id: int,
        cluster: str,
        *,
        op: CommandOp,
        workspace: str,
        app: str,
        lines: int = 100,
        run: str | None = None,
        params: dict[str, str] | None = None,
        full: bool = False,
    ) -> CommandResult:
        """Send a command to the cluster's agent and wait for its answer. The agent's refusals
        map to the error hierarchy: ``not_found:`` -> NotFoundError, ``conflict:`` ->
        ConflictError, ``invalid:`` -> InvalidError, ``unsupported:`` -> UnsupportedError."""
        session = self.sessions.get(cluster_id)
        if session is None:
            raise AgentNotConnected(
                f"the agent of cluster {cluster!r} is not connected; start it, or check its logs"
            )
        frame = Command(
            id=uuid.uuid4().hex,
            op=op,
            workspace=workspace,
            app=app,
            lines=lines,
            run=run,
            params=params or {},
            full=full,
            request_id=log_context().get("request_id"),
        )
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(session.request(frame), self.command_timeout_s)
        except ConnectionError:
            raise UnavailableError(
                f"the agent of cluster {cluster!r} disconnected before answering; retry"
            ) from None
        except TimeoutError:
            raise UnavailableError(
                f"the agent of cluster {cluster!r} did not answer within "
                f"{time.monotonic() - started:.0f}s"
            ) from None
        if not result.ok and result.error:
            code, sep, rest = result.error.partition(":")
            refusal = _REFUSALS.get(code) if sep else None
            if refusal is not None:
                raise refusal(rest.strip())
        if not result.ok:
            raise UnavailableError(f"the agent of cluster {cluster!r} failed: {result.error}")
        return result
