"""``ironplane get``: list clusters, workspaces, apps, or the versions of one app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import resolve_app, workspace_option
from ironplane.cli.tables import Format, emit, output_option, short_hash

if TYPE_CHECKING:
    from ironplane.api.apps import App
    from ironplane.api.clusters import Cluster

app = typer.Typer(
    help="List clusters, workspaces, apps, or the versions of an app.", no_args_is_help=True
)


def agent_state(cluster: Cluster) -> str:
    agent = cluster.agent
    if agent.connected:
        return f"connected ({agent.runtime})" if agent.runtime else "connected"
    return "disconnected" if agent.last_seen_at else "never connected"


def app_phase(item: App) -> str:
    if item.active_version is None:
        return "-"
    if item.status is None:
        return "no status yet"
    return item.status.phase + (f": {item.status.error}" if item.status.error else "")


@app.command("clusters")
def clusters(output: Format = output_option()) -> None:
    """List the clusters you can see."""
    with session.connect() as client:
        items = client.clusters.list()
    emit(
        items,
        output,
        [
            ("NAME", lambda c: c.name),
            ("PROVIDER", lambda c: c.provider),
            ("REGION", lambda c: c.region),
            ("AGENT", lambda c: agent_state(c)),
            ("LAST SEEN", lambda c: c.agent.last_seen_at),
            ("REVISION", lambda c: c.revision),
            ("APPLIED", lambda c: c.agent.applied_revision),
            ("NODES", lambda c: len(c.nodes)),
        ],
        empty="no clusters",
    )


@app.command("workspaces")
def workspaces(output: Format = output_option()) -> None:
    """List the workspaces you can see."""
    with session.connect() as client:
        items = client.workspaces.list()
    emit(
        items,
        output,
        [
            ("NAME", lambda w: w.name),
            ("CLUSTER", lambda w: w.cluster),
            ("NAMESPACE", lambda w: w.namespace),
            ("GPU", lambda w: w.gpu),
            ("PRIVILEGED", lambda w: w.privileged),
            ("UPDATED", lambda w: w.updated_at),
        ],
        empty="no workspaces",
    )


@app.command("apps")
def apps(
    workspace: str | None = workspace_option("Only the apps of this workspace."),
    output: Format = output_option(),
) -> None:
    """List the apps you can see (deleted ones show no active version)."""
    with session.connect() as client:
        items = client.apps.list(workspace)
    emit(
        items,
        output,
        [
            ("WORKSPACE", lambda a: a.workspace),
            ("NAME", lambda a: a.name),
            ("KIND", lambda a: a.kind),
            ("STATUS", lambda a: app_phase(a)),
            ("READY", lambda a: f"{a.status.ready}/{a.status.desired}" if a.status else "-"),
            ("VERSION", lambda a: a.active_version if a.active_version else "deleted"),
            ("LATEST", lambda a: a.latest_version),
            ("SOURCE", lambda a: a.source),
            ("UPDATED", lambda a: a.updated_at),
        ],
        empty="no apps",
    )


@app.command("versions")
def versions(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
    output: Format = output_option(),
) -> None:
    """List the versions of an app, newest first."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        items = client.apps.versions(ws, name)
    emit(
        sorted(items, key=lambda v: v.number, reverse=True),
        output,
        [
            ("VERSION", lambda v: v.number),
            ("ACTIVE", lambda v: "*" if v.active else ""),
            ("REASON", lambda v: f"rollback of {v.rollback_of}" if v.rollback_of else v.reason),
            ("AUTHOR", lambda v: v.author),
            ("HASH", lambda v: short_hash(v.hash)),
            ("CLUSTER REVISION", lambda v: v.cluster_revision),
            ("CREATED", lambda v: v.created_at),
        ],
        empty=f"app {ws}/{name} has no versions",
    )
