"""One gateway worker: a listening socket, its event loop, reloads and a graceful stop.

The configuration is reloaded on SIGHUP and when the file changes (checked once a second);
a configuration that fails its checks is refused and the old one keeps serving. SIGTERM or
SIGINT stops accepting, lets requests in flight finish (up to ``gateway.shutdown_grace``) and
closes idle connections.

In control-plane mode the control plane's snapshot, kept by the fetcher in a
:class:`~ironplane.gateway.snapshot.Store`, is merged into every reload, and a new snapshot
there triggers one (checked with the file each second, or at once on SIGHUP); the fetcher's
status is read from there for /healthz and metrics. Each worker ships its own request logs
(``shipper.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import ConfigError
from ironplane.gateway import config as config_file
from ironplane.gateway.config_checks import warnings as config_warnings
from ironplane.gateway.metrics import Metrics
from ironplane.gateway.server import ClientConnection, Gateway
from ironplane.gateway.shipper import Shipper
from ironplane.gateway.snapshot import Status, Store, decode, merge, snapshot_age
from ironplane.gateway.source import Source
from ironplane.gateway.state import State
from ironplane.gateway.upstream import Pools

log = logging.getLogger("ironplane.gateway")


@dataclass
class Running:
    gateway: Gateway
    server: asyncio.Server
    port: int
    path: Path
    workers: int
    _stamp: tuple[float, int] = (0.0, 0)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    store: Store | None = None
    shipper: Shipper | None = None
    _store_stamps: tuple[tuple[int, int, int], tuple[int, int, int]] = ((0, 0, 0), (0, 0, 0))
    _applied: tuple[str, tuple[int, int, int]] | None = None
    """The file's digest and the stored snapshot's stamp of the configuration serving now."""

    def reload(self) -> bool:
        """Load the file again and swap it in; False (and the old one kept) when it fails.

        A new snapshot triggers this twice (the fetcher's signal and this worker's watch of the
        store): the second finds the same file and snapshot and returns before decoding and
        merging the snapshot again, which takes the loop ~0.2 s with 50k keys.
        """
        g = self.gateway
        snap = self.store.stamp(self.store.snapshot_path) if self.store else (0, 0, 0)
        # Taken before the snapshot is read: a newer one written meanwhile shows as a change.
        self._store_stamps = (snap, self._store_stamps[1])
        try:
            file = self._load()
            if (file.digest, snap) == self._applied:
                g.reload_error = None
                return True
            loaded = with_snapshot(file, self.store)
        except ConfigError as exc:
            g.reload_error = exc.message
            g.metrics.reloaded("error")
            log.error("configuration not reloaded, the old one keeps serving:\n%s", exc.message)
            return False
        if loaded.digest == g.state.loaded.digest:
            g.reload_error = None
            self._applied = (file.digest, snap)
            return True
        try:
            state = State(
                loaded, g.pools, workers=self.workers, now=g.loop.time(), previous=g.state
            )
        except Exception as exc:  # a check the loader missed must not stop the old config
            g.reload_error = f"{self.path}: cannot apply: {exc}"
            g.metrics.reloaded("error")
            log.exception("configuration not reloaded, the old one keeps serving")
            return False
        g.reload_error = None
        self._applied = (file.digest, snap)
        g.swap(state)
        g.metrics.reloaded("ok")
        self._ship(loaded)
        log.info("configuration reloaded from %s (sha256 %s)", loaded.source, loaded.digest[:12])
        return True

    def _load(self) -> config_file.Loaded:
        loaded = config_file.load(self.path)
        if (loaded.config.control_plane is None) != (self.store is None):
            change = "adding" if self.store is None else "removing"
            raise ConfigError(
                [
                    Diagnostic(
                        f"{change} `control_plane` takes a restart of the gateway",
                        source=str(self.path),
                        path=("control_plane",),
                    )
                ]
            )
        return loaded

    def _ship(self, loaded: config_file.Loaded) -> None:
        """Start or reconfigure the request-log shipper (control-plane mode: ``_load`` refuses
        a reload that adds or removes it)."""
        cp = loaded.config.control_plane
        token = loaded.control_plane_token
        if cp is None or token is None:
            return
        if self.shipper is None:
            self.shipper = Shipper(self.gateway.loop, self.gateway.metrics, cp, token)
            self.shipper.start()
        else:
            self.shipper.configure(cp, token)
        self.gateway.governor.sink = self.shipper.add

    def _stat(self) -> tuple[float, int]:
        try:
            st = self.path.stat()
        except OSError:
            return self._stamp
        return (st.st_mtime, st.st_size)

    def _watch(self) -> None:
        try:
            stamp = self._stat()
            snapshot_changed = self._read_store()
            if stamp != self._stamp or snapshot_changed:
                self._stamp = stamp
                self.reload()
            self.gateway.metrics.publish()
        finally:
            if not self.gateway.draining:
                self.gateway.loop.call_later(1.0, self._watch)

    def _read_store(self) -> bool:
        """Read the fetcher's status if it changed; True when the stored snapshot changed."""
        store = self.store
        if store is None:
            return False
        snap, status = store.stamp(store.snapshot_path), store.stamp(store.status_path)
        before, self._store_stamps = self._store_stamps, (snap, status)
        if status != before[1]:
            self.gateway.control_plane = store.read_status() or self.gateway.control_plane
        return snap != before[0]

    async def drain(self) -> None:
        """Stop accepting, let requests in flight finish, close everything."""
        g = self.gateway
        g.draining = True
        self.server.close()
        for conn in list(g.connections):
            conn.close_if_idle()
        deadline = g.loop.time() + float(g.state.settings.shutdown_grace)
        while g.metrics.in_flight > 0 and g.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(g.connections):
            if conn.transport is not None:
                conn.transport.abort()
        g.wheel.stop()
        await g.governor.finish()
        g.governor.close()
        g.pools.close()
        if self.shipper is not None:
            await self.shipper.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1.0)


def with_snapshot(file: config_file.Loaded, store: Store | None) -> config_file.Loaded:
    """The file's configuration with the stored snapshot merged in (control-plane mode).

    The store holds only snapshots the fetcher checked, so the snapshot's own check is not
    repeated on the worker's loop; the merge checks the result as a whole.
    """
    if store is None or file.config.control_plane is None:
        return file
    body = store.read_snapshot()
    if body is None:
        return file
    return merge(file, decode(body, file.config, checked=True)).loaded


async def serve(
    loaded: config_file.Loaded,
    path: str | Path,
    host: str,
    port: int,
    *,
    workers: int = 1,
    worker: int = 0,
    share_dir: str | None = None,
    sock: socket.socket | None = None,
    store: Store | None = None,
) -> Running:
    """Start serving on the running loop; returns at once with the bound port.

    ``store``: where the snapshot fetcher keeps the control plane's snapshot (control-plane
    mode); it is merged in now and on every reload.
    """
    loop = asyncio.get_running_loop()
    metrics = Metrics(share_dir, worker)
    pools = Pools()
    file, applied = loaded, None
    stamp = store.stamp(store.snapshot_path) if store is not None else (0, 0, 0)
    if store is not None and loaded.config.control_plane is not None:
        try:
            loaded = with_snapshot(loaded, store)
            applied = (file.digest, stamp)
        except ConfigError as exc:
            log.error("the stored control plane snapshot does not apply:\n%s", exc.message)
    g = Gateway(loop, State(loaded, pools, workers=workers, now=loop.time()), metrics, pools)
    metrics.health = lambda: iter(g.state.health(loop.time()))
    if store is not None:
        g.control_plane = store.read_status() or Status()
        g.read_status = store.read_status
        metrics.control_plane = lambda: _view(g.control_plane)
    g.wheel.start()
    await g.governor.start()  # with Redis: connected (or known away) before the first request
    for warning in config_warnings(loaded.config):
        log.warning("%s: %s", path, warning)
    if sock is not None:
        server = await loop.create_server(lambda: ClientConnection(g), sock=sock, backlog=4096)
    else:
        server = await loop.create_server(
            lambda: ClientConnection(g),
            host,
            port,
            reuse_port=workers > 1,
            backlog=4096,
        )
    bound = server.sockets[0].getsockname()[1]
    running = Running(g, server, bound, Path(path), workers, store=store)
    running._stamp = running._stat()
    running._applied = applied
    running._store_stamps = (stamp, running._store_stamps[1])
    if running._read_store():  # a snapshot stored while this one was merged: apply it soon
        loop.call_soon(running.reload)
    running._ship(loaded)
    loop.call_later(1.0, running._watch)
    return running


def _view(status: Status | None) -> tuple[float | None, bool] | None:
    if status is None:
        return None
    return snapshot_age(status), status.state != "ok"


def run(
    loaded: config_file.Loaded,
    path: str | Path,
    host: str,
    port: int,
    *,
    workers: int = 1,
    worker: int = 0,
    share_dir: str | None = None,
    announce: bool = True,
    store: Store | None = None,
    source: Source | None = None,
) -> int:
    """Run one worker until SIGTERM or SIGINT; the process's exit code.

    ``source``: a single worker fetches the control plane's snapshot itself, in a thread.
    """
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        running = await serve(
            loaded,
            path,
            host,
            port,
            workers=workers,
            worker=worker,
            share_dir=share_dir,
            store=store,
        )
        halt = threading.Event()
        if source is not None:
            threading.Thread(
                target=source.run,
                args=(halt, lambda: loop.call_soon_threadsafe(running.reload)),
                name="control-plane-snapshot",
                daemon=True,
            ).start()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, running.reload)
        if announce:
            log.info(
                "ironplane gateway listening on http://%s:%d (config %s, pid %d)",
                host,
                running.port,
                path,
                os.getpid(),
            )
        await stop.wait()
        halt.set()
        await running.drain()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return 0
