"""One started process: its own session (process group), its output pumped into a log sink.

When the process ends, whatever else is left in its group is killed, so that nothing it started
outlives it (as when a container stops). ``terminate`` sends SIGTERM to the group, then SIGKILL
after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from ironplane.agent.local.logs import Sink, pump

_DRAIN_S = 2.0
_GROUP_GONE_POLLS = 200


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with code {returncode}"


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether a process of the group is still alive (zombies left to init do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc/self"):
        return True
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as file:
                    fields = file.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] not in b"ZX":
                return True
        return False
    return True


class Child:
    def __init__(self, process: asyncio.subprocess.Process, sink: Sink) -> None:
        self.process = process
        self.pid = process.pid
        assert process.stdout is not None
        with contextlib.suppress(OSError):
            sink.open()  # the log exists from the start (for `tail -f`)
        self._pump = asyncio.create_task(pump(process.stdout, sink))
        self._done = asyncio.create_task(self._finish())

    @classmethod
    async def spawn(
        cls, argv: tuple[str, ...], env: dict[str, str], cwd: Path, sink: Sink
    ) -> Child:
        """Raises ``OSError`` when the command cannot be started (not found, not executable)."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        return cls(process, sink)

    async def _finish(self) -> int:
        returncode = await self.process.wait()
        kill_group(self.pid, signal.SIGKILL)
        for _ in range(_GROUP_GONE_POLLS):  # SIGKILL is asynchronous: wait until it took effect
            if not group_alive(self.pid):
                break
            await asyncio.sleep(0.01)
        done, _ = await asyncio.wait({self._pump}, timeout=_DRAIN_S)
        if not done:  # a descendant that left the group still holds the pipe
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            transport = getattr(self.process, "_transport", None)
            if transport is not None:
                transport.close()
        elif not self._pump.cancelled():
            self._pump.exception()  # retrieved: a sink error must not end as a warning
        return returncode

    @property
    def running(self) -> bool:
        return not self._done.done()

    async def wait(self) -> int:
        """The exit status, once the process is gone and its output written."""
        return await asyncio.shield(self._done)

    async def wait_for(self, timeout: float | None) -> int | None:
        """The exit status, or None when the process still runs after ``timeout`` seconds."""
        done, _ = await asyncio.wait({self._done}, timeout=timeout)
        return self._done.result() if done else None

    async def terminate(self, grace_s: float) -> int:
        """SIGTERM the process group, SIGKILL it after ``grace_s``; the exit status."""
        if not self._done.done():
            kill_group(self.pid, signal.SIGTERM)
            if await self.wait_for(grace_s) is None:
                kill_group(self.pid, signal.SIGKILL)
        return await self.wait()
