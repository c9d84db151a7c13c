"""The agent: dial out, follow the desired state, converge the runtime, report back.

Two loops run for the agent's whole life: ``_converge_loop`` makes the runtime match the latest
desired state it holds (retrying with backoff on failure, connected or not), and ``run`` keeps a
WebSocket session to the control plane (reconnecting with jittered backoff). Acks go out when a
converge succeeds and, after a reconnect, again for the revision last applied: the control plane
records each (cluster, revision) once, so a repeat costs nothing and a lost ack is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from ironplane import __version__
from ironplane.agent.metrics import AgentMetrics, kind_of
from ironplane.agent.runtime import Runtime
from ironplane.agent.settings import AgentSettings
from ironplane.agent.telemetry import Owners, Telemetry
from ironplane.agent.telemetry.prometheus import Prometheus, masked
from ironplane.core.backoff import backoff
from ironplane.core.errors import (
    ConflictError,
    InvalidError,
    IronplaneError,
    NotFoundError,
    UnsupportedError,
)
from ironplane.core.logs import bind, log_context
from ironplane.wire import agent_protocol as proto
from ironplane.wire.manifests import ManifestBundle, identity

log = logging.getLogger("ironplane.agent")
CLOSE_REPLACED = 4009
"""The control plane closed this session because a newer one of the same cluster connected."""


class ProtocolError(IronplaneError):
    code = "protocol"


class Agent:
    """``metrics``: where to count (a fresh registry by default). ``pods``: the runtime's watched
    pods, to tell which app uses which GPU (telemetry; names are matched without it)."""

    def __init__(
        self,
        settings: AgentSettings,
        runtime: Runtime,
        *,
        metrics: AgentMetrics | None = None,
        pods: Callable[[], Iterable[proto.Object]] | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = metrics or AgentMetrics()
        self.pods = pods
        self.prometheus_url: str | None = None
        """What the control plane's welcome said (the agent's own setting wins)."""
        self._telemetry: Telemetry | None = None
        self._converger: asyncio.Task[None] | None = None
        self.desired: dict[str, proto.Object] = {}
        self.revision = 0
        """The revision of ``desired`` (received; not necessarily applied yet)."""
        self.hash: str | None = None
        self.applied_revision = 0
        self.applied_hash: str | None = None
        self.connected = asyncio.Event()
        self.acks_sent = 0
        self._dirty = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._last_seen = time.monotonic()
        self._heartbeat_s = 15.0
        self._commands: set[asyncio.Task[None]] = set()

    # -- the whole life

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        await self.runtime.start()
        converger = asyncio.create_task(self._converge_loop(), name="agent-converge")
        self._converger = converger
        delays = self._delays()
        try:
            while not stop.is_set():
                session = asyncio.create_task(self._session())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait([session, stopper], return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not session.done():
                    session.cancel()
                healthy = False
                with contextlib.suppress(asyncio.CancelledError):
                    healthy = await session
                if stop.is_set():
                    break
                self.metrics.reconnects.inc()
                if healthy:  # a session that got going resets the backoff
                    delays = self._delays()
                delay = next(delays)
                log.info("reconnecting to %s in %.1fs", self.settings.server_url, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            self._converger = None
            converger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await converger
            await self.runtime.close()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """For ``/healthz``: whether the agent's loops run, and where it stands."""
        ok = self._converger is not None and not self._converger.done()
        return ok, {
            "connected": self.connected.is_set(),
            "revision": self.revision,
            "applied_revision": self.applied_revision,
        }

    def _delays(self) -> Iterator[float]:
        return backoff(base=self.settings.backoff_base_s, cap=self.settings.backoff_cap_s)

    # -- one session

    async def _session(self) -> bool:
        """Returns when the session ends (errors logged); True if the handshake succeeded."""
        url = self.settings.websocket_url
        healthy = False
        try:
            async with connect(
                url,
                additional_headers={"Authorization": f"Bearer {self.settings.token}"},
                open_timeout=self.settings.connect_timeout_s,
                ping_interval=None,
                max_size=self.settings.max_frame_bytes,
                user_agent_header=f"ironplane-agent/{__version__}",
            ) as ws:
                self._ws = ws
                await self._handshake(ws)
                healthy = True
                await self._serve(ws)
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = ": check the agent token" if status in (401, 403) else ""
            log.error("the control plane refused the agent (HTTP %d)%s", status, hint)
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "no close frame"
            code = exc.rcvd.code if exc.rcvd else 1006
            log.warning("connection to %s closed (%d %s)", self.settings.server_url, code, reason)
            if code == CLOSE_REPLACED:
                # Another agent holds this cluster's token: do not fight it at full speed.
                log.error(
                    "another agent connected with this cluster's token; run one agent per cluster"
                )
                healthy = False
        except (OSError, TimeoutError, InvalidURI, ProtocolError) as exc:
            log.warning("cannot reach %s: %s", self.settings.server_url, exc)
        except Exception:
            # Whatever went wrong in one session (a proxy that hangs up mid-handshake, a runtime
            # error while reporting), the agent lives on and reconnects.
            log.exception("the session with %s failed", self.settings.server_url)
        finally:
            self._ws = None
            self.connected.clear()
            self.metrics.connected.set(0)
        return healthy

    async def _handshake(self, ws: ClientConnection) -> None:
        await ws.send(
            proto.encode(
                proto.Hello(
                    agent_version=__version__,
                    runtime=self.runtime.name,
                    applied_revision=self.applied_revision,
                    applied_hash=self.applied_hash,
                )
            )
        )
        self.metrics.frames_sent.labels("hello").inc()
        raw = await asyncio.wait_for(ws.recv(), self.settings.connect_timeout_s)
        frame = proto.decode_server_frame(raw)
        self._count_in(frame)
        if isinstance(frame, proto.Error):
            raise ProtocolError(f"{frame.code}: {frame.message}")
        if not isinstance(frame, proto.Welcome):
            raise ProtocolError(f"expected welcome, got {type(frame).__name__}")
        self._heartbeat_s = frame.heartbeat_s
        self._last_seen = time.monotonic()
        self.prometheus_url = frame.prometheus_url
        bind(cluster=frame.cluster)  # this session's lines (and its tasks') name the cluster
        self.connected.set()
        self.metrics.connected.set(1)
        log.info(
            "connected to %s as cluster %s (revision %d; applied %d)",
            self.settings.server_url,
            frame.cluster,
            frame.revision,
            self.applied_revision,
        )
        if self.applied_revision and self.applied_hash:
            await self._send(proto.Ack(revision=self.applied_revision, hash=self.applied_hash))

    async def _serve(self, ws: ClientConnection) -> None:
        tasks = [
            asyncio.create_task(self._receive(ws), name="agent-receive"),
            asyncio.create_task(self._heartbeat(), name="agent-heartbeat"),
            asyncio.create_task(self._report(), name="agent-report"),
            asyncio.create_task(self._telemetry_loop(), name="agent-telemetry"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None:
                    raise exc
        finally:
            for task in [*tasks, *self._commands]:
                task.cancel()
            await asyncio.gather(*tasks, *self._commands, return_exceptions=True)

    async def _send(self, frame: proto.Frame) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(proto.encode(frame))
        except ConnectionClosed:
            return False
        self.metrics.frames_sent.labels(proto.tag_of(frame)).inc()
        return True

    def _count_in(self, frame: proto.Frame | None) -> None:
        self.metrics.frames_received.labels(proto.tag_of(frame)).inc()

    # -- frames in

    async def _receive(self, ws: ClientConnection) -> None:
        async for raw in ws:
            self._last_seen = time.monotonic()
            try:
                frame = proto.decode_server_frame(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ProtocolError(f"malformed frame from the control plane: {exc}") from exc
            self._count_in(frame)
            if frame is None:
                continue  # a frame type of a newer protocol revision: ignored
            if isinstance(frame, proto.Desired):
                await self._desired(frame)
            elif isinstance(frame, proto.Ping):
                await self._send(proto.Pong(at=frame.at))
            elif isinstance(frame, proto.Command):
                if len(self._commands) >= 16:
                    await self._send(
                        proto.CommandResult(
                            id=frame.id, ok=False, error="too many commands at once"
                        )
                    )
                    continue
                task = asyncio.create_task(self._command(frame))
                self._commands.add(task)
                task.add_done_callback(self._commands.discard)
            elif isinstance(frame, proto.Error):
                raise ProtocolError(f"{frame.code}: {frame.message}")

    async def _desired(self, frame: proto.Desired) -> None:
        if frame.full:
            desired = {identity(o): o for o in frame.objects}
        elif frame.base_revision != self.revision:
            log.info(
                "delta for %s does not fit revision %d: resync", frame.base_revision, self.revision
            )
            await self._send(proto.Resync(applied_revision=self.applied_revision))
            return
        else:
            desired = dict(self.desired)
            for key in frame.deletes:
                desired.pop(key, None)
            desired.update((identity(o), o) for o in frame.objects)
        if ManifestBundle.of(desired.values()).hash != frame.hash:
            if frame.full:
                # Not a transfer problem: the state itself is inconsistent (two objects with one
                # identity). Report it; asking again would only bring the same state back.
                message = (
                    f"desired state {frame.revision} does not match its hash "
                    f"({len(frame.objects)} objects, {len(desired)} distinct identities)"
                )
                log.error("%s", message)
                await self._send(
                    proto.Ack(revision=frame.revision, hash=frame.hash, ok=False, error=message)
                )
                return
            log.warning("desired state %d does not match its hash: resync", frame.revision)
            await self._send(proto.Resync(applied_revision=self.applied_revision))
            return
        self.desired, self.revision, self.hash = desired, frame.revision, frame.hash
        self.metrics.desired_revision.set(frame.revision)
        self._dirty.set()

    async def _command(self, frame: proto.Command) -> None:
        with log_context(
            request_id=frame.request_id, workspace=frame.workspace, app=frame.app, command=frame.op
        ):
            log.info("command %s for %s/%s", frame.op, frame.workspace, frame.app)
            try:
                result = await self._do(frame)
            except NotFoundError as exc:
                error = f"not_found: {exc.message}"
                result = proto.CommandResult(id=frame.id, ok=False, error=error)
            except (UnsupportedError, ConflictError, InvalidError) as exc:
                error = f"{exc.code}: {exc.message}"
                result = proto.CommandResult(id=frame.id, ok=False, error=error)
            except Exception as exc:
                log.exception("command %s for %s/%s failed", frame.op, frame.workspace, frame.app)
                result = proto.CommandResult(id=frame.id, ok=False, error=str(exc)[:500])
            await self._send(result)

    async def _do(self, frame: proto.Command) -> proto.CommandResult:
        runtime, ws, app = self.runtime, frame.workspace, frame.app
        lines: list[str] = []
        message: str | None = None
        if frame.op == "logs":
            lines = await runtime.logs(ws, app, frame.lines)
        elif frame.op == "restart":
            await runtime.restart(ws, app)
        elif frame.op == "promote":
            message = await runtime.promote(ws, app, full=frame.full)
        elif frame.op == "abort":
            message = await runtime.abort(ws, app)
        elif frame.run is None:
            raise InvalidError(f"command {frame.op} needs a run name")
        elif frame.op == "run":
            await runtime.run_job(ws, app, frame.run, dict(frame.params))
            self.runtime.changed.set()
        elif frame.op == "stop":
            await runtime.stop_run(ws, app, frame.run)
            self.runtime.changed.set()
        else:
            lines = await runtime.run_logs(ws, app, frame.run, frame.lines)
        return proto.CommandResult(id=frame.id, ok=True, lines=lines, message=message)

    # -- converging

    async def _converge_loop(self) -> None:
        delays = self._delays()
        applied: set[str] = set()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            revision, digest, desired = self.revision, self.hash, self.desired
            if digest is None:
                continue
            objects = list(desired.values())
            with log_context(revision=revision):
                try:
                    await self.runtime.converge(objects)
                except Exception as exc:
                    message = exc.message if isinstance(exc, IronplaneError) else repr(exc)
                    self.metrics.applies.labels("error").inc()
                    self.metrics.apply_errors.labels(kind_of(message)).inc()
                    log.warning("revision %d failed to apply: %s", revision, message)
                    await self._send(
                        proto.Ack(revision=revision, hash=digest, ok=False, error=message)
                    )
                    self.runtime.changed.set()
                    # Retry after the backoff, or at once when a new desired state arrives.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._dirty.wait(), next(delays))
                    self._dirty.set()
                    continue
                delays = self._delays()
                current = set(desired)  # the objects' identities: ``_desired`` keys them so
                self.metrics.applies.labels("ok").inc()
                self.metrics.pruned.inc(len(applied - current))
                applied = current
                self.metrics.applied_revision.set(revision)
                self.applied_revision, self.applied_hash = revision, digest
                self.runtime.changed.set()
                if await self._send(proto.Ack(revision=revision, hash=digest)):
                    self.acks_sent += 1
                log.info("applied revision %d (%d objects)", revision, len(objects))

    # -- reporting

    async def _report(self) -> None:
        last_status: bytes | None = None
        last_inventory: bytes | None = None
        inventory_due = 0.0
        while True:
            self.runtime.changed.clear()
            try:
                last_status, last_inventory, inventory_due = await self._report_once(
                    last_status, last_inventory, inventory_due
                )
            except Exception:
                log.exception("reporting status failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.runtime.changed.wait(), self.settings.status_interval_s)

    async def _report_once(
        self, last_status: bytes | None, last_inventory: bytes | None, inventory_due: float
    ) -> tuple[bytes | None, bytes | None, float]:
        """Send the status and (when due) the inventory if they changed since last sent."""
        statuses, runs = await self.runtime.statuses(), await self.runtime.runs()
        encoded = msgspec.json.encode([statuses, runs])
        if encoded != last_status and await self._send(proto.Status(apps=statuses, runs=runs)):
            last_status = encoded
            self.metrics.status_reports.inc()
        if time.monotonic() >= inventory_due:
            nodes = await self.runtime.inventory()
            encoded = msgspec.json.encode(nodes)
            if encoded != last_inventory and await self._send(proto.Inventory(nodes=nodes)):
                last_inventory = encoded
                self.metrics.inventory_reports.inc()
            inventory_due = time.monotonic() + self.settings.inventory_interval_s
        return last_status, last_inventory, inventory_due

    # -- telemetry

    def telemetry_url(self) -> str | None:
        """Where telemetry is read from now: the agent's own setting, else the welcome's."""
        if self.settings.telemetry_off:
            return None
        return self.settings.prometheus_url or self.prometheus_url

    async def _telemetry_loop(self) -> None:
        """Every ``telemetry_interval_s`` while connected: query Prometheus, send the samples."""
        announced: str | None = None
        while True:
            await asyncio.sleep(self.settings.telemetry_interval_s)
            url = self.telemetry_url()
            if url is None:
                continue
            if self._telemetry is None or self._telemetry.prometheus.url != url.rstrip("/"):
                prometheus = Prometheus(url, timeout_s=self.settings.prometheus_timeout_s)
                window = self.settings.telemetry_rate_window
                self._telemetry = Telemetry(prometheus, self.metrics, window=window)
            if announced != url:
                log.info("reading telemetry from Prometheus at %s", masked(url))
                announced = url
            owners = Owners(self.desired.values(), self.pods)
            samples = await self._telemetry.collect(owners)
            if samples and await self._send(proto.Metrics(at=time.time(), samples=samples)):
                self.metrics.telemetry_samples.inc(len(samples))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            silent = time.monotonic() - self._last_seen
            if silent > 3 * self._heartbeat_s:
                raise ProtocolError("the control plane has been silent for three heartbeats")
            if silent > self._heartbeat_s:  # the control plane's own pings usually suffice
                await self._send(proto.Ping(at=time.time()))
