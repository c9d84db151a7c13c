"""``ironplane up``: the whole platform on one machine, without Kubernetes.

One process runs the control plane (SQLite in the data directory), registers a cluster named
``local`` with a workspace ``default``, and runs that cluster's agent with the local runtime, so
that applied specs run as processes here. Ctrl-C stops the agent (and every process it started),
then the control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ironplane.agent.agent import Agent
from ironplane.agent.local import LocalRuntime
from ironplane.agent.settings import AgentSettings
from ironplane.core.errors import UnavailableError
from ironplane.core.files import write_private
from ironplane.embedded.gateway import (
    GatewayProcess,
    gateway_config,
    gateway_token,
    missing_gateway_modules,
)
from ironplane.sdk import AsyncClient
from ironplane.server.app import create_app
from ironplane.server.settings import ServerSettings

log = logging.getLogger("ironplane.up")

CLUSTER = "local"
WORKSPACE = "default"
PLATFORM = f"""\
kind: Cluster
name: {CLUSTER}
provider: generic
---
kind: Workspace
name: {WORKSPACE}
cluster: {CLUSTER}
"""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: `up` stops the agent (and its processes) first,
    then the control plane."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Embedded:
    url: str
    admin_token: str
    data_dir: Path
    gateway_url: str | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def _local_cluster(url: str, admin_token: str, data_dir: Path) -> str:
    """Register the local cluster and workspace (idempotent); the agent token, kept 0600."""
    token_file = data_dir / "agent-token"
    async with AsyncClient(url, admin_token) as client:
        result = await client.apply([("ironplane-up", PLATFORM)])
        for change in result.changes:
            if change.agent_token is not None:
                write_private(token_file, change.agent_token.secret + "\n")
        token = _read(token_file)
        if token is None:  # registered earlier but the file is gone: mint a new one
            token = (await client.clusters.rotate_agent_token(CLUSTER)).secret
            write_private(token_file, token + "\n")
    return token


async def up(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    stop: asyncio.Event | None = None,
    ready: asyncio.Future[Embedded] | None = None,
    on_ready: Callable[[Embedded], str | None] | None = None,
    gateway_port: int | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when none is given).

    ``gateway_port``: run the AI gateway there too, fed by this control plane (None: no gateway).

    ``on_ready`` runs once everything is up (the CLI logs itself in there) and returns a line to
    print with the announcement; ``ready`` receives the same, or the error that stopped the start.
    """
    try:
        await _up(
            data_dir,
            host=host,
            port=port,
            stop=stop,
            ready=ready,
            on_ready=on_ready,
            gateway_port=gateway_port,
        )
    except BaseException as exc:
        if ready is not None and not ready.done():
            ready.set_exception(exc)
        raise


async def _up(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    stop: asyncio.Event | None = None,
    ready: asyncio.Future[Embedded] | None = None,
    on_ready: Callable[[Embedded], str | None] | None = None,
    gateway_port: int | None = None,
) -> None:
    data_dir = data_dir.expanduser().resolve()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    token_file = data_dir / "admin-token"
    settings = ServerSettings(
        data_dir=data_dir, host=host, port=port, bootstrap_token_file=token_file
    )
    app = create_app(settings, announce_token=False)
    server = _Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, ws_ping_interval=None
        )
    )
    serving = asyncio.create_task(server.serve(), name="control-plane")
    while not server.started:
        if serving.done():
            serving.result()
            raise UnavailableError(f"the control plane could not listen on {host}:{port}")
        await asyncio.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://{host}:{bound}"
    agent_task: asyncio.Task[None] | None = None
    agent_stop = asyncio.Event()
    gateway: GatewayProcess | None = None
    try:
        if app.state.bootstrap_token:
            write_private(token_file, app.state.bootstrap_token + "\n")
        admin_token = _read(token_file)
        if admin_token is None:
            raise UnavailableError(
                f"{token_file} is missing, so `ironplane up` cannot register its local cluster; "
                "restore it or start over with a new --data-dir"
            )
        agent_token = await _local_cluster(url, admin_token, data_dir)
        runtime = LocalRuntime(data_dir / "local")
        agent = Agent(
            AgentSettings(
                server_url=url, token=agent_token, runtime="local", status_interval_s=2.0
            ),
            runtime,
        )
        agent_task = asyncio.create_task(agent.run(agent_stop), name="local-agent")
        missing = missing_gateway_modules() if gateway_port is not None else []
        if missing:
            print(
                f"ironplane: not starting the AI gateway: {', '.join(missing)} missing "
                "(install them with: pip install 'ironplane[gateway]')",
                file=sys.stderr,
            )
        elif gateway_port is not None:
            gateway = await _gateway(url, admin_token, data_dir, host, gateway_port)
        embedded = Embedded(
            url=url,
            admin_token=admin_token,
            data_dir=data_dir,
            gateway_url=gateway.url if gateway else None,
        )
        note = on_ready(embedded) if on_ready is not None else None
        _announce(embedded, note)
        if ready is not None:
            ready.set_result(embedded)
        await stop.wait()
        print("\nironplane: stopping the local agent and its processes...", file=sys.stderr)
    finally:
        if gateway is not None:
            with contextlib.suppress(Exception):
                await gateway.stop()
        agent_stop.set()
        if agent_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(agent_task, 60)
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 30)
        print("ironplane: stopped", file=sys.stderr)


async def _gateway(
    url: str, admin_token: str, data_dir: Path, host: str, port: int
) -> GatewayProcess:
    async with AsyncClient(url, admin_token) as client:
        token_file = await gateway_token(client, data_dir)
    config = data_dir / "gateway.yaml"
    write_private(config, gateway_config(url, token_file))
    gateway = GatewayProcess(config, host, port, data_dir / "gateway.log")
    await gateway.start()
    return gateway


def _announce(embedded: Embedded, note: str | None) -> None:
    url, token, data_dir = embedded.url, embedded.admin_token, embedded.data_dir
    cli = note or f"Log the CLI in with: ironplane login --url {url} --token {token}"
    gateway = (
        f"  AI gateway      {embedded.gateway_url}/v1   (OpenAI API; your API token is the key)\n"
        if embedded.gateway_url
        else ""
    )
    print(
        f"""ironplane is up.

  web UI          {url}/ui/   (sign in with the admin token)
  control plane   {url}   (API docs: {url}/api/v1/docs)
  admin token     {token}
  data            {data_dir}
  cluster         {CLUSTER} (local runtime), workspace {WORKSPACE}
{gateway}
{cli}
Try:  ironplane apply -f examples/local/hello.yaml && ironplane get apps
Stop: Ctrl-C (stops every process the local runtime started)
""",
        flush=True,
    )
