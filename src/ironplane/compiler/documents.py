"""Compile a set of loaded documents: build each one's context from the others, then merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ironplane.compiler.cluster import spec_objects
from ironplane.compiler.context import Catalog
from ironplane.compiler.core import CompileResult, compile_spec, merge
from ironplane.compiler.labels import spec_version
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import SpecError
from ironplane.spec.kinds import ClusterSpec, VolumeSpec, WorkspaceSpec
from ironplane.spec.loading import Document
from ironplane.wire.manifests import ManifestBundle, identity


@dataclass(frozen=True, slots=True)
class CompiledSet:
    bundle: ManifestBundle
    warnings: tuple[Diagnostic, ...]
    results: tuple[tuple[Document, CompileResult], ...]
    """Each document's own result, in input order."""


def catalog_of(docs: Sequence[Document], base: Catalog | None = None) -> Catalog:
    """The platform objects of ``docs``, over those of ``base`` (e.g. the control plane's store)."""
    base = base or Catalog()
    clusters = {
        **base.clusters,
        **{d.spec.name: d.spec for d in docs if isinstance(d.spec, ClusterSpec)},
    }
    workspaces = {
        **base.workspaces,
        **{d.spec.name: d.spec for d in docs if isinstance(d.spec, WorkspaceSpec)},
    }
    volumes = {
        **base.volumes,
        **{
            (d.spec.workspace, d.spec.name): d.spec
            for d in docs
            if isinstance(d.spec, VolumeSpec) and d.spec.workspace
        },
    }
    return Catalog(clusters=clusters, workspaces=workspaces, volumes=volumes)


def compile_documents(
    docs: Sequence[Document], *, version: str | None = None, base: Catalog | None = None
) -> CompiledSet:
    """One bundle for all documents; raises ``SpecError`` listing every problem, located.

    ``base`` holds platform objects known besides the documents (the control plane passes its
    stored clusters, workspaces and volumes); the documents override it.
    """
    catalog = catalog_of(docs, base)
    problems: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    results: list[tuple[Document, CompileResult]] = []
    owners: dict[str, Document] = {}
    assumed: set[str] = set()
    for doc in docs:
        spec = doc.spec
        if isinstance(spec, ClusterSpec):
            results.append(
                (
                    doc,
                    CompileResult(
                        bundle=ManifestBundle.of(spec_objects(spec)),
                        warnings=(),
                        version=spec_version(spec),
                    ),
                )
            )
            continue
        workspace = spec.name if isinstance(spec, WorkspaceSpec) else spec.workspace
        if workspace is None:
            problems.append(
                doc.problem(
                    Diagnostic(
                        "no workspace given",
                        path=("workspace",),
                        hint="add `workspace: NAME` to the document or pass --workspace NAME",
                    )
                )
            )
            continue
        ctx = catalog.context(workspace, version=version)
        if isinstance(spec, WorkspaceSpec) and spec.cluster and not ctx.cluster.declared:
            warnings.append(
                doc.problem(
                    Diagnostic(
                        f"cluster {spec.cluster!r} is not defined in the input; assuming a "
                        "generic cluster",
                        path=("cluster",),
                    )
                )
            )
        if not ctx.workspace_declared and workspace not in assumed:
            assumed.add(workspace)
            warnings.append(
                doc.problem(
                    Diagnostic(
                        f"workspace {workspace!r} is not defined in the input; assuming a "
                        "non-privileged workspace without GPUs on a generic cluster",
                        path=("workspace",),
                        hint="add its Workspace document with -f",
                    )
                )
            )
        try:
            result = compile_spec(spec, ctx)
        except SpecError as exc:
            problems.extend(doc.problem(d) for d in exc.diagnostics)
            continue
        warnings.extend(doc.problem(w) for w in result.warnings)
        for obj in result.bundle.objects:
            key = identity(obj)
            first = owners.get(key)
            if first is not None:
                problems.append(
                    doc.problem(
                        Diagnostic(
                            f"{obj['kind']} {obj['metadata']['name']!r} is also produced by "
                            f"{first.subject} ({first.where.source}:{first.where.start.line})",
                            path=("name",),
                            hint="rename one of them",
                        )
                    )
                )
            owners[key] = doc
        results.append((doc, result))
    if problems:
        n = len(problems)
        raise SpecError(problems, summary=f"{n} problem{'s' if n != 1 else ''} in the specs:")
    return CompiledSet(
        bundle=merge([r for _, r in results]), warnings=tuple(warnings), results=tuple(results)
    )
