"""One agent's WebSocket session: handshake, desired state out, acks and status in, heartbeats.

Every database transaction a session runs is shielded from the cancellation of the session's
tasks (when the socket closes, the others are cancelled): a transaction cut in the middle could
leave SQLite's write lock held by a connection that is never rolled back.

Level-triggered: whenever the cluster's revision may have moved (a commit wakes the session, and
a slow poll covers anything missed), the session compares what it last sent with the cluster's
desired state and sends the difference. A new session knows nothing about what the agent holds
beyond its Hello, so it sends the full state unless the agent already has the current revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ironplane import __version__
from ironplane.core.errors import UnauthenticatedError
from ironplane.core.logs import bind
from ironplane.server.agents.hub import Hub
from ironplane.server.context import Services
from ironplane.server.db.tables import (
    ApiTokenRow,
    AppStatusRow,
    ClusterAckRow,
    ClusterRow,
    WorkspaceRow,
)
from ironplane.server.db.types import utcnow
from ironplane.server.security.authn import live
from ironplane.server.services.audit import record
from ironplane.server.services.clusters import desired_of
from ironplane.server.services.runs import record_reported
from ironplane.server.services.telemetry import MAX_SAMPLES
from ironplane.server.services.telemetry import prune_if_due as prune_telemetry
from ironplane.server.services.telemetry import store as store_telemetry
from ironplane.server.services.tokens import retire_older_agent_tokens
from ironplane.spec.kinds.platform import telemetry_prometheus_of
from ironplane.wire import agent_protocol as proto
from ironplane.wire.manifests import identity

log = logging.getLogger("ironplane.server.agents")

# WebSocket close codes (4000-4999 are the application's).
CLOSE_PROTOCOL = 4000
CLOSE_UNAUTHENTICATED = 4001
TELEMETRY_WINDOW_S = 10.0
CLOSE_FORBIDDEN = 4003
CLOSE_GONE = 4004
CLOSE_HEARTBEAT = 4008
CLOSE_REPLACED = 4009


# Bounds on what one agent may make the control plane store (a buggy or hostile agent).
MAX_APPS = 5000
MAX_EVENTS = 20
MAX_CONDITIONS = 20
MAX_TEXT = 2000
MAX_NODES = 5000
MAX_LABELS = 200
MAX_LINES = 10_000
MAX_LINE = 10_000


def _bounded(app: proto.AppStatus) -> proto.AppStatus:
    def cut(text: str | None) -> str | None:
        return text[:MAX_TEXT] if text is not None else None

    return msgspec.structs.replace(
        app,
        error=cut(app.error),
        events=[
            msgspec.structs.replace(e, message=cut(e.message) or "", reason=e.reason[:200])
            for e in app.events[-MAX_EVENTS:]
        ],
        conditions=[
            msgspec.structs.replace(c, message=cut(c.message))
            for c in app.conditions[:MAX_CONDITIONS]
        ],
    )


@dataclass
class _Sent:
    revision: int
    hash: str
    objects: dict[str, proto.Object]


class AgentSession:
    def __init__(
        self,
        ws: WebSocket,
        services: Services,
        hub: Hub,
        *,
        cluster_id: int,
        cluster: str,
        token_id: str,
        source_ip: str | None,
    ) -> None:
        self.ws = ws
        self.services = services
        self.hub = hub
        self.cluster_id = cluster_id
        self.cluster = cluster
        self.token_id = token_id
        self.source_ip = source_ip
        settings = services.settings
        self.heartbeat_s = settings.agent_heartbeat_s
        self.poll_s = settings.agent_poll_s
        self.wake = asyncio.Event()
        self.last_seen = time.time()
        self._persisted_seen = 0.0
        self._sent: _Sent | None = None
        self._max_sent = 0
        """The highest revision sent in this session: acks above it (and above the revision the
        agent said it applied) are refused."""
        self._hello_revision = 0
        self._agent_revision = 0
        self._agent_hash: str | None = None
        self._send_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[proto.CommandResult]] = {}
        self._closed = False
        self._telemetry_window: tuple[float, int] = (0.0, 0)

    # -- lifecycle

    async def run(self) -> None:
        bind(cluster=self.cluster)  # this session's log lines (and its tasks') name the cluster
        hello = await self._hello()
        if hello is None:
            return
        # The handshake succeeded: a rotation to this session's token is complete, unless the
        # token was itself rotated away while this connection was being set up.
        try:
            retired = set(await asyncio.shield(self._retire_older_tokens()))
        except UnauthenticatedError as refused:
            await self._refuse(
                refused.message, code="unauthenticated", close_code=CLOSE_UNAUTHENTICATED
            )
            return
        replaced = self.hub.attach(self)
        if replaced is not None and replaced.token_id in retired:
            await replaced.close(CLOSE_UNAUTHENTICATED, "the agent token was rotated")
        elif replaced is not None:
            await replaced.close(CLOSE_REPLACED, "replaced by a newer connection of this cluster")
        try:
            current, prometheus = await asyncio.shield(self._connected(hello))
            await self.send(
                proto.Welcome(
                    cluster=self.cluster,
                    revision=current,
                    heartbeat_s=self.heartbeat_s,
                    prometheus_url=prometheus,
                )
            )
            self.wake.set()
            tasks = [
                asyncio.create_task(self._receive(), name="agent-receive"),
                asyncio.create_task(self._push_loop(), name="agent-push"),
                asyncio.create_task(self._heartbeat(), name="agent-heartbeat"),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        exc = task.exception()
                        if not isinstance(exc, WebSocketDisconnect | ConnectionError):
                            log.error("agent session of %s failed: %r", self.cluster, exc)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the agent disconnected"))
            if self.hub.detach(self):
                await self._disconnected()
            await self.close(1000, "bye")

    async def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, reason=reason)

    async def send(self, frame: proto.Frame) -> None:
        """Send a frame; ``ConnectionError`` once the socket is closed (by either side)."""
        async with self._send_lock:
            if self._closed or self.ws.application_state != WebSocketState.CONNECTED:
                raise ConnectionError(f"the agent of cluster {self.cluster} is disconnected")
            try:
                await self.ws.send_text(proto.encode(frame))
            except RuntimeError as exc:  # Starlette: the socket closed while we were sending
                raise ConnectionError(
                    f"the agent of cluster {self.cluster} is disconnected"
                ) from exc
        self.services.metrics.frames_sent.labels(proto.tag_of(frame)).inc()

    async def request(self, frame: proto.Command) -> proto.CommandResult:
        future: asyncio.Future[proto.CommandResult] = asyncio.get_running_loop().create_future()
        self._pending[frame.id] = future
        try:
            await self.send(frame)
            return await future
        finally:
            self._pending.pop(frame.id, None)

    # -- handshake and connection state

    async def _hello(self) -> proto.Hello | None:
        try:
            text = await asyncio.wait_for(self.ws.receive_text(), self.heartbeat_s * 2)
            frame = proto.decode_agent_frame(text)
        except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError, KeyError) as exc:
            await self._refuse(f"expected a hello frame first ({type(exc).__name__})")
            return None
        self.services.metrics.frames_received.labels(proto.tag_of(frame)).inc()
        if not isinstance(frame, proto.Hello):
            got = type(frame).__name__ if frame is not None else "an unknown frame type"
            await self._refuse(f"expected a hello frame first, got {got}")
            return None
        if frame.protocol != proto.PROTOCOL_VERSION:
            await self._refuse(
                f"protocol {frame.protocol} is not supported; this control plane "
                f"({__version__}) speaks protocol {proto.PROTOCOL_VERSION}: upgrade the agent"
            )
            return None
        self._agent_revision = frame.applied_revision
        self._agent_hash = frame.applied_hash
        self._hello_revision = frame.applied_revision
        return frame

    async def _refuse(
        self, message: str, *, code: str = "protocol", close_code: int = CLOSE_PROTOCOL
    ) -> None:
        """Tell the agent why (if it still listens), then close with ``close_code``."""
        with contextlib.suppress(Exception):
            await self.send(proto.Error(code=code, message=message))
        await self.close(close_code, message[:120])

    async def _retire_older_tokens(self) -> list[str]:
        """Revoke the cluster's agent tokens older than this session's (see ``tokens``). A
        session of another replica on one of them ends at its next poll (token revoked)."""
        async with self.services.db.session() as s:
            return await retire_older_agent_tokens(
                s, self.cluster_id, self.token_id, source_ip=self.source_ip
            )

    async def _connected(self, hello: proto.Hello) -> tuple[int, str | None]:
        """Record the connection; the cluster's revision and its Prometheus (or None)."""
        async with self.services.db.session() as s:
            row = await s.get(ClusterRow, self.cluster_id)
            assert row is not None
            row.agent_connected = True
            row.agent_seen_at = utcnow()
            row.agent_version = hello.agent_version[:64]
            row.agent_runtime = hello.runtime[:32]
            record(
                s,
                None,
                action="agent.connect",
                target=f"cluster/{self.cluster}",
                source_ip=self.source_ip,
                details={"version": row.agent_version, "applied_revision": hello.applied_revision},
            )
            return row.revision, telemetry_prometheus_of(row.spec)

    async def _disconnected(self) -> None:
        with contextlib.suppress(Exception):
            async with self.services.db.session() as s:
                row = await s.get(ClusterRow, self.cluster_id)
                if row is not None:
                    row.agent_connected = False
                    row.agent_seen_at = utcnow()
                    record(
                        s,
                        None,
                        action="agent.disconnect",
                        target=f"cluster/{self.cluster}",
                        source_ip=self.source_ip,
                    )

    # -- desired state out

    async def _push_loop(self) -> None:
        # The first poll comes at a random point of the interval, so that a fleet that
        # (re)connected together does not poll in step.
        timeout = self.poll_s * random.uniform(0.5, 1.0)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            timeout = self.poll_s
            self.wake.clear()
            verdict = await asyncio.shield(self._push())  # see the module docstring
            if verdict is not None:
                await self.close(*verdict)
                return

    async def _push(self) -> tuple[int, str] | None:
        """Send what the agent lacks; a (close code, reason) when the session must end."""
        async with self.services.db.session() as s:
            # One query per poll: the cluster's revision and whether the token still holds.
            found = (
                await s.execute(
                    select(
                        ClusterRow.revision,
                        ApiTokenRow.id,
                        ApiTokenRow.revoked_at,
                        ApiTokenRow.expires_at,
                    )
                    .outerjoin(ApiTokenRow, ApiTokenRow.id == self.token_id)
                    .where(ClusterRow.id == self.cluster_id)
                )
            ).first()
            if found is None:
                return CLOSE_GONE, "the cluster was deleted"
            revision, token_id, revoked_at, expires_at = found
            if token_id is None or not live(revoked_at, expires_at, utcnow()):
                return CLOSE_UNAUTHENTICATED, "the agent token was revoked or expired"
            if self._sent is not None and self._sent.revision == revision:
                return None  # the common case: an idle session's poll ends here
            cluster = await s.get(ClusterRow, self.cluster_id)
            assert cluster is not None
            state = await desired_of(s, self.services.box, cluster, with_secrets=True)
        sent = self._sent
        if sent is not None and sent.revision == state.revision:
            return None
        objects = {identity(o): o for o in state.objects}
        if sent is None and (self._agent_revision, self._agent_hash) == (
            state.revision,
            state.hash,
        ):
            self._sent = _Sent(state.revision, state.hash, objects)  # the agent holds exactly this
            return None
        if sent is None:
            frame = proto.Desired(
                revision=state.revision, hash=state.hash, full=True, objects=state.objects
            )
        else:
            frame = proto.Desired(
                revision=state.revision,
                hash=state.hash,
                full=False,
                base_revision=sent.revision,
                objects=[o for key, o in objects.items() if sent.objects.get(key) != o],
                deletes=sorted(key for key in sent.objects if key not in objects),
            )
        try:
            await self.send(frame)
        except (ConnectionError, WebSocketDisconnect):
            # The session is ending (this push may outlive its cancelled task, being shielded):
            # nothing was sent, and the next session starts from the agent's hello.
            return None
        self.services.metrics.desired_pushed.labels("full" if frame.full else "delta").inc()
        self._sent = _Sent(state.revision, state.hash, objects)
        self._max_sent = max(self._max_sent, state.revision)
        return None

    # -- frames in

    async def _receive(self) -> None:
        while True:
            text = await self.ws.receive_text()
            self.last_seen = time.time()
            try:
                frame = proto.decode_agent_frame(text)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                await self._refuse(f"malformed frame: {exc}")
                return
            received = self.services.metrics.frames_received
            received.labels(proto.tag_of(frame)).inc()
            if frame is not None:  # None: a newer agent's frame type, ignored
                await self._handle(frame)

    async def _handle(self, frame: proto.AgentFrame) -> None:
        if isinstance(frame, proto.Ack):
            await asyncio.shield(self._record_ack(frame))
        elif isinstance(frame, proto.Resync):
            self._sent = None
            self._agent_revision, self._agent_hash = frame.applied_revision, None
            self.wake.set()
        elif isinstance(frame, proto.Status):
            await asyncio.shield(self._record_status(frame))
        elif isinstance(frame, proto.Inventory):
            await asyncio.shield(self._record_inventory(frame))
        elif isinstance(frame, proto.Metrics):
            await asyncio.shield(self._record_metrics(frame))
        elif isinstance(frame, proto.Ping):
            await self.send(proto.Pong(at=frame.at))
        elif isinstance(frame, proto.CommandResult):
            future = self._pending.get(frame.id)
            if future is not None and not future.done():
                frame.lines = [line[:MAX_LINE] for line in frame.lines[-MAX_LINES:]]
                future.set_result(frame)
        elif isinstance(frame, proto.Error):
            log.warning("agent of %s reported: %s: %s", self.cluster, frame.code, frame.message)

    async def _record_ack(self, ack: proto.Ack) -> None:
        if ack.revision > max(self._max_sent, self._hello_revision):
            log.warning(
                "agent of %s acked revision %d it was never sent", self.cluster, ack.revision
            )
            self.services.metrics.acks.labels("ignored").inc()
            return
        self.services.metrics.acks.labels("ok" if ack.ok else "failed").inc()
        async with self.services.db.session() as s:
            cluster = await s.get(ClusterRow, self.cluster_id)
            if cluster is None or ack.revision > cluster.revision:
                return
            cluster.agent_seen_at = utcnow()
            if ack.ok and ack.revision > cluster.applied_revision:
                cluster.applied_revision = ack.revision
            row = await s.scalar(
                select(ClusterAckRow).where(
                    ClusterAckRow.cluster_id == self.cluster_id,
                    ClusterAckRow.revision == ack.revision,
                )
            )
            if row is None:
                s.add(
                    ClusterAckRow(
                        cluster_id=self.cluster_id,
                        revision=ack.revision,
                        hash=ack.hash[:80],
                        ok=ack.ok,
                        error=(ack.error or "")[:2000] or None,
                    )
                )
            elif ack.ok and not row.ok:
                row.ok, row.error, row.at = True, None, utcnow()
        if not ack.ok:
            log.warning("agent of %s failed revision %d: %s", self.cluster, ack.revision, ack.error)

    async def _record_status(self, status: proto.Status) -> None:
        async with self.services.db.session() as s:
            own = await self._own_workspaces(s)
            rows = {
                (r.workspace, r.app): r
                for r in await s.scalars(
                    select(AppStatusRow).where(AppStatusRow.cluster_id == self.cluster_id)
                )
            }
            seen: set[tuple[str, str]] = set()
            now = utcnow()
            for app in status.apps[:MAX_APPS]:
                if app.workspace not in own:
                    continue  # an agent reports on its own cluster's workspaces only
                app = _bounded(app)
                key = (app.workspace[:63], app.app[:63])
                seen.add(key)
                data: dict[str, Any] = msgspec.to_builtins(app)
                row = rows.get(key)
                if row is None:
                    s.add(
                        AppStatusRow(
                            cluster_id=self.cluster_id,
                            workspace=key[0],
                            app=key[1],
                            data=data,
                            updated_at=now,
                        )
                    )
                elif row.data != data:
                    row.data, row.updated_at = data, now
            if status.full:
                gone = [r.id for key, r in rows.items() if key not in seen]
                if gone:
                    await s.execute(delete(AppStatusRow).where(AppStatusRow.id.in_(gone)))
            await record_reported(s, self.cluster_id, own, status.runs)

    async def _own_workspaces(self, s: AsyncSession) -> set[str]:
        """The names of this cluster's workspaces: the only ones its agent may report on."""
        rows = await s.scalars(
            select(WorkspaceRow.name).where(WorkspaceRow.cluster_id == self.cluster_id)
        )
        return set(rows)

    async def _record_inventory(self, inventory: proto.Inventory) -> None:
        async with self.services.db.session() as s:
            cluster = await s.get(ClusterRow, self.cluster_id)
            if cluster is not None:
                cluster.nodes = [
                    msgspec.to_builtins(n)
                    for n in inventory.nodes[:MAX_NODES]
                    if len(n.labels) <= MAX_LABELS
                ]

    async def _record_metrics(self, frame: proto.Metrics) -> None:
        # At most MAX_SAMPLES samples per TELEMETRY_WINDOW_S from one agent: a frame beyond
        # that is dropped (the next one, on the agent's interval, brings fresh values anyway).
        now = time.monotonic()
        if now - self._telemetry_window[0] >= TELEMETRY_WINDOW_S:
            self._telemetry_window = (now, 0)
        start, used = self._telemetry_window
        if used + len(frame.samples) > MAX_SAMPLES:
            log.warning("agent of %s sends telemetry too fast: a frame dropped", self.cluster)
            return
        self._telemetry_window = (start, used + len(frame.samples))
        async with self.services.db.session() as s:
            own = await self._own_workspaces(s)
            cluster = await s.get(ClusterRow, self.cluster_id)
            nodes = {str(n.get("name")) for n in (cluster.nodes if cluster else []) or []}
            await store_telemetry(self.services, s, self.cluster_id, frame, own, nodes)
        await prune_telemetry(self.services)

    # -- heartbeats

    async def _heartbeat(self) -> None:
        await asyncio.sleep(self.heartbeat_s * random.uniform(0.0, 1.0))  # spread a fleet's pings
        while True:
            await asyncio.sleep(self.heartbeat_s)
            silent = time.time() - self.last_seen
            if silent > 3 * self.heartbeat_s:
                log.warning("agent of %s silent for %.0fs: closing", self.cluster, silent)
                await self.close(CLOSE_HEARTBEAT, "no frame within three heartbeats")
                return
            await self.send(proto.Ping(at=time.time()))
            if self.last_seen - self._persisted_seen > 60:
                self._persisted_seen = self.last_seen
                await asyncio.shield(self._persist_seen())

    async def _persist_seen(self) -> None:
        async with self.services.db.session() as s:
            cluster = await s.get(ClusterRow, self.cluster_id)
            if cluster is not None:
                cluster.agent_seen_at = utcnow()
