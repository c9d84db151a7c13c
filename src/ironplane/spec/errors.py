"""Turn pydantic's validation errors into located, actionable diagnostics."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ironplane.core.diagnostics import Diagnostic, Path, closest, show_value
from ironplane.spec.base import FieldProblem
from ironplane.yamlsource import SourceMap

_QUOTED = re.compile(r"'([^']*)'")
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "decimal": "a number",
    "bool": "true or false",
    "string": "a string",
    "str": "a string",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}


def _unwrap(annotation: Any, step: str | int) -> Any:
    """The annotation reached from ``annotation`` by one path step, or None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], step)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg, step)
            if found is not None:
                return found
        return None
    if isinstance(step, int) and origin is list:
        return typing.get_args(annotation)[0]
    if isinstance(step, str) and origin is dict:
        return typing.get_args(annotation)[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(step))
        return field.annotation if field else None
    return None


def _model_at(root: type[BaseModel], path: Path) -> type[BaseModel] | None:
    current: Any = root
    for step in path:
        current = _unwrap(current, step)
        if current is None:
            return None
    return _as_model(current)


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated or origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _as_model(arg)
            if found is not None:
                return found
    return None


def _expected(error_type: str) -> str | None:
    for word, phrase in _TYPE_WORDS.items():
        if error_type.startswith(word + "_"):
            return phrase
    return None


def from_pydantic(
    exc: ValidationError, model: type[BaseModel], where: SourceMap | None, subject: str
) -> list[Diagnostic]:
    """One diagnostic per error of ``model``'s validation, located in its file by ``where``
    (None: given outside a file, e.g. command-line options or an API request)."""
    out = []
    for err in exc.errors(include_url=False):
        diag = _one(err, model, subject)
        if where is not None:  # an unknown field at its key, any other problem at its value
            diag = where.locate(diag, key=err["type"] == "extra_forbidden")
        out.append(diag)
    return out


def _one(err: ErrorDetails, model: type[BaseModel], subject: str) -> Diagnostic:
    path: Path = tuple(p for p in err["loc"] if p != "[key]")
    kind = err["type"]
    given = show_value(err.get("input"))
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        owner = _model_at(model, path[:-1])
        names = sorted(owner.model_fields) if owner else []
        field = str(path[-1])
        guess = closest(field, names)
        return Diagnostic(
            f"unknown field {field!r}",
            path=path,
            subject=subject,
            allowed=", ".join(names) or None,
            hint=f"did you mean {guess!r}?" if guess else None,
        )
    if kind == "missing":
        return Diagnostic(
            f"required field {str(path[-1])!r} is missing", path=path, subject=subject
        )
    if kind == "literal_error":
        options = _QUOTED.findall(str(ctx.get("expected", "")))
        value = err.get("input")
        guess = closest(value, options) if isinstance(value, str) else None
        return Diagnostic(
            "not one of the allowed values",
            path=path,
            subject=subject,
            given=given,
            allowed=", ".join(options) or str(ctx.get("expected")),
            hint=f"did you mean {guess!r}?" if guess else None,
        )
    if kind == "value_error" and isinstance(ctx.get("error"), FieldProblem):
        problem: FieldProblem = ctx["error"]
        return Diagnostic(
            str(problem),
            path=path,
            subject=subject,
            given=given if path and not isinstance(err.get("input"), dict) else None,
            allowed=problem.allowed,
            hint=problem.hint,
        )
    expected = _expected(kind)
    message = (
        f"expected {expected}" if expected and kind.endswith(("_type", "_parsing")) else err["msg"]
    )
    allowed = None
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = err["msg"].lower()
    if kind == "string_pattern_mismatch":
        message = "does not have the expected form"
        allowed = f"text matching {ctx.get('pattern')}"
    return Diagnostic(message, path=path, subject=subject, given=given, allowed=allowed)
