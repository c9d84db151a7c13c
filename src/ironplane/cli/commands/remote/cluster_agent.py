"""``ironplane cluster register|install-agent|rotate-token``.

The agent token never goes through a command line (shell history, ``ps``): ``register`` and
``rotate-token`` write it to a 0600 file and print the command that installs the agent from that
file; ``install-agent`` puts it in the rendered Secret, in a directory only its owner can read
(``-o``), or on stdout for a pipe into ``kubectl apply -f -``.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ironplane.cli import session
from ironplane.core.errors import InvalidError, NotFoundError
from ironplane.core.files import write_private

if TYPE_CHECKING:
    from ironplane.api.clusters import Cluster
    from ironplane.sdk import Client

PROVIDERS = ("generic", "oci")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``cluster`` group."""
    app.command("register")(register_cluster)
    app.command("install-agent")(install_agent)
    app.command("rotate-token")(rotate_token)


def _note(text: str) -> None:
    print(text, file=sys.stderr)


def default_token_file(cluster: str) -> Path:
    return Path(f"{cluster}-agent-token")


def _write_token(path: Path, secret: str, *, cluster: str, done: str) -> None:
    """The token alone, no newline (``kubectl create secret --from-file`` keeps one), 0600.
    A failed write says what happened (``done``: the cluster is registered, a token minted)
    and how to get a token written."""
    try:
        write_private(path, secret)
    except OSError as exc:
        raise InvalidError(
            f"{done}, but {path} cannot be written ({exc.strerror}); "
            f"mint a token with `ironplane cluster rotate-token {cluster} --token-file FILE`"
        ) from None


def _fresh(path: Path) -> Path:
    if path.exists() or path.is_symlink():
        raise InvalidError(
            f"{path}: exists; remove it or choose another --token-file (it is never overwritten)"
        )
    return path


def install_command(cluster: str, token_file: Path, url: str, directory: Path) -> str:
    """The exact shell command that installs the agent from a token file."""
    q = shlex.quote
    return (
        f"ironplane cluster install-agent {q(cluster)} --token-file {q(str(token_file))} "
        f"--control-plane-url {q(url)} -o {q(str(directory))} "
        f"&& kubectl apply -k {q(str(directory))}"
    )


def _registered(client: Client, cluster: str) -> Cluster:
    try:
        return client.clusters.get(cluster)
    except NotFoundError:
        raise InvalidError(
            f"cluster {cluster!r} is not registered on {client.url} (or you may not see it): "
            f"register it with `ironplane cluster register {cluster}`"
        ) from None


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


# -- register


def register_cluster(
    name: str = typer.Argument(..., metavar="NAME", help="The cluster's name."),
    provider: str = typer.Option("generic", "--provider", help="oci or generic."),
    region: str | None = typer.Option(None, "--region", help="The OCI region, e.g. us-ashburn-1."),
    enhanced: bool = typer.Option(
        False, "--enhanced", help="An OKE Enhanced cluster (Workload Identity works)."
    ),
    ocid: str | None = typer.Option(None, "--ocid", help="The OKE cluster's OCID."),
    addons: list[str] = typer.Option(
        [], "--addon", help="An add-on installed on the cluster (repeatable), e.g. keda."
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="Write the agent token here, mode 0600 [NAME-agent-token]."
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="The directory the printed command renders into [agent-NAME]."
    ),
) -> None:
    """Register a cluster and print the command that installs its agent.

    The agent token is written to a 0600 file, never printed; stdout holds the install command
    alone (`ironplane cluster install-agent ... && kubectl apply -k ...`)."""
    if provider not in PROVIDERS:
        raise InvalidError(f"--provider {provider!r}: choose {' or '.join(PROVIDERS)}")
    path = _fresh(token_file or default_token_file(name))
    spec: dict[str, Any] = {"kind": "Cluster", "name": name, "provider": provider}
    if region is not None:
        spec["region"] = region
    if enhanced:
        spec["enhanced"] = True
    if ocid is not None:
        spec["ocid"] = ocid
    if addons:
        spec["addons"] = list(_split(addons))
    with session.connect() as client:
        registered = client.clusters.register(spec)
        url = client.url
    _write_token(
        path, registered.agent_token.secret, cluster=name, done=f"cluster {name!r} is registered"
    )
    token = registered.agent_token.token
    _note(f"registered cluster {name} (provider {provider}) on {url}")
    _note(f"wrote its agent token {token.id} to {path} (mode 0600; it is shown nowhere else)")
    _note("install the agent where kubectl reaches the cluster (add --api-server CIDR to narrow")
    _note("its NetworkPolicy; see `ironplane cluster install-agent --help`):")
    print(install_command(name, path, url, output or Path(f"agent-{name}")))


# -- install-agent


def install_agent(
    cluster: str = typer.Argument(..., metavar="CLUSTER", help="The registered cluster."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the files (and kustomization.yaml) into this directory."
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="The agent token, as `cluster register` wrote it."
    ),
    rotate: bool = typer.Option(
        False,
        "--rotate",
        help="Mint a new agent token for the Secret; the old one works until the agent "
        "connects with the new one.",
    ),
    image: str | None = typer.Option(None, "--image", help="The agent's image [this release's]."),
    control_plane_url: str | None = typer.Option(
        None, "--control-plane-url", help="The URL the agent dials [the CLI's server]."
    ),
    control_plane_cidrs: list[str] = typer.Option(
        [],
        "--control-plane-cidr",
        help="Where the control plane is, for the NetworkPolicy (repeatable) "
        "[the URL's host when it is an address, else any address on its port].",
    ),
    api_server: list[str] = typer.Option(
        [],
        "--api-server",
        help="The Kubernetes API server's endpoint addresses, for the NetworkPolicy "
        "(CIDR, repeatable) [any address on ports 443 and 6443].",
    ),
    namespace: str = typer.Option(
        "ironplane-system", "--namespace", "-n", help="The agent's namespace."
    ),
    bootstrap: bool = typer.Option(
        False,
        "--bootstrap",
        help="Also grant what `ironplane cluster bootstrap` needs (the ClusterRole "
        "ironplane-agent-bootstrap: Argo CD's root Application and its installer's "
        "cluster-admin binding). Off by default: with it the agent can grant cluster-admin.",
    ),
) -> None:
    """Render the agent's install: Namespace, ServiceAccount, RBAC, token Secret, NetworkPolicy,
    Deployment and kustomization.yaml (`kubectl apply -k DIR`); without -o, print them as one
    YAML stream (`... | kubectl apply -f -`)."""
    from ironplane.cli.output import check_output_directory, write_files
    from ironplane.compiler import agent_install as ai
    from ironplane.spec.kinds.platform import telemetry_prometheus_of

    if rotate == (token_file is not None):
        raise InvalidError(
            "pass --token-file FILE (the token `cluster register` wrote) or --rotate (mint a "
            "new token), one of them"
        )
    secret = None
    if token_file is not None:
        try:
            secret = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not text"
            raise InvalidError(f"--token-file {token_file}: cannot read it: {why}") from None
        ai.token_id(secret)
    if output is not None:
        check_output_directory(output)
    with session.connect() as client:
        plan = ai.AgentInstall(
            cluster=cluster,
            control_plane_url=control_plane_url or client.url,
            token=None,
            image=image or ai.DEFAULT_IMAGE,
            namespace=namespace,
            api_server_cidrs=_split(api_server),
            control_plane_cidrs=_split(control_plane_cidrs),
            bootstrap=bootstrap,
        )
        ai.check(plan)  # every local mistake is reported before the control plane is asked
        registered = _registered(client, cluster)
        plan = replace(plan, prometheus_url=telemetry_prometheus_of(registered.spec))
        if rotate:
            created = client.clusters.rotate_agent_token(cluster)
            secret = created.secret
            _note(
                f"minted agent token {created.token.id} for {cluster}: the old token works until "
                "the agent connects with it"
            )
    plan = replace(plan, token=secret)
    for note in ai.notes(plan):
        _note(f"warning: {note}")
    if output is None:
        sys.stdout.write(ai.install_stream(plan))
        return
    files = ai.install_files(plan)
    write_files(output, files)
    _note(f"wrote {len(files)} files to {output} (readable by you alone: it holds the token)")
    _note(f"install: kubectl apply -k {shlex.quote(str(output))}")


# -- rotate-token


def rotate_token(
    cluster: str = typer.Argument(..., metavar="CLUSTER", help="The registered cluster."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="Write the new token here, mode 0600 [CLUSTER-agent-token]."
    ),
    revoke_old: bool = typer.Option(
        False,
        "--revoke-old",
        help="Revoke the old tokens now (a leaked token): the agent is cut off until it runs "
        "with the new one.",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="The directory the printed command renders into."
    ),
) -> None:
    """Mint a new agent token. The old one keeps working until an agent connects with the new
    one; then the old is revoked (its connection closed). Stdout holds the install command."""
    path = _fresh(token_file or default_token_file(cluster))
    with session.connect() as client:
        _registered(client, cluster)
        created = client.clusters.rotate_agent_token(cluster, revoke_old=revoke_old)
        url = client.url
    _write_token(
        path, created.secret, cluster=cluster, done=f"a new agent token for {cluster!r} is minted"
    )
    _note(f"minted agent token {created.token.id} for {cluster}; wrote it to {path} (mode 0600)")
    if revoke_old:
        _note("the old tokens are revoked: the agent is disconnected until it runs with this one")
    else:
        _note("the old token works until an agent connects with this one, then it is revoked")
    _note("install it with the options of the first install (or use `install-agent --rotate`):")
    print(install_command(cluster, path, url, output or Path(f"agent-{cluster}")))
