"""YAML in and out: documents read with a line for every field path, so errors can point at the
exact line; objects written as block-style YAML in their own key order (``to_yaml``), and the
``kustomization.yaml`` of a rendered directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from ironplane.core.diagnostics import Diagnostic, Path

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
KUSTOMIZATION = "kustomization.yaml"


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def kustomization(resources: list[str]) -> dict[str, Any]:
    """The Kustomization that lists ``resources`` (``kubectl apply -k DIR`` applies them)."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


@dataclass(frozen=True, slots=True)
class Mark:
    line: int
    column: int


@dataclass(slots=True)
class SourceMap:
    """Where each field path of one document sits in its file (1-based lines and columns)."""

    source: str
    start: Mark
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def at(self, path: Path, *, key: bool = False) -> Mark:
        """The closest located point: the path itself, else its nearest located ancestor."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return self.start

    def locate(self, diagnostic: Diagnostic, *, key: bool = False) -> Diagnostic:
        mark = self.at(diagnostic.path, key=key)
        return diagnostic.located(self.source, mark.line, mark.column)


@dataclass(frozen=True, slots=True)
class RawDocument:
    data: Any
    index: int
    """0-based position of the document in its file."""
    where: SourceMap
    problems: tuple[Diagnostic, ...] = ()
    """Problems found while reading (duplicate keys), already located."""


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(
    node: yaml.Node,
    path: Path,
    where: SourceMap,
    loader: yaml.SafeLoader,
    problems: list[Diagnostic],
) -> None:
    where.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            name = str(key)
            if name in seen:
                problems.append(
                    where.locate(
                        Diagnostic(
                            f"duplicate key {name!r} (first at line {seen[name].line})",
                            path=path,
                            hint="YAML keeps only the last value; remove one of them",
                        )
                    ).located(where.source, *_pos(key_node))
                )
            seen[name] = _mark(key_node)
            where.keys[(*path, name)] = _mark(key_node)
            _walk(value_node, (*path, name), where, loader, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), where, loader, problems)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read_documents(text: str, source: str) -> Iterator[RawDocument]:
    """Parse every non-empty document of a YAML stream with its source map.

    Syntax errors raise ``yaml.MarkedYAMLError``; duplicate keys are collected in ``problems``.
    """
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            data = loader.construct_document(node)
            where = SourceMap(source=source, start=_mark(node))
            problems: list[Diagnostic] = []
            _walk(node, (), where, loader, problems)
            if data is not None:
                yield RawDocument(data=data, index=index, where=where, problems=tuple(problems))
            index += 1
    finally:
        loader.dispose()
