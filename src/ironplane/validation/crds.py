"""Validation of custom resources against the schemas of their CustomResourceDefinitions.

This module owns:

* loading ``apiextensions.k8s.io/v1`` CustomResourceDefinitions from a directory (recursively,
  every ``*.yaml``/``*.yml`` file, multi-document files included; other documents are ignored),
  indexed by (``group/version``, kind) for every *served* version. The directory is read once
  per process; a file is parsed only when it could define a kind being looked up (its text
  names the kind), so a lookup parses a few of the files rather than all of them;
* :func:`crd_json_schema`, which turns a version's ``openAPIV3Schema`` (an OpenAPI v3 structural
  schema) into a JSON Schema with the Kubernetes semantics:

  - unknown fields are errors: every object node gets ``additionalProperties: false`` unless it
    sets ``x-kubernetes-preserve-unknown-fields: true`` (which does not reach into the node's
    declared properties). This includes ``type: object`` nodes without ``properties``: the API
    server prunes whatever is put there. Fields declared only inside ``allOf``/``anyOf``/
    ``oneOf`` branches count as known at the node; branches are never closed themselves;
  - ``x-kubernetes-int-or-string`` accepts an integer or a string;
  - ``x-kubernetes-embedded-resource`` requires ``apiVersion`` and ``kind`` strings and allows
    ``metadata``;
  - ``nullable: true`` accepts null (and skips the node's other checks, as the API server does).
    A null where the schema is not nullable is reported, although the API server would silently
    drop it;
  - the top level always allows ``apiVersion``, ``kind`` and ``metadata`` (checked as ObjectMeta:
    known fields only, ``labels`` and ``annotations`` maps of strings);
  - of the ``format`` values only ``byte`` (base64) and ``date-time`` are checked, as leniently
    as the API server does; others (``int32``, ``int64``, ``double`` ...) are not;
  - ``pattern`` is checked with Python's ``re`` (the API server uses RE2); a pattern Python
    cannot compile is skipped;
* one compiled validator per (``group/version``, kind).

Not checked: ``x-kubernetes-validations`` (CEL rules are not evaluated), list uniqueness of
``x-kubernetes-list-type: set|map``, and the CRD's scope (namespaced or cluster).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.protocols import Validator

from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import ManifestError
from ironplane.validation.kube import NoSchemaError, object_subject, schema_diagnostics

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_KEPT = (
    *("type", "enum", "required", "format", "multipleOf", "minimum", "maximum", "uniqueItems"),
    *("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"),
)
_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
_JUNCTORS = ("allOf", "anyOf", "oneOf")

_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "selfLink": {"type": "string"},
        "creationTimestamp": {},
        "deletionTimestamp": {},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array"},
    },
    "additionalProperties": False,
}
"""What custom resources' ``metadata`` is checked against (a light ObjectMeta)."""

_FORMATS = FormatChecker(formats=())
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?"
)


@_FORMATS.checks("byte", raises=(binascii.Error, ValueError))
def _is_byte(value: object) -> bool:
    if isinstance(value, str):
        base64.b64decode(value, validate=True)
    return True


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or _DATE_TIME.fullmatch(value) is not None


# --- OpenAPI v3 structural schema -> JSON Schema --------------------------------------------


def _branch_properties(node: Mapping[str, Any]) -> Iterator[str]:
    for junctor in _JUNCTORS:
        for branch in node.get(junctor) or ():
            yield from branch.get("properties") or {}
            yield from _branch_properties(branch)
            if isinstance(branch.get("else"), Mapping):
                yield from _branch_properties(branch["else"])


def _convert(node: object, *, structural: bool) -> dict[str, Any]:
    """One node; ``structural`` is False inside allOf/anyOf/oneOf/not, which are never closed."""
    if not isinstance(node, Mapping):
        return {}
    out: dict[str, Any] = {key: node[key] for key in _KEPT if key in node}
    types = out.get("type")
    if isinstance(types, str) and types not in _TYPES:
        del out["type"]
    for bound in ("minimum", "maximum"):
        exclusive = "exclusive" + bound.capitalize()
        if node.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
    if isinstance(node.get("pattern"), str):
        try:
            re.compile(node["pattern"])
            out["pattern"] = node["pattern"]
        except re.error:
            pass
    if not isinstance(out.get("required", []), list):
        del out["required"]
    if isinstance(node.get("properties"), Mapping):
        out["properties"] = {
            str(name): _convert(sub, structural=structural)
            for name, sub in node["properties"].items()
        }
    if isinstance(node.get("items"), Mapping):
        out["items"] = _convert(node["items"], structural=structural)
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        out["additionalProperties"] = _convert(extra, structural=structural)
    elif isinstance(extra, bool):
        out["additionalProperties"] = extra
    for junctor in _JUNCTORS:
        if isinstance(node.get(junctor), list):
            out[junctor] = [_convert(branch, structural=False) for branch in node[junctor]]
    if isinstance(node.get("not"), Mapping):
        out["not"] = _convert(node["not"], structural=False)
    if node.get("x-kubernetes-int-or-string") is True:
        out["type"] = ["integer", "string"]
    if node.get("x-kubernetes-embedded-resource") is True:
        out["type"] = "object"
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = OBJECT_META_SCHEMA
        out["required"] = sorted({*out.get("required", ()), "apiVersion", "kind"})
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    is_object = out.get("type") == "object" or "properties" in out
    if structural and is_object and not preserve and "additionalProperties" not in out:
        props = out.setdefault("properties", {})
        for name in _branch_properties(out):
            props.setdefault(name, {})
        out["additionalProperties"] = False
    if node.get("nullable") is True:
        return {"if": {"type": "null"}, "else": out}
    return out


def crd_json_schema(open_api_v3_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON Schema for a whole custom resource, from its CRD version's openAPIV3Schema."""
    source: Mapping[str, Any] = open_api_v3_schema or {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    schema = _convert(source, structural=True)
    schema["type"] = "object"
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = OBJECT_META_SCHEMA
    return schema


# --- loading and indexing --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrdVersion:
    """One served version of one CustomResourceDefinition."""

    api_version: str
    kind: str
    scope: str
    source: Path
    open_api_v3_schema: Mapping[str, Any] | None


def _crd_versions(document: object, source: Path) -> Iterator[CrdVersion]:
    if not isinstance(document, Mapping):
        return
    if document.get("apiVersion") != "apiextensions.k8s.io/v1":
        return
    if document.get("kind") != "CustomResourceDefinition":
        return
    spec = document.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("names"), Mapping):
        return
    group, kind = spec.get("group"), spec["names"].get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        return
    for version in spec.get("versions") or ():
        if not isinstance(version, Mapping) or version.get("served") is not True:
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        yield CrdVersion(
            api_version=f"{group}/{version.get('name')}",
            kind=kind,
            scope=str(spec.get("scope", "Namespaced")),
            source=source,
            open_api_v3_schema=schema if isinstance(schema, Mapping) else None,
        )


class CrdRegistry:
    """The CRDs under one directory; thread-safe, filled lazily, one per directory per process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        suffixes = {".yaml", ".yml"}
        files = sorted(p for p in root.rglob("*") if p.suffix in suffixes and p.is_file())
        self._unparsed: dict[Path, str] = {path: path.read_text("utf-8") for path in files}
        self._index: dict[tuple[str, str], CrdVersion] = {}
        self._scanned: set[str] = set()
        self._validators: dict[tuple[str, str], Validator] = {}
        self._lock = threading.RLock()

    def _parse(self, path: Path) -> None:
        text = self._unparsed.pop(path)
        try:
            documents = list(yaml.load_all(text, Loader=_Loader))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            problem = getattr(error, "problem", None) or str(error)
            raise ManifestError(
                [
                    Diagnostic(
                        f"YAML syntax error: {problem}",
                        source=str(path),
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None,
                    )
                ],
                summary=f"cannot read the CustomResourceDefinitions in {self.root}",
            ) from error
        for document in documents:
            for crd in _crd_versions(document, path):
                self._index.setdefault((crd.api_version, crd.kind), crd)

    def find(self, api_version: str, kind: str) -> CrdVersion | None:
        """The served CRD version for this apiVersion and kind, or None."""
        if not kind:
            return None
        with self._lock:
            if kind not in self._scanned:
                for path in [p for p, text in self._unparsed.items() if kind in text]:
                    self._parse(path)
                self._scanned.add(kind)
            return self._index.get((api_version, kind))

    def all(self) -> list[CrdVersion]:
        """Every served CRD version in the directory (parses all files)."""
        with self._lock:
            for path in list(self._unparsed):
                self._parse(path)
            return sorted(self._index.values(), key=lambda c: (c.api_version, c.kind))

    def validator(self, api_version: str, kind: str) -> Validator | None:
        """The compiled validator for this apiVersion and kind, or None without a CRD."""
        with self._lock:
            key = (api_version, kind)
            if key not in self._validators:
                crd = self.find(api_version, kind)
                if crd is None:
                    return None
                schema = crd_json_schema(crd.open_api_v3_schema)
                self._validators[key] = Draft202012Validator(schema, format_checker=_FORMATS)
            return self._validators[key]


@functools.cache
def _registry(root: Path) -> CrdRegistry:
    return CrdRegistry(root)


def load_crds(crd_dir: Path) -> CrdRegistry:
    """The CRD registry of a directory, built once per resolved path per process."""
    root = crd_dir.resolve()
    if not root.is_dir():
        raise ManifestError(
            [Diagnostic("not a directory of CustomResourceDefinitions", source=str(crd_dir))]
        )
    return _registry(root)


def validate_custom(obj: Mapping[str, Any], *, crd_dir: Path) -> list[Diagnostic]:
    """All schema errors of one custom resource; raises NoSchemaError without its CRD."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    validator = load_crds(crd_dir).validator(api_version, kind)
    if validator is None:
        raise NoSchemaError(api_version, kind)
    return schema_diagnostics(validator, obj, object_subject(obj))
