"""`ironplane up`: the whole platform on this machine (control plane, local cluster, agent)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ironplane.embedded.up import Embedded


def _login(embedded: Embedded) -> str:
    """Point the CLI at this control plane, unless it is configured for another one."""
    from ironplane.cli.config import load_config, save_config

    current = load_config()
    if current.url not in (None, embedded.url) and current.token:
        return (
            f"The CLI stays logged in to {current.url}; to use this one: "
            f"ironplane login --url {embedded.url} --token {embedded.admin_token}"
        )
    save_config(current.path, url=embedded.url, token=embedded.admin_token)
    return f"The CLI is logged in to it ({current.path})."


def up(
    data_dir: Path = typer.Option(
        Path.home() / ".local/share/ironplane",
        "--data-dir",
        help="Database, keys, tokens (mode 0600) and the local runtime's work and log files.",
    ),
    host: str = typer.Option("127.0.0.1", help="Address the control plane listens on."),
    port: int = typer.Option(8080, help="Port of the control plane (0: any free port)."),
    login: bool = typer.Option(True, "--login/--no-login", help="Log the CLI in to it."),
    gateway_port: int = typer.Option(
        4000, "--gateway-port", help="Port of the AI gateway (OpenAI API at /v1)."
    ),
    gateway: bool = typer.Option(True, "--gateway/--no-gateway", help="Run the AI gateway."),
) -> None:
    """Run Ironplane on this machine: the control plane (SQLite), a cluster named `local` whose
    agent runs workloads as local processes, a workspace `default`, and the AI gateway serving
    the Models deployed there to API tokens. Ctrl-C stops it all."""
    from ironplane.embedded.up import up as run_up

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(
        run_up(
            data_dir,
            host=host,
            port=port,
            on_ready=_login if login else None,
            gateway_port=gateway_port if gateway else None,
        )
    )
