"""Validation of built-in Kubernetes kinds, and the translation of schema errors to diagnostics.

This module owns:

* the Kubernetes versions Ironplane validates against (``SUPPORTED_KUBE_VERSIONS``, derived from
  the schema directories bundled with the ``kubernetes-validate`` package, 1.33 and later);
* compiled validators for built-in kinds, built from that package's *strict* JSON schemas (every
  object is closed: an unknown field is an error). ``_definitions.json`` (1-3 MB) is read once
  per Kubernetes version and each kind's validator is compiled once per process;
* :func:`schema_diagnostics`, which turns jsonschema errors into one-line :class:`Diagnostic`
  objects (unknown fields with the allowed names and the closest one, merged type errors, the
  most relevant branch of a ``oneOf``/``anyOf``). ``crds.py`` uses it too.

A kind the package has no schema for raises :class:`NoSchemaError`, so that the dispatcher can
look for a CustomResourceDefinition next. A bundled schema counts only when its
``x-kubernetes-group-version-kind`` names exactly the object's group, version and kind: the
package's file names drop everything after the first dot of the group, so ``networking.istio.io``
and ``networking.k8s.io`` would otherwise share files.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

from ironplane.core.diagnostics import Diagnostic, PathItem, closest, show_value
from ironplane.core.errors import InvalidError

_PACKAGE = "kubernetes_validate"
_SCHEMA_ROOT = "kubernetes-json-schema"
_MIN_VERSION = (1, 33)
_MESSAGE_LIMIT = 200
_ALLOWED_LIMIT = 60


def _bundled_versions() -> tuple[str, ...]:
    root = importlib.resources.files(_PACKAGE) / _SCHEMA_ROOT
    found: set[tuple[int, int]] = set()
    for entry in root.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.0-local-strict", entry.name)
        if match and (int(match[1]), int(match[2])) >= _MIN_VERSION:
            found.add((int(match[1]), int(match[2])))
    return tuple(f"{major}.{minor}" for major, minor in sorted(found))


SUPPORTED_KUBE_VERSIONS: tuple[str, ...] = _bundled_versions()
"""Kubernetes minor versions accepted for validation, oldest first (e.g. ``"1.33"``)."""


class NoSchemaError(LookupError):
    """No schema is known for this apiVersion and kind (not built in, or no CRD loaded)."""

    def __init__(self, api_version: str, kind: str, kube_version: str | None = None) -> None:
        where = f" at Kubernetes {kube_version}" if kube_version else ""
        super().__init__(f"no schema for kind {kind} apiVersion {api_version}{where}")
        self.api_version = api_version
        self.kind = kind
        self.kube_version = kube_version


def check_kube_version(version: str) -> str:
    """Normalise ``"1.33"``, ``"v1.33"`` or ``"1.33.4"`` to ``"1.33"``; reject unsupported ones."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", version.strip())
    normal = f"{int(match[1])}.{int(match[2])}" if match else version
    if normal not in SUPPORTED_KUBE_VERSIONS:
        supported = ", ".join(SUPPORTED_KUBE_VERSIONS)
        raise InvalidError(f"unsupported Kubernetes version {version!r}; supported: {supported}")
    return normal


def object_subject(obj: Mapping[str, Any]) -> str:
    """How diagnostics name an object: ``Deployment 'prod/chat-api'`` or ``Namespace 'prod'``."""
    kind = obj.get("kind")
    label = kind if isinstance(kind, str) and kind else "object"
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return label
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str):
        return label
    if isinstance(namespace, str) and namespace:
        return f"{label} '{namespace}/{name}'"
    return f"{label} '{name}'"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` -> ``("apps", "v1")``; ``"v1"`` -> ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


@functools.cache
def _schema_dir(kube_version: str) -> Traversable:
    return importlib.resources.files(_PACKAGE) / _SCHEMA_ROOT / f"v{kube_version}.0-local-strict"


@functools.cache
def _registry(kube_version: str) -> Registry[Any]:
    definitions = json.loads((_schema_dir(kube_version) / "_definitions.json").read_bytes())
    resource: Resource[Any] = Resource.from_contents(definitions)
    registry: Registry[Any] = Registry().with_resource(definitions["$id"], resource)
    return registry


@functools.cache
def _file_names(kube_version: str) -> frozenset[str]:
    return frozenset(entry.name for entry in _schema_dir(kube_version).iterdir())


def _serves(schema: Mapping[str, Any], group: str, version: str, kind: str) -> bool:
    gvks = schema.get("x-kubernetes-group-version-kind")
    if not isinstance(gvks, list):
        return False
    return any(
        isinstance(gvk, Mapping)
        and gvk.get("group", "") == group
        and gvk.get("version") == version
        and gvk.get("kind") == kind
        for gvk in gvks
    )


def _schema_file(group: str, version: str, kind: str) -> str:
    prefix = group.split(".")[0]
    return f"{kind.lower()}-{prefix}-{version}.json" if group else f"{kind.lower()}-{version}.json"


@functools.lru_cache(maxsize=4096)
def builtin_validator(kube_version: str, api_version: str, kind: str) -> Validator | None:
    """The compiled validator for a built-in kind, or None when it is not built in."""
    version = check_kube_version(kube_version)
    group, ver = split_api_version(api_version)
    name = _schema_file(group, ver, kind)
    if not ver or name not in _file_names(version):
        return None
    schema = json.loads((_schema_dir(version) / name).read_bytes())
    if not _serves(schema, group, ver, kind):
        return None
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, registry=_registry(version))


@functools.lru_cache(maxsize=1024)
def builtin_api_versions(kube_version: str, kind: str) -> tuple[str, ...]:
    """The apiVersions a built-in kind is served as, e.g. ``("apps/v1",)`` for Deployment."""
    version = check_kube_version(kube_version)
    prefix = f"{kind.lower()}-"
    found: set[str] = set()
    for name in _file_names(version):
        if not name.startswith(prefix):
            continue
        schema = json.loads((_schema_dir(version) / name).read_bytes())
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if isinstance(gvk, Mapping) and gvk.get("kind") == kind:
                group, ver = gvk.get("group", ""), gvk.get("version", "")
                found.add(f"{group}/{ver}" if group else str(ver))
    return tuple(sorted(found))


def validate_builtin(obj: Mapping[str, Any], *, kube_version: str) -> list[Diagnostic]:
    """All schema errors of one built-in object; raises NoSchemaError for other kinds."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    validator = builtin_validator(kube_version, api_version, kind)
    if validator is None:
        raise NoSchemaError(api_version, kind, check_kube_version(kube_version))
    return schema_diagnostics(validator, obj, object_subject(obj))


# --- jsonschema errors -> diagnostics -------------------------------------------------------


def _cap(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(names: Iterable[str]) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:_ALLOWED_LIMIT])
    more = len(ordered) - _ALLOWED_LIMIT
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return type(value).__name__


def _path_key(path: Sequence[PathItem]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, item, "") if isinstance(item, int) else (1, 0, item) for item in path)


def _type_names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _expected_types(types: Iterable[str], instance: object) -> str:
    names = list(dict.fromkeys(types))
    if instance is not None and len(names) > 1:
        names = [name for name in names if name != "null"]
    return " or ".join(names)


def _unknown_fields(error: ValidationError) -> Iterator[Diagnostic]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    declared = schema.get("properties") or {}
    patterns = [re.compile(p) for p in schema.get("patternProperties") or {}]
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    allowed = _names(declared) if declared else "(no fields)"
    path = tuple(error.absolute_path)
    for field in instance:
        name = str(field)
        if field in declared or any(p.search(name) for p in patterns):
            continue
        guess = closest(name, declared)
        yield Diagnostic(
            message=f"unknown field {name!r}",
            path=(*path, name),
            allowed=allowed,
            hint=f"did you mean {guess!r}?" if guess else None,
        )


def _branches_all_type_errors(error: ValidationError) -> list[str] | None:
    """For a oneOf/anyOf whose every branch failed only on type: the union of branch types."""
    types: list[str] = []
    for sub in error.context or ():
        if sub.validator != "type" or list(sub.relative_path):
            return None
        types.extend(_type_names(sub.validator_value))
    return types or None


def _describe(error: ValidationError) -> Iterator[Diagnostic]:
    path = tuple(error.absolute_path)
    keyword, instance = error.validator, error.instance
    value: Any = error.validator_value
    given = show_value(instance)
    if keyword == "additionalProperties" and value is False:
        yield from _unknown_fields(error)
    elif keyword in ("oneOf", "anyOf"):
        types = _branches_all_type_errors(error)
        sub = best_match(error.context or ())
        if types:
            expected = _expected_types(types, instance)
            yield Diagnostic(f"expected {expected}, got {_json_type(instance)}", path, given=given)
        elif sub is not None and sub is not error and not sub.context:
            yield from _describe(sub)
        elif not error.context:
            yield Diagnostic("matches more than one of the allowed shapes", path, given=given)
        else:
            yield Diagnostic("does not match any of the allowed shapes", path, given=given)
    elif keyword == "type":
        expected = _expected_types(_type_names(value), instance)
        yield Diagnostic(f"expected {expected}, got {_json_type(instance)}", path, given=given)
    elif keyword == "required" and isinstance(instance, Mapping):
        for field in value or ():
            if field not in instance:
                yield Diagnostic(f"missing required field {field!r}", path)
    elif keyword == "enum":
        allowed = _cap(", ".join(show_value(v, 40) for v in value or ()))
        message = "value is not one of the allowed values"
        yield Diagnostic(message, path, given=given, allowed=allowed)
    elif keyword == "const":
        message = "value is not the only allowed one"
        yield Diagnostic(message, path, given=given, allowed=show_value(value))
    elif keyword == "pattern":
        message = _cap(f"does not match the pattern {value!r}")
        yield Diagnostic(message, path, given=given)
    elif keyword == "not":
        yield Diagnostic("value matches a shape that is not allowed here", path, given=given)
    else:
        yield Diagnostic(_cap(error.message), path)


def schema_diagnostics(
    validator: Validator, instance: Any, subject: str | None = None
) -> list[Diagnostic]:
    """Every error the validator finds in ``instance``, as diagnostics sorted by field path."""
    found: dict[Diagnostic, None] = {}
    for error in validator.iter_errors(instance):
        for diagnostic in _describe(error):
            found[replace(diagnostic, subject=subject)] = None
    return sorted(found, key=lambda d: (_path_key(d.path), d.message))
