"""The AI gateway of `ironplane up`: a process of its own, fed by the embedded control plane.

`up` gives the gateway a service account (`ironplane-gateway`) bound to a role holding only
`gateway.serve` (read the snapshot, post request logs), a token for it kept in the data
directory (mode 0600), and a config file that names the control plane and nothing else: the
models are the Model apps deployed locally, the keys are the users' and service accounts' API
tokens. The gateway's own process keeps its hot path free of the control plane's imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import socket
import sys
import time
from pathlib import Path

import httpx

from ironplane.core.errors import ConflictError, UnavailableError
from ironplane.core.files import write_private
from ironplane.sdk import AsyncClient

ACCOUNT = "ironplane-gateway"
ROLE = "gateway-server"
PERMISSION = "gateway.serve"


async def gateway_token(client: AsyncClient, data_dir: Path) -> Path:
    """The gateway's token file (made once): its service account, role and binding ensured."""
    with contextlib.suppress(ConflictError):
        await client.service_accounts.create(ACCOUNT, description="the AI gateway of ironplane up")
    with contextlib.suppress(ConflictError):
        await client.roles.create(
            ROLE, permissions=[PERMISSION], description="read the gateway snapshot, post usage"
        )
    bindings = await client.role_bindings.list()
    if not any(b.role == ROLE and b.subject == ACCOUNT for b in bindings):
        await client.role_bindings.create(ROLE, subject_kind="service_account", subject=ACCOUNT)
    token_file = data_dir / "gateway-token"
    saved = token_file.read_text().strip() if token_file.exists() else ""
    if not await _live(client, saved):
        created = await client.tokens.create(
            "ironplane-up-gateway", expires_in_days=None, service_account=ACCOUNT
        )
        write_private(token_file, created.secret + "\n")
    return token_file


async def _live(client: AsyncClient, token: str) -> bool:
    """Whether a saved token is still a live token of the gateway's account (it may have been
    revoked, or the account deleted and made again)."""
    parts = token.removeprefix("ipt_").partition("_")
    if not token.startswith("ipt_") or not parts[2]:
        return False
    live = {
        t.id
        for t in await client.tokens.list(all=True)
        if t.subject == f"service_account:{ACCOUNT}" and t.revoked_at is None
    }
    return parts[0] in live


def gateway_config(url: str, token_file: Path) -> str:
    return (
        "# Written by `ironplane up`: models and keys come from the control plane.\n"
        "control_plane:\n"
        f"  url: {json.dumps(url)}\n"  # JSON strings are YAML: any path is safe
        f"  token: {{file: {json.dumps(str(token_file))}}}\n"
        "  refresh: 2s\n"
        "  usage_flush: 2s\n"
    )


GATEWAY_MODULES = ("uvloop", "httptools", "hiredis", "prometheus_client", "yaml")
"""What the gateway process imports beyond the control plane's dependencies (its extra)."""


def missing_gateway_modules() -> list[str]:
    """The gateway's modules this environment lacks (``pip install 'ironplane[gateway]'``)."""
    return [name for name in GATEWAY_MODULES if importlib.util.find_spec(name) is None]


def _port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UnavailableError(
                f"the gateway cannot listen on {host}:{port} ({exc.strerror}): choose another "
                "--gateway-port, or --no-gateway"
            ) from None


class GatewayProcess:
    """``ironplane gateway`` as a child process; ``stop`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, config: Path, host: str, port: int, log: Path) -> None:
        self.config, self.host, self.port, self.log = config, host, port, log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, *, timeout_s: float = 30.0) -> None:
        _port_free(self.host, self.port)
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ironplane.entry",
                "gateway",
                "--config",
                str(self.config),
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--workers",
                "1",
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self.process.returncode is not None:
                    raise UnavailableError(
                        f"the gateway exited with code {self.process.returncode} at start; "
                        f"see {self.log} (is port {self.port} taken? choose --gateway-port)"
                    )
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    answer = await client.get(self.url + "/healthz")
                    # Ours: a gateway's health document, from a child that is still running.
                    ours = answer.status_code == 200 and "control_plane" in answer.json()
                    if ours and self.process.returncode is None:
                        return
                if time.monotonic() > deadline:
                    await self.stop()
                    raise UnavailableError(
                        f"the gateway did not answer in {timeout_s:.0f}s; see {self.log}"
                    )
                await asyncio.sleep(0.1)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            process.kill()
            await process.wait()
