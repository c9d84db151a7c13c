"""What both benchmarks share: the control plane as a separate process, and the machine facts
printed with every result."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m ironplane.cli.main server`` on a free port, logging to ``data_dir``."""

    def __init__(self, data_dir: Path, *, database_url: str | None, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_file = data_dir / "admin-token"
        self.log = data_dir / "server.log"
        self.database_url = database_url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        env.pop("IRONPLANE_DATABASE_URL", None)
        if self.database_url:
            env["IRONPLANE_DATABASE_URL"] = self.database_url
        cmd = [sys.executable, "-m", "ironplane.cli.main", "server"]
        cmd += ["--data-dir", str(self.data_dir), "--port", str(self.port)]
        cmd += ["--bootstrap-token-file", str(self.token_file)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                if self.token_file.exists() and self.token_file.read_text().strip():
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    @property
    def admin_token(self) -> str:
        return self.token_file.read_text().strip()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at ``base_url`` (dropped afterwards)."""
    import asyncpg

    name = f"ironplane_bench_{uuid.uuid4().hex[:10]}"
    admin = base_url.rstrip("/") + "/postgres"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base_url.rstrip('/')}/{name}"
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def machine() -> dict[str, Any]:
    """The conditions a result was measured under."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }
