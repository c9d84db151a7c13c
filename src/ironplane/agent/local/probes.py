"""Readiness probes against a local process: HTTP GET, TCP connect, or a command.

The declared port of an ``httpGet``/``tcpSocket`` probe is mapped to the port the replica really
uses (replicas after the first listen on ports the runtime picked). A minimal HTTP/1.0 GET: any
2xx or 3xx status is a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl

from ironplane.agent.local.model import LaunchSpec, ProbeDef
from ironplane.agent.local.process import kill_group


async def probe_once(probe: ProbeDef, launch: LaunchSpec) -> tuple[bool, str]:
    """(success, what was seen) for one run of the probe; never raises (but cancellation)."""
    try:
        if probe.action == "exec":
            return await _exec(probe, launch)
        port = launch.port_map.get(probe.port or 0, probe.port or 0)
        if probe.action == "tcp":
            return await asyncio.wait_for(_tcp(probe.host, port), probe.timeout_s)
        return await asyncio.wait_for(_http(probe, port), probe.timeout_s)
    except TimeoutError:
        return False, f"{probe.action} probe timed out after {probe.timeout_s:g}s"
    except (OSError, ValueError, ssl.SSLError) as exc:
        return False, f"{probe.action} probe failed: {exc}"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


async def _tcp(host: str, port: int) -> tuple[bool, str]:
    _, writer = await asyncio.open_connection(host, port)
    await _close(writer)
    return True, f"tcp {host}:{port} open"


async def _http(probe: ProbeDef, port: int) -> tuple[bool, str]:
    context: ssl.SSLContext | None = None
    if probe.scheme == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(probe.host, port, ssl=context)
    try:
        path = probe.path.replace("\r", "").replace("\n", "")
        path = path if path.startswith("/") else "/" + path
        head = [
            f"GET {path} HTTP/1.0",
            f"Host: {probe.host}:{port}",
            "User-Agent: ironplane-local-probe",
            "Accept: */*",
            "Connection: close",
            *(f"{name}: {value}" for name, value in probe.headers),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace"))
        await writer.drain()
        status = (await reader.readline()).decode("latin-1").split()
    finally:
        await _close(writer)
    url = f"{probe.scheme.lower()}://{probe.host}:{port}{path}"
    if len(status) < 2 or not status[1].isdigit():
        return False, f"GET {url}: no HTTP status line"
    code = int(status[1])
    return 200 <= code < 400, f"GET {url}: HTTP {code}"


async def _exec(probe: ProbeDef, launch: LaunchSpec) -> tuple[bool, str]:
    process = await asyncio.create_subprocess_exec(
        *probe.command,
        env=launch.env,
        cwd=launch.cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = await asyncio.wait_for(process.wait(), probe.timeout_s)
    finally:
        if process.returncode is None:  # timed out or cancelled
            kill_group(process.pid, signal.SIGKILL)
            await process.wait()
        else:
            kill_group(process.pid, signal.SIGKILL)
    return code == 0, f"exec {probe.command[0]!r} exited with code {code}"
