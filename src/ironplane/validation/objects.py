"""The validation entry points: read manifest files, and check each object against its schema.

This module owns:

* :func:`load_manifest_files`: multi-document YAML (and JSON) manifests into objects, with
  located errors for syntax errors and documents that are not mappings. YAML is read the way
  ``kubectl`` reads it: timestamps stay strings, and non-string keys become strings;
* :func:`validate_objects`: the dispatcher. Every object needs string ``apiVersion``, ``kind``
  and ``metadata.name``; built-in kinds are checked by ``kube.py``, others by ``crds.py`` with
  the CRDs of ``crd_dir``; an object with neither is an error, never silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import ManifestError
from ironplane.validation import crds, kube

_SUFFIXES = (".yaml", ".yml", ".json")
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ManifestLoader(_Base):  # type: ignore[valid-type,misc]
    """Safe loading without timestamps (they stay strings, as in ``kubectl``)."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
_ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", _Base.construct_yaml_str)
_ManifestLoader.add_constructor("tag:yaml.org,2002:value", _Base.construct_yaml_str)


class ManifestDocument(NamedTuple):
    """One object read from a manifest file."""

    path: Path
    document: int
    """1-based position of the YAML document in its file (items of a ``List`` share it)."""
    object: dict[str, Any]


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key if isinstance(key, str) else json.dumps(key, default=str): _string_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_string_keys(item) for item in value]
    return value


def _yaml_documents(text: str, path: Path) -> Iterator[tuple[int, int, Any]]:
    """(document number, 1-based line of its start, data) for each YAML document."""
    loader = _ManifestLoader(text)
    try:
        number = 0
        while loader.check_node():
            node = loader.get_node()
            number += 1
            yield number, node.start_mark.line + 1, loader.construct_document(node)
    finally:
        loader.dispose()


def _syntax_error(path: Path, error: yaml.YAMLError) -> Diagnostic:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    return Diagnostic(message, source=str(path), line=line, column=column)


def _read(path: Path) -> Iterator[tuple[int, int, Any]]:
    text = path.read_text("utf-8")
    if path.suffix == ".json":
        yield 1, 1, json.loads(text)
    else:
        yield from _yaml_documents(text, path)


def _expand(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
            files.extend(sorted(found))
        else:
            files.append(path)
    return files


def load_manifest_files(paths: Sequence[Path]) -> list[ManifestDocument]:
    """Every object in these files (a directory means its ``*.yaml|yml|json`` files, sorted).

    Empty documents are skipped and ``kind: List`` documents are replaced by their items.
    Raises ManifestError, with one located diagnostic per problem, for unreadable files,
    syntax errors and documents (or List items) that are not mappings.
    """
    out: list[ManifestDocument] = []
    problems: list[Diagnostic] = []
    for path in _expand(paths):
        try:
            for number, line, data in _read(path):
                if data is None:
                    continue
                where = Diagnostic("", source=str(path), line=line, subject=f"document {number}")
                if not isinstance(data, dict):
                    kind = type(data).__name__
                    message = f"document is not a mapping (got {kind})"
                    problems.append(replace(where, message=message))
                    continue
                data = _string_keys(data)
                items = data.get("items")
                if data.get("kind") != "List" or not isinstance(items, list):
                    out.append(ManifestDocument(path, number, data))
                    continue
                for index, item in enumerate(items):
                    if isinstance(item, dict):
                        out.append(ManifestDocument(path, number, item))
                    else:
                        message = "List item is not a mapping"
                        problems.append(replace(where, message=message, path=("items", index)))
        except yaml.YAMLError as error:
            problems.append(_syntax_error(path, error))
        except json.JSONDecodeError as error:
            message = f"JSON syntax error: {error.msg}"
            problems.append(Diagnostic(message, source=str(path), line=error.lineno))
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Diagnostic(f"cannot read file: {error}", source=str(path)))
    if problems:
        raise ManifestError(problems, summary="cannot read the manifests")
    return out


def _header(obj: Mapping[str, Any]) -> list[Diagnostic]:
    problems = [
        Diagnostic(f"missing or empty {field!r} (a string)", (field,))
        for field in ("apiVersion", "kind")
        if not isinstance(obj.get(field), str) or not obj.get(field)
    ]
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        problems.append(Diagnostic("missing 'metadata' (a mapping with a 'name')", ("metadata",)))
    elif not isinstance(meta.get("name"), str) or not meta.get("name"):
        problems.append(Diagnostic("missing or empty 'name' (a string)", ("metadata", "name")))
    return problems


def _no_schema(obj: Mapping[str, Any], kube_version: str, crd_dir: Path | None) -> Diagnostic:
    api_version, kind = obj["apiVersion"], obj["kind"]
    message = f"no schema for kind {kind} apiVersion {api_version} at Kubernetes {kube_version}; "
    if crd_dir is None:
        message += "pass --crds DIR with its CustomResourceDefinition"
    else:
        message += f"no served CustomResourceDefinition for it in {crd_dir}"
    builtin = kube.builtin_api_versions(kube_version, kind)
    hint = f"{kind} is built in as {', '.join(builtin)}" if builtin else None
    return Diagnostic(message, ("apiVersion",), given=repr(api_version), hint=hint)


def _check(obj: Mapping[str, Any], kube_version: str, crd_dir: Path | None) -> list[Diagnostic]:
    problems = _header(obj)
    if any(d.path in (("apiVersion",), ("kind",)) for d in problems):
        return problems
    try:
        return problems + kube.validate_builtin(obj, kube_version=kube_version)
    except kube.NoSchemaError:
        pass
    if crd_dir is not None:
        try:
            return problems + crds.validate_custom(obj, crd_dir=crd_dir)
        except kube.NoSchemaError:
            pass
    return [*problems, _no_schema(obj, kube_version, crd_dir)]


def validate_objects(
    objects: Sequence[Mapping[str, Any]],
    *,
    kube_version: str,
    crd_dir: Path | None,
    source: str | None = None,
    documents: Sequence[int] | None = None,
) -> list[Diagnostic]:
    """Every schema problem of these objects, in object order, then field-path order.

    ``kube_version`` is a supported minor version (``"1.33"``; InvalidError otherwise).
    ``source`` names the file they came from; ``documents``, when given, holds each object's
    document number in that file (one per object) and adds `` (document N)`` to the subject.
    """
    version = kube.check_kube_version(kube_version)
    if documents is not None and len(documents) != len(objects):
        raise ValueError("documents must hold one document number per object")
    out: list[Diagnostic] = []
    for index, obj in enumerate(objects):
        subject = kube.object_subject(obj) if isinstance(obj, Mapping) else "object"
        if documents is not None:
            subject += f" (document {documents[index]})"
        if isinstance(obj, Mapping):
            problems = _check(obj, version, crd_dir)
        else:
            problems = [Diagnostic("not a mapping")]
        out.extend(replace(d, subject=subject, source=source) for d in problems)
    return out


def validate_manifest_files(
    paths: Sequence[Path], *, kube_version: str, crd_dir: Path | None
) -> list[Diagnostic]:
    """Load these files (see :func:`load_manifest_files`) and validate every object in them."""
    kube.check_kube_version(kube_version)
    by_file: dict[Path, list[ManifestDocument]] = {}
    for entry in load_manifest_files(paths):
        by_file.setdefault(entry.path, []).append(entry)
    out: list[Diagnostic] = []
    for path, entries in by_file.items():
        out += validate_objects(
            [e.object for e in entries],
            kube_version=kube_version,
            crd_dir=crd_dir,
            source=str(path),
            documents=[e.document for e in entries],
        )
    return out
