"""``ironplane cluster bootstrap``: the add-on stack as an Argo CD app-of-apps.

Without ``-o`` the control plane stores the bootstrap in the Cluster's spec and its agent applies
it (``POST /clusters/{cluster}/bootstrap``). With ``-o DIR`` the objects are rendered here into
files, from ``-f cluster.yaml``, or from ``--profile`` and the options alone, or else from the
Cluster the control plane holds.

The options add to a base section: the Cluster document's (``-f``), else the stored one (none
with ``--replace``). ``--existing`` entries replace the base's entry of the same add-on.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ironplane.cli import session
from ironplane.core.diagnostics import closest
from ironplane.core.errors import InvalidError

if TYPE_CHECKING:
    from ironplane.api.bootstrap import BootstrapResult
    from ironplane.spec.kinds import ClusterSpec
    from ironplane.spec.kinds.bootstrap import BootstrapSpec

PROFILES = ("oci-bare-metal", "generic")
WRITER = "ironplane cluster bootstrap"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``cluster`` group."""
    app.command("bootstrap")(bootstrap)


def _addon_names() -> tuple[str, ...]:
    from ironplane.spec.kinds.bootstrap import Addon

    return typing.get_args(Addon)


def _addon(value: str, option: str) -> str:
    names = _addon_names()
    if value not in names:
        guess = closest(value, names)
        raise InvalidError(
            f"{option} {value!r}: unknown add-on"
            + (f"; did you mean {guess!r}?" if guess else "")
            + f" (add-ons: {', '.join(names)})"
        )
    return value


def parse_existing(values: list[str]) -> dict[str, dict[str, str]]:
    """``ADDON=NAMESPACE[,endpoint=URL]`` each → ``{addon: {namespace, endpoint}}``."""
    out: dict[str, dict[str, str]] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        parts = rest.split(",") if sep else []
        if not sep or not parts[0]:
            raise InvalidError(
                f"--existing {value!r}: write ADDON=NAMESPACE[,endpoint=URL], "
                "e.g. prometheus=monitoring,endpoint=http://prometheus.monitoring.svc:9090"
            )
        entry = {"namespace": parts[0]}
        for part in parts[1:]:
            key, eq, setting = part.partition("=")
            if key != "endpoint" or not eq:
                raise InvalidError(
                    f"--existing {value!r}: {part!r} is not endpoint=URL (the one setting "
                    "after the namespace)"
                )
            entry["endpoint"] = setting
        addon = _addon(name.strip(), "--existing")
        if addon in out:
            raise InvalidError(f"--existing {addon} is given twice")
        out[addon] = entry
    return out


def merged(
    base: BootstrapSpec | None,
    *,
    profile: str | None,
    existing: dict[str, dict[str, str]],
    extras: list[str],
    skip: list[str],
) -> BootstrapSpec:
    """The base section with the command line's options over it."""
    from pydantic import ValidationError

    from ironplane.spec.kinds.bootstrap import BootstrapSpec, spec_error

    data: dict[str, Any] = base.model_dump(mode="json", exclude_defaults=True) if base else {}
    if profile is not None:
        data["profile"] = profile
    if existing:
        data["existing"] = {**data.get("existing", {}), **existing}
    for key, values in (("extras", extras), ("skip", skip)):
        if values:
            data[key] = list(dict.fromkeys([*data.get(key, []), *values]))
    try:
        return BootstrapSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(
            exc, BootstrapSpec, "bootstrap", "the bootstrap options are not valid:"
        ) from None


def cluster_from_file(path: Path, name: str) -> ClusterSpec:
    from ironplane.spec import load_files
    from ironplane.spec.kinds import ClusterSpec

    found = [d.spec for d in load_files([str(path)]) if isinstance(d.spec, ClusterSpec)]
    named = [c for c in found if c.name == name]
    if not named:
        names = ", ".join(repr(c.name) for c in found) or "none"
        raise InvalidError(f"{path}: no Cluster named {name!r} (Clusters in it: {names})")
    return named[0]


def with_section(spec: ClusterSpec, section: BootstrapSpec) -> ClusterSpec:
    from ironplane.spec.kinds.bootstrap import taking_bootstrap

    with taking_bootstrap(spec.name):
        return spec.with_bootstrap(section)


def render(spec: ClusterSpec, output: Path) -> None:
    from ironplane.cli.output import to_yaml, write_files
    from ironplane.compiler.bootstrap import plan
    from ironplane.compiler.bootstrap.files import plan_files

    found = plan(spec)
    assert found is not None
    files = {name: to_yaml(obj) for name, obj in plan_files(found)}
    write_files(output, files, writer=WRITER)
    print(
        f"wrote {len(files)} files to {output}: {len(found.applications)} Applications "
        f"(profile {spec.bootstrap_profile}, Argo CD in {found.argocd_namespace}); apply with "
        f"`kubectl apply --server-side -k {output}` (again once the installer Job is done)",
        file=sys.stderr,
    )


def report(result: BootstrapResult) -> None:
    from ironplane.cli.tables import print_table

    print_table(
        ["APPLICATION", "ADD-ON", "NAMESPACE", "WAVE", "SOURCE", "VERSION"],
        [(a.name, a.addon, a.namespace, a.wave, a.source, a.version) for a in result.applications],
    )
    what = "would change" if result.dry_run and result.changed else None
    state = what or ("changed" if result.changed else "unchanged")
    argo = (
        f"Argo CD installed into {result.argocd_namespace} by a Job"
        if result.installs_argo_cd
        else f"Argo CD existing in {result.argocd_namespace}"
    )
    print(
        f"cluster {result.cluster}: bootstrap {state} (revision {result.revision}, profile "
        f"{result.profile}); {argo}; add-ons: {', '.join(result.addons) or '-'}",
        file=sys.stderr,
    )
    if result.changed:
        print(
            "the cluster's agent needs the opt-in bootstrap role to apply this (install it with "
            f"`ironplane cluster install-agent {result.cluster} --bootstrap ...`, or "
            "deploy/agent-bootstrap-rbac.yaml); `ironplane get clusters` shows a refused apply",
            file=sys.stderr,
        )


def bootstrap(
    cluster: str = typer.Argument(..., metavar="CLUSTER", help="The cluster's name."),
    profile: str | None = typer.Option(
        None, "--profile", help="oci-bare-metal or generic [from the Cluster's provider]."
    ),
    existing: list[str] = typer.Option(
        [],
        "--existing",
        metavar="ADDON=NAMESPACE[,endpoint=URL]",
        help="An add-on the cluster already has (repeatable): not installed; Ironplane uses it.",
    ),
    extras: list[str] = typer.Option(
        [], "--with", metavar="EXTRA", help="Also install this optional add-on: victoria-logs."
    ),
    skip: list[str] = typer.Option(
        [], "--skip", metavar="ADDON", help="Do not install this add-on of the stack (repeatable)."
    ),
    file: Path | None = typer.Option(
        None, "-f", "--file", help="A file with the Cluster document: its bootstrap is the base."
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="Write the rendered files (and kustomization.yaml) here instead of applying.",
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Start from an empty section, not the stored one."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would change; store nothing."
    ),
) -> None:
    """Install the cluster's add-on stack (Argo CD app-of-apps) through its agent, or with -o
    write it to a directory."""
    if profile is not None and profile not in PROFILES:
        guess = closest(profile, PROFILES) or next(
            (p for p in PROFILES if profile and p.startswith(profile)), None
        )
        raise InvalidError(
            f"--profile {profile!r}: choose {' or '.join(PROFILES)}"
            + (f" (did you mean {guess!r}?)" if guess else "")
        )
    if output is not None and dry_run:
        raise InvalidError("--dry-run is for the control plane; -o writes files and applies none")
    wanted = parse_existing(existing)
    more = [e.strip() for e in extras]
    skipped = [_addon(s.strip(), "--skip") for s in skip]
    if output is not None:
        from ironplane.cli.output import check_output_directory

        check_output_directory(output, writer=WRITER)  # refused before anything else
    doc = cluster_from_file(file, cluster) if file is not None else None

    def section(base: ClusterSpec) -> BootstrapSpec:
        start = None if replace else base.bootstrap
        return merged(start, profile=profile, existing=wanted, extras=more, skip=skipped)

    if output is not None and (doc is not None or profile is not None):
        spec = doc or _bare(cluster, profile)
        render(with_section(spec, section(spec)), output)
        return
    with session.connect() as client:
        if doc is None:
            from ironplane.spec.kinds import ClusterSpec

            doc = ClusterSpec.model_validate(client.clusters.get(cluster).spec)
        chosen = section(doc)
        if output is not None:
            render(with_section(doc, chosen), output)
            return
        with_section(doc, chosen)  # a mismatch with the Cluster is reported before sending
        result = client.clusters.bootstrap(
            cluster,
            profile=chosen.profile,
            existing={
                k: v.model_dump(mode="json", exclude_none=True) for k, v in chosen.existing.items()
            },
            extras=list(chosen.extras),
            skip=list(chosen.skip),
            dry_run=dry_run,
        )
    report(result)


def _bare(name: str, profile: str | None) -> ClusterSpec:
    """A Cluster of only a name and the provider the profile implies (rendering offline)."""
    from pydantic import ValidationError

    from ironplane.spec.kinds import ClusterSpec
    from ironplane.spec.kinds.bootstrap import spec_error

    provider = "oci" if profile == "oci-bare-metal" else "generic"
    try:
        return ClusterSpec.model_validate({"kind": "Cluster", "name": name, "provider": provider})
    except ValidationError as exc:
        raise spec_error(exc, ClusterSpec, f"Cluster {name!r}", "not a valid cluster:") from None
