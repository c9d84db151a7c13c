"""Fault-injection helpers: a control plane in its own process (to kill -9) and a TCP proxy that
can cut a connection in the middle of a frame."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


class ServerProcess:
    """``ironplane server`` as a child process on a fixed port, with fast agent heartbeats."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.token_file = data_dir / "admin-token"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self) -> None:
        """Start the server and wait until it answers this process's own admin token (a server
        of someone else on the port does not); raises with the server's log when it exits or
        does not answer within 30 s."""
        env = {
            **os.environ,
            "IRONPLANE_AGENT_HEARTBEAT_S": "0.5",
            "IRONPLANE_AGENT_POLL_S": "0.5",
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ironplane.cli.main",
                    "server",
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                    "--bootstrap-token-file",
                    str(self.token_file),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 30
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.token_file.exists() and self._answers_own_token():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()[-3000:]}")

    def _answers_own_token(self) -> bool:
        """Whether the server on the port knows this data directory's admin token (a server of
        anyone else on the port does not)."""
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(
                f"{self.url}/api/v1/auth/whoami",
                headers={"Authorization": f"Bearer {self.admin_token}"},
                timeout=2,
            )
            return r.status_code == 200
        return False

    @property
    def admin_token(self) -> str:
        return self.token_file.read_text().strip()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class CuttingProxy:
    """Forwards 127.0.0.1:listen_port to the upstream port. ``cut_after(n)`` makes it drop the
    current connections after ``n`` more bytes from upstream (mid-frame for a large frame)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._cut_budget: int | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cuts = 0
        self.connections = 0

    async def start(self) -> None:
        """Listen (again on the same port after ``close``)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop()

    def cut_after(self, n: int) -> None:
        self._cut_budget = n

    def drop(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pump(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, downstream: bool
        ) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    if downstream and self._cut_budget is not None:
                        if len(data) > self._cut_budget:
                            dst.write(data[: self._cut_budget])
                            await dst.drain()
                            self._cut_budget = None
                            self.cuts += 1
                            self.drop()
                            return
                        self._cut_budget -= len(data)
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))
        self._writers -= {writer, up_writer}
