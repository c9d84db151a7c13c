"""``ironplane cluster …``: set up a compute plane (register it, install its agent, bootstrap
its add-ons through Argo CD, rotate its agent token)."""

from __future__ import annotations

import typer

from ironplane.cli.commands.remote import cluster_agent, cluster_bootstrap

app = typer.Typer(
    help="Set up a compute plane: register, install-agent, bootstrap.", no_args_is_help=True
)
cluster_agent.register(app)
cluster_bootstrap.register(app)
