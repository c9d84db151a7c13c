"""Strict structural check of a Kubeflow Trainer ``TrainingRuntime`` (``trainer.kubeflow.org/v1alpha1``).

Why this exists: the compiler emits one namespaced ``TrainingRuntime`` per TrainJob, and the test
suite validates every compiled object against upstream CRDs (``IRONPLANE_K8S_SCHEMAS``). That
pinned directory has no ``TrainingRuntime`` CRD and we cannot fetch one, so the schema here comes
from PyPI's ``kubeflow-trainer-api==2.3.0``: the Trainer project's own pydantic v2 models, generated
by OpenAPI Generator from its OpenAPI spec at the same release (Trainer v2.3.0) as the runtime we
target. They embed the JobSet ``v1alpha2`` and core/batch ``v1`` types the runtime carries.

What it checks, over the whole object:

* ``apiVersion`` and ``kind`` are exactly ``trainer.kubeflow.org/v1alpha1`` / ``TrainingRuntime``;
* every key at every depth is one the models declare (their JSON aliases; Python field names such as
  ``num_nodes`` are refused even though the models' ``populate_by_name`` would take them). The
  generated ``from_dict`` methods silently drop unknown keys, so this walk is what makes it strict;
* every value has the model's type: the generated strict scalars (``StrictStr``/``StrictInt``/
  ``StrictBool``, so ``"2"`` is not an int and ``1`` is not a string), lists, maps, nested objects,
  required fields, and the enums that the models encode as field validators (e.g. ``dnsPolicy``,
  ``restartPolicy``); ``metadata`` (at every level) is checked as ``ObjectMeta``;
* as a backstop, the generated ``from_dict`` of the root model must also accept the object.

What it does not check: CEL / ``x-kubernetes-validations`` rules, ``pattern``/``minimum``/
``maxLength`` and other OpenAPI constraints the generator did not turn into code, enums that were
only documented (most Kubernetes enums are just ``StrictStr``), the syntax of quantities
(``resources.limits`` takes any string or number) and int-or-string values, and list-map key
uniqueness. Map-typed free-form fields (``Dict[str, Any]``, e.g. ``mlPolicy.jax``) are not
descended into. Pod templates can additionally be checked against the strict core schema: see
:func:`pod_templates_of`.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import pydantic
from kubeflow_trainer_api.models import (  # type: ignore[import-untyped]
    TrainerV1alpha1TrainingRuntime,
)

API_VERSION = "trainer.kubeflow.org/v1alpha1"
KIND = "TrainingRuntime"

_ROOT: type[pydantic.BaseModel] = TrainerV1alpha1TrainingRuntime
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def validate_training_runtime(obj: dict[str, Any]) -> None:
    """Raise AssertionError listing every schema violation in ``obj``, each with its JSON path."""
    errors: list[str] = []
    if not isinstance(obj, dict):
        raise AssertionError(f"TrainingRuntime: expected an object, got {type(obj).__name__}")
    if obj.get("apiVersion") != API_VERSION:
        errors.append(f"apiVersion: expected {API_VERSION!r}, got {obj.get('apiVersion')!r}")
    if obj.get("kind") != KIND:
        errors.append(f"kind: expected {KIND!r}, got {obj.get('kind')!r}")
    _check_model(obj, _ROOT, "", errors)
    if not errors:
        # Backstop: the generated parser must agree (its locations are relative to the nested
        # model named in the error's title, since each level calls model_validate on its own).
        try:
            _ROOT.from_dict(obj)  # type: ignore[attr-defined]
        except pydantic.ValidationError as exc:
            errors.extend(
                f"{exc.title}.{_loc(err['loc'])}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
        except ValueError as exc:
            errors.append(f"(from_dict): {exc}")
    if errors:
        raise AssertionError(
            f"TrainingRuntime {_name_of(obj)} fails the Trainer v2.3.0 schema:\n  "
            + "\n  ".join(errors)
        )


def pod_templates_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``spec.template.spec.replicatedJobs[i].template.spec.template`` (a PodTemplateSpec).

    An absent ``replicatedJobs`` gives ``[]``; a replicated job without a pod template is an
    AssertionError, so a caller never silently validates fewer pods than the runtime has.
    """
    jobset_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    replicated = jobset_spec.get("replicatedJobs") or []
    out: list[dict[str, Any]] = []
    for i, job in enumerate(replicated):
        pod = (
            ((job.get("template") or {}).get("spec") or {}).get("template")
            if isinstance(job, dict)
            else None
        )
        if not isinstance(pod, dict):
            raise AssertionError(
                f"spec.template.spec.replicatedJobs[{i}].template.spec.template: "
                "missing pod template"
            )
        out.append(pod)
    return out


# --- the walker ---------------------------------------------------------------------------------


def _check_model(value: Any, model: type[pydantic.BaseModel], path: str, errors: list[str]) -> None:
    """Check ``value`` (a JSON object) against a generated model: keys, then each field."""
    if _is_one_of(model):
        _check_one_of(value, model, path, errors)
        return
    if not isinstance(value, dict):
        errors.append(f"{path or '<root>'}: expected an object, got {_type_name(value)}")
        return
    by_alias = {(field.alias or name): (name, field) for name, field in model.model_fields.items()}
    for key, item in value.items():
        sub = _join(path, str(key))
        if key not in by_alias:
            errors.append(f"{sub}: unknown field")
            continue
        name, field = by_alias[key]
        annotation = field.annotation
        if _involves_model(annotation):
            _check_value(item, annotation, sub, errors)
        else:
            _check_leaf(model, name, item, sub, errors)
    for alias, (_, field) in by_alias.items():
        if field.is_required() and alias not in value:
            errors.append(f"{_join(path, alias)}: required field missing")


def _check_value(value: Any, annotation: Any, path: str, errors: list[str]) -> None:
    """Check a value whose type involves a model (``Optional``/``List``/``Dict`` of models)."""
    annotation, nullable = _strip_optional(annotation)
    if value is None:
        if not nullable:
            errors.append(f"{path}: must not be null")
        return
    origin = typing.get_origin(annotation)
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {_type_name(value)}")
            return
        (item_type,) = typing.get_args(annotation)
        for i, item in enumerate(value):
            _check_value(item, item_type, f"{path}[{i}]", errors)
    elif origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {_type_name(value)}")
            return
        key_type, item_type = typing.get_args(annotation)
        for key, item in value.items():
            sub = _join(path, str(key))
            if key_type is str and not isinstance(key, str):
                errors.append(f"{sub}: map key must be a string")
            _check_value(item, item_type, sub, errors)
    elif isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        _check_model(value, annotation, path, errors)
    else:  # pragma: no cover - _involves_model routes only model-bearing types here
        raise TypeError(f"{path}: unsupported annotation {annotation!r}")


def _check_leaf(
    model: type[pydantic.BaseModel], name: str, value: Any, path: str, errors: list[str]
) -> None:
    """Validate a model-free field by assigning it on an empty instance of its model.

    The models set ``validate_assignment=True``, so this runs the field's strict type and its enum
    validator (if any) without needing the model's other required fields. Free-form fields
    (``Dict[str, Any]``, ``object``) land here too: only their container type is checked.
    """
    instance = model.model_construct()
    try:
        setattr(instance, name, value)
    except pydantic.ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = err["loc"]
            if loc and loc[0] in (name, model.model_fields[name].alias):
                loc = loc[1:]
            errors.append(f"{path}{_loc_suffix(loc)}: {err['msg']} (got {err['input']!r})")


def _check_one_of(
    value: Any, model: type[pydantic.BaseModel], path: str, errors: list[str]
) -> None:
    """Quantity / IntOrString: generated as oneOf wrappers holding a scalar, not an object."""
    try:
        model.from_dict(value)  # type: ignore[attr-defined]
    except ValueError:  # pydantic.ValidationError is a ValueError too
        kinds = " or ".join(sorted(model.model_fields["one_of_schemas"].default))
        errors.append(f"{path}: expected {kinds} ({model.__name__}), got {value!r}")


# --- annotation helpers -------------------------------------------------------------------------


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """``Optional[X]`` -> ``(X, True)``; anything else -> ``(annotation, False)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], nullable
    return annotation, False


def _involves_model(annotation: Any) -> bool:
    """Whether a model class appears anywhere inside ``annotation``."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return True
    return any(_involves_model(arg) for arg in typing.get_args(annotation))


def _is_one_of(model: type[pydantic.BaseModel]) -> bool:
    return "actual_instance" in model.model_fields and "one_of_schemas" in model.model_fields


# --- formatting ---------------------------------------------------------------------------------


def _segment(key: int | str) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    return f".{key}" if _IDENT.match(key) else f'["{key}"]'


def _join(path: str, key: str) -> str:
    seg = _segment(key)
    return path + seg if path else seg.removeprefix(".")


def _loc_suffix(loc: tuple[int | str, ...]) -> str:
    return "".join(_segment(part) for part in loc)


def _loc(loc: tuple[int | str, ...]) -> str:
    return _loc_suffix(loc).lstrip(".") or "<root>"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _name_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        return f"{meta.get('namespace', '')}/{meta.get('name', '?')}"
    return "?"
