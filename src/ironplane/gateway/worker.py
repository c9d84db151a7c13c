"""One gateway worker: a listening socket, its event loop, reloads and a graceful stop.

The configuration is reloaded on SIGHUP and when the file changes (checked once a second);
a configuration that fails its checks is refused and the old one keeps serving. SIGTERM or
SIGINT stops accepting, lets requests in flight finish (up to ``gateway.shutdown_grace``) and
closes idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ironplane.core.errors import ConfigError
from ironplane.gateway import config as config_file
from ironplane.gateway.metrics import Metrics
from ironplane.gateway.server import ClientConnection, Gateway
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

    def reload(self) -> bool:
        """Load the file again and swap it in; False (and the old one kept) when it fails."""
        g = self.gateway
        try:
            loaded = config_file.load(self.path)
        except ConfigError as exc:
            g.reload_error = exc.message
            g.metrics.reloaded("error")
            log.error("configuration not reloaded, the old one keeps serving:\n%s", exc.message)
            return False
        if loaded.digest == g.state.loaded.digest:
            g.reload_error = None
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
        g.swap(state)
        g.metrics.reloaded("ok")
        log.info("configuration reloaded from %s (sha256 %s)", self.path, loaded.digest[:12])
        return True

    def _stat(self) -> tuple[float, int]:
        try:
            st = self.path.stat()
        except OSError:
            return self._stamp
        return (st.st_mtime, st.st_size)

    def _watch(self) -> None:
        try:
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                self.reload()
            self.gateway.metrics.publish()
        finally:
            if not self.gateway.draining:
                self.gateway.loop.call_later(1.0, self._watch)

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
        g.pools.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1.0)


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
) -> Running:
    """Start serving on the running loop; returns at once with the bound port."""
    loop = asyncio.get_running_loop()
    metrics = Metrics(share_dir, worker)
    pools = Pools()
    g = Gateway(loop, State(loaded, pools, workers=workers, now=loop.time()), metrics, pools)
    metrics.health = lambda: iter(g.state.health(loop.time()))
    g.wheel.start()
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
    running = Running(g, server, bound, Path(path), workers)
    running._stamp = running._stat()
    loop.call_later(1.0, running._watch)
    return running


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
) -> int:
    """Run one worker until SIGTERM or SIGINT; the process's exit code."""
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        running = await serve(
            loaded, path, host, port, workers=workers, worker=worker, share_dir=share_dir
        )
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
        await running.drain()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return 0
