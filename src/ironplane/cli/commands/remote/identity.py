"""``ironplane identity policy APP``: the OCI IAM policy for an app's Workload Identity."""

from __future__ import annotations

import sys

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import resolve_app, workspace_option
from ironplane.core.errors import InvalidError

app = typer.Typer(help="OKE Workload Identity.", no_args_is_help=True)


@app.command("policy")
def policy(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
) -> None:
    """Print the OCI IAM policy statements that grant the app's service account the
    permissions its spec asks for (`identity.permissions`), for an administrator to create."""
    from ironplane.oci.identity import policy_statements

    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        detail = client.apps.get(ws, name)
        if detail.active is None:
            raise InvalidError(f"app {ws}/{name} is deleted: it has no identity")
        identity = detail.active.spec.get("identity")
        if not identity:
            raise InvalidError(
                f"app {ws}/{name} has no identity: add `identity: {{service_account: NAME, "
                "permissions: [...]}}` to its spec"
            )
        space = client.workspaces.get(ws)
        cluster = client.clusters.get(space.cluster)
    if cluster.provider != "oci" or not cluster.enhanced:
        raise InvalidError(
            f"cluster {cluster.name!r} is not an Enhanced OKE cluster (provider: oci, enhanced: "
            "true): OKE Workload Identity works only there"
        )
    ocid = cluster.spec.get("ocid")
    for line in policy_statements(
        namespace=space.namespace,
        service_account=str(identity["service_account"]),
        cluster_ocid=ocid,
        permissions=list(identity.get("permissions") or []),
    ):
        print(line)
    if not ocid:
        print(
            f"note: set `ocid` in Cluster {cluster.name!r} to fill in <cluster-ocid>",
            file=sys.stderr,
        )
    if not identity.get("permissions"):
        print("note: list what the app needs in identity.permissions", file=sys.stderr)
