"""Process entry point: ``ironplane agent``."""

from __future__ import annotations

import asyncio
import logging
import signal

from ironplane.agent.agent import Agent
from ironplane.agent.runtime import Runtime
from ironplane.agent.settings import AgentSettings


def make_runtime(settings: AgentSettings) -> Runtime:
    if settings.runtime == "local":
        from ironplane.agent.local import LocalRuntime

        return LocalRuntime(settings.local_dir)
    from ironplane.agent.kube import KubeRuntime

    return KubeRuntime()


async def run(settings: AgentSettings, stop: asyncio.Event | None = None) -> None:
    """Run the agent until ``stop`` is set (or SIGINT/SIGTERM when none is given)."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    agent = Agent(settings, make_runtime(settings))
    await agent.run(stop)


def serve(settings: AgentSettings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(settings))
