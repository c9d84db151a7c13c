"""The compile pipeline for one spec: checks, the kind's base objects, then feature modules.

Later parts plug in without touching the kind compilers: a feature module (Istio exposure, KEDA
autoscaling, Argo Rollouts, Kueue, training operators...) is a ``Feature`` added to ``FEATURES``
in ``registry.py``. Each sees the spec, the context and the objects built so far, and may add,
replace or remove objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ironplane.compiler.context import CompileContext
from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import SpecError
from ironplane.spec.kinds import Spec
from ironplane.wire.manifests import ManifestBundle, Object, identity


class Objects:
    """The objects one spec compiles to, keyed by identity, in insertion order."""

    def __init__(self) -> None:
        self._items: dict[str, Object] = {}

    def add(self, obj: Object) -> Object:
        key = identity(obj)
        if key in self._items:
            raise ValueError(f"compiler bug: {key} emitted twice")
        self._items[key] = obj
        return obj

    def find(self, kind: str, name: str) -> Object | None:
        for obj in self._items.values():
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        return None

    def remove(self, obj: Object) -> None:
        del self._items[identity(obj)]

    def __iter__(self) -> Any:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class Build:
    """The state of one compile: what was emitted and what was said along the way."""

    spec: Spec
    ctx: CompileContext
    version: str
    objects: Objects = field(default_factory=Objects)
    warnings: list[Diagnostic] = field(default_factory=list)

    def warn(
        self, message: str, *, path: tuple[str | int, ...] = (), hint: str | None = None
    ) -> None:
        self.warnings.append(Diagnostic(message, path=path, hint=hint))


KindCompiler = Callable[[Build], None]


class Feature(Protocol):
    @property
    def name(self) -> str: ...

    def applies(self, build: Build) -> bool: ...

    def apply(self, build: Build) -> None: ...


@dataclass(frozen=True, slots=True)
class CompileResult:
    bundle: ManifestBundle
    warnings: tuple[Diagnostic, ...]
    version: str


def compile_spec(spec: Spec, ctx: CompileContext) -> CompileResult:
    """Compile one spec in its context. Raises ``SpecError`` (path-only diagnostics) on misuse."""
    from ironplane.compiler.checks import check
    from ironplane.compiler.labels import spec_version
    from ironplane.compiler.registry import FEATURES, KIND_COMPILERS

    problems = check(spec, ctx)
    if problems:
        raise SpecError(problems)
    build = Build(spec=spec, ctx=ctx, version=ctx.version or spec_version(spec))
    KIND_COMPILERS[spec.kind](build)
    for feature in FEATURES:
        if feature.applies(build):
            feature.apply(build)
    return CompileResult(
        bundle=ManifestBundle.of(build.objects),
        warnings=tuple(build.warnings),
        version=build.version,
    )


def merge(results: Sequence[CompileResult]) -> ManifestBundle:
    objects: list[Object] = []
    for result in results:
        objects.extend(result.bundle.objects)
    return ManifestBundle.of(objects)
