"""Process entry point: ``ironplane agent``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable

from ironplane.agent.agent import Agent
from ironplane.agent.http import AgentHttp
from ironplane.agent.runtime import Runtime
from ironplane.agent.settings import AgentSettings
from ironplane.core.logs import configure as configure_logging
from ironplane.wire.agent_protocol import Object


def make_runtime(settings: AgentSettings) -> Runtime:
    if settings.runtime == "local":
        from ironplane.agent.local import LocalRuntime

        return LocalRuntime(settings.local_dir)
    from ironplane.agent.kube import KubeRuntime

    return KubeRuntime()


def pods_of(runtime: Runtime) -> Callable[[], Iterable[Object]] | None:
    """The Kubernetes runtime's watched pods (Ironplane's own), for telemetry; None elsewhere."""
    informers = getattr(runtime, "informers", None)
    pods = informers.get("Pod") if isinstance(informers, dict) else None
    return pods.values if pods is not None else None


async def run(settings: AgentSettings, stop: asyncio.Event | None = None) -> None:
    """Run the agent until ``stop`` is set (or SIGINT/SIGTERM when none is given)."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    runtime = make_runtime(settings)
    agent = Agent(settings, runtime, pods=pods_of(runtime))
    http: AgentHttp | None = None
    if settings.metrics_port is not None:
        http = AgentHttp(metrics=agent.metrics.render, health=agent.health)
        await http.start(settings.metrics_host, settings.metrics_port)
    try:
        await agent.run(stop)
    finally:
        if http is not None:
            await http.close()


def serve(settings: AgentSettings) -> None:
    configure_logging(settings.log_format)
    asyncio.run(run(settings))
