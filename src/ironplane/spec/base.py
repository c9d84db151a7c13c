"""The spec base model and the field types every kind shares."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from ironplane.core.names import app_name_problem, dns_label_problem, secret_key_problem
from ironplane.core.quantities import (
    DURATION_HELP,
    QUANTITY_HELP,
    QuantityProblem,
    parse_duration,
    parse_quantity,
)


class SpecModel(BaseModel):
    """Strict base: unknown fields are errors; specs are immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, hide_input_in_errors=True)


class FieldProblem(ValueError):
    """A value error that carries what is allowed and a hint for the diagnostic."""

    def __init__(self, message: str, *, allowed: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.allowed = allowed
        self.hint = hint


def _name(value: str) -> str:
    problem = app_name_problem(value)
    if problem:
        raise FieldProblem(
            f"invalid name: {problem}",
            allowed="DNS-1123 label: 3-40 of a-z, 0-9 and '-', starting and ending alphanumeric",
            hint=f"try {_suggest_name(value)!r}" if _suggest_name(value) else None,
        )
    return value


def _suggest_name(value: str) -> str | None:
    fixed = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:40].strip("-")
    return fixed if fixed != value and app_name_problem(fixed) is None else None


def _label(value: str) -> str:
    problem = dns_label_problem(value)
    if problem:
        raise FieldProblem(f"invalid name: {problem}", allowed="DNS-1123 label (1-63 characters)")
    return value


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldProblem("expected a quantity string", allowed=QUANTITY_HELP)
    text = str(value)
    try:
        amount = parse_quantity(text)
    except QuantityProblem as exc:
        raise FieldProblem(str(exc), allowed=QUANTITY_HELP, hint=exc.hint) from None
    if amount <= 0:
        raise FieldProblem(f"{text!r} must be greater than zero", allowed=QUANTITY_HELP)
    return text


def _duration(value: Any) -> str:
    if not isinstance(value, str):
        hint = f"write {value}s" if isinstance(value, int) and not isinstance(value, bool) else None
        raise FieldProblem("expected a duration string", allowed=DURATION_HELP, hint=hint)
    try:
        seconds = parse_duration(value)
    except QuantityProblem as exc:
        raise FieldProblem(str(exc), allowed=DURATION_HELP, hint=exc.hint) from None
    if seconds <= 0:
        raise FieldProblem(f"{value!r} must be longer than zero", allowed=DURATION_HELP)
    return value


def _cpu(value: Any) -> Decimal:
    allowed = "a number of cores such as 0.5 or 2 (or millicores such as '500m')"
    if isinstance(value, bool):
        raise FieldProblem("expected a number of cores", allowed=allowed)
    try:
        cores = parse_quantity(str(value)) if isinstance(value, str) else Decimal(str(value))
    except (QuantityProblem, ArithmeticError):
        raise FieldProblem(f"{value!r} is not a CPU amount", allowed=allowed) from None
    if cores <= 0:
        raise FieldProblem("must be greater than zero", allowed=allowed)
    if (cores * 1000) != (cores * 1000).to_integral_value():
        raise FieldProblem("finer than a millicore (0.001)", allowed=allowed)
    return cores


_IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")


def _image(value: str) -> str:
    if not value or not _IMAGE.match(value) or len(value) > 512:
        raise FieldProblem(
            "not a container image reference",
            allowed="registry/repository[:tag][@sha256:digest], e.g. ghcr.io/acme/app:1.2.0",
        )
    return value


def _abs_path(value: str) -> str:
    if not value.startswith("/") or "\x00" in value or "/../" in value + "/":
        raise FieldProblem("must be an absolute path without '..'", allowed="e.g. /data")
    return value


def secret_ref(value: str) -> str:
    group, sep, key = value.partition("/")
    allowed = "group/key, e.g. llm/openai-key"
    if not sep:
        raise FieldProblem("a secret reference needs a group and a key", allowed=allowed)
    problem = dns_label_problem(group) or secret_key_problem(key)
    if problem:
        raise FieldProblem(f"invalid secret reference: {problem}", allowed=allowed)
    return value


Name = Annotated[str, AfterValidator(_name), Field(description="DNS-1123 label, 3-40 chars")]
Label = Annotated[str, AfterValidator(_label)]
Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9.]+(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$"}),
]
Duration = Annotated[
    str,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"}),
]
Cpu = Annotated[
    Decimal,
    BeforeValidator(_cpu),
    WithJsonSchema(
        {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]},
    ),
]
Image = Annotated[str, AfterValidator(_image)]
AbsPath = Annotated[str, AfterValidator(_abs_path)]
SecretRefText = Annotated[str, AfterValidator(secret_ref)]
Port = Annotated[int, Field(ge=1, le=65535)]
