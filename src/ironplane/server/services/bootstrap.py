"""Bootstrap a cluster: store the add-on stack in its Cluster spec, so that its desired state
holds the Argo CD app-of-apps (``compiler/bootstrap``) and the agent applies it.

The request's ``bootstrap`` section replaces the stored one. What the old section derived in the
spec (add-ons, an existing Prometheus' URL, an existing Istio's gateway) is taken out first and
the new section derives it again, so that marking an add-on existing, skipping it or dropping an
extra moves the spec with it. The revision grows only when the spec changes: a repeated
bootstrap is a no-op.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.bootstrap import BootstrapApplication, BootstrapRequest, BootstrapResult
from ironplane.compiler.bootstrap import Plan, plan
from ironplane.compiler.bootstrap.catalog import COMPONENTS
from ironplane.server.context import Caller
from ironplane.server.db.tables import ClusterRow
from ironplane.server.services import clusters as cl
from ironplane.server.services.audit import record
from ironplane.server.services.lookup import by_name
from ironplane.server.services.store import bump, lock_clusters, spec_dump
from ironplane.spec.kinds import ClusterSpec
from ironplane.spec.kinds.bootstrap import taking_bootstrap


async def bootstrap(
    session: AsyncSession, caller: Caller, name: str, body: BootstrapRequest
) -> BootstrapResult:
    row = await by_name(session, ClusterRow, name)
    row = (await lock_clusters(session, [row.id]))[row.id]
    with taking_bootstrap(name):
        spec = ClusterSpec.model_validate(row.spec).with_bootstrap(body.bootstrap)
    found = plan(spec)
    boot = spec.bootstrap
    assert found is not None and boot is not None
    if body.dry_run:
        changed = spec_dump(spec) != row.spec
    else:
        changed = await cl.update_cluster(session, caller, row, spec)
        if changed:
            bump(row)
    if not body.dry_run:
        record(
            session,
            caller,
            action="cluster.bootstrap",
            target=f"cluster/{name}",
            details={
                "changed": changed,
                "profile": spec.bootstrap_profile,
                "installed": list(boot.installed()),
                "existing": sorted(boot.existing),
                "revision": row.revision,
            },
        )
    return result(spec, found, revision=row.revision, dry_run=body.dry_run, changed=changed)


def result(
    spec: ClusterSpec, found: Plan, *, revision: int, dry_run: bool, changed: bool
) -> BootstrapResult:
    components = {c.name: c for c in COMPONENTS}
    apps = []
    for app in found.applications:
        component = components[app["metadata"]["name"]]
        src = component.sources[0]
        apps.append(
            BootstrapApplication(
                name=component.name,
                addon=component.addon,
                namespace=app["spec"]["destination"]["namespace"],
                source=f"{src.repo_url} {src.chart or src.path}",
                version=src.revision,
                wave=component.wave,
            )
        )
    return BootstrapResult(
        cluster=spec.name,
        dry_run=dry_run,
        changed=changed,
        revision=revision,
        profile=str(spec.bootstrap_profile),
        argocd_namespace=found.argocd_namespace,
        installs_argo_cd=found.installs_argo_cd,
        addons=list(spec.addons),
        existing=sorted(spec.bootstrap.existing) if spec.bootstrap else [],
        applications=apps,
        objects=len(found.objects),
    )
