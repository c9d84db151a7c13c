"""One replica of a Deployment: keep its process running, restart it with backoff, probe it.

A replica that exits (for any reason but a stop) is started again after the next delay of the
backoff sequence (capped at its last value); the sequence starts afresh once a process has stayed
up ``backoff_reset_s``. A replica is *crash-looping* when it failed and is not ready, or failed
twice or more within that window.
"""

from __future__ import annotations

import asyncio
import contextlib

from ironplane.agent.local.model import LaunchSpec
from ironplane.agent.local.probes import probe_once
from ironplane.agent.local.process import Child, describe_exit
from ironplane.agent.local.state import AppContext


class Replica:
    def __init__(self, index: int, launch: LaunchSpec, app: AppContext) -> None:
        self.index = index
        self.launch = launch
        self.app = app
        self.ready = False
        self.failures = 0
        """Exits since the process last stayed up ``backoff_reset_s``."""
        self.restarts = 0
        self.error: str | None = None
        self.child: Child | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"replica-{self.index}"

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.running else None

    @property
    def crash_looping(self) -> bool:
        return self.failures >= 2 or (self.failures >= 1 and not self.ready)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.app.app}-{self.name}")

    async def stop(self) -> None:
        """Stop the process (SIGTERM, SIGKILL after the grace period) and the supervision."""
        self._stopping = True
        self._wake.set()
        if self.child is not None:
            await self.child.terminate(self.launch.grace_s)
        if self._task is not None:
            await self._task
        self._set_ready(False)

    def _set_ready(self, ready: bool, why: str = "") -> None:
        if ready == self.ready:
            return
        self.ready = ready
        if ready:
            self.app.ever_ready = True
            self.app.events.add("Ready", f"{self.name} is ready")
        elif not self._stopping and self.child is not None and self.child.running:
            self.app.events.add("Unhealthy", f"{self.name} is not ready: {why}", warning=True)
        self.app.notify()

    async def _run(self) -> None:
        settings = self.app.settings
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                child = await Child.spawn(
                    self.launch.argv, self.launch.env, self.launch.cwd, self.app.sink(self.index)
                )
            except OSError as exc:
                self.failures += 1
                self.error = f"{self.name}: cannot start {self.launch.argv[0]!r}: {exc.strerror}"
                self.app.events.add("FailedStart", self.error, warning=True)
            else:
                self.child = child
                if self._stopping:  # stop() came while the process was starting
                    await child.terminate(self.launch.grace_s)
                    break
                started = loop.time()
                self.app.events.add("Started", f"{self.name} started (pid {child.pid})")
                watchers = [
                    asyncio.create_task(self._readiness(child)),
                    asyncio.create_task(self._stability()),
                ]
                returncode = await child.wait()
                for watcher in watchers:
                    watcher.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
                self._set_ready(False)
                if self._stopping:
                    self.app.events.add("Stopped", f"{self.name} {describe_exit(returncode)}")
                    break
                if loop.time() - started >= settings.backoff_reset_s:
                    self.failures = 0
                self.failures += 1
                self.error = f"{self.name} {describe_exit(returncode)}"
                self.app.events.add("Exited", self.error, warning=True)
            delay = settings.backoff_delay(self.failures)
            self.app.events.add("BackOff", f"restarting {self.name} in {delay:g}s", warning=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if not self._stopping:
                self.restarts += 1

    async def _stability(self) -> None:
        await asyncio.sleep(self.app.settings.backoff_reset_s)
        if self.failures:
            self.failures = 0
            self.app.notify()

    async def _readiness(self, child: Child) -> None:
        settings = self.app.settings
        probe = self.launch.readiness
        if probe is None:
            await asyncio.sleep(settings.ready_without_probe_s)
            self._set_ready(True)
            return
        await asyncio.sleep(probe.initial_delay_s)
        period = probe.period_s or settings.probe_interval_s
        successes = failures = 0
        while child.running:
            ok, seen = await probe_once(probe, self.launch)
            if ok:
                successes, failures = successes + 1, 0
                if successes >= probe.success_threshold:
                    self._set_ready(True)
            else:
                successes, failures = 0, failures + 1
                if failures >= probe.failure_threshold:
                    self._set_ready(False, seen)
            await asyncio.sleep(period if self.ready else min(period, settings.probe_interval_s))
