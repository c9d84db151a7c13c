"""Job: a run-to-completion batch task on one node."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ironplane.spec.base import Duration, FieldProblem, Image, SpecModel
from ironplane.spec.cron import cron_problem, timezone_problem
from ironplane.spec.kinds.server import AppFields

_PARAM_REF = re.compile(r"\{\{\s*([A-Za-z0-9_.-]*)\s*\}\}")


class Param(SpecModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
    default: str | None = None
    description: str | None = None


class JobSpec(AppFields):
    kind: Literal["Job"]
    image: Image
    command: list[str] = Field(min_length=1)
    args: list[str] | None = None
    params: list[Param] = Field(default_factory=list)
    schedule: str | None = Field(default=None, description="cron; absent: run on trigger only")
    timezone: str | None = Field(default=None, description="IANA zone for schedule; UTC default")
    concurrency: Literal["forbid", "allow", "replace"] = "forbid"
    retries: int = Field(default=0, ge=0, le=10)
    timeout: Duration | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None and (problem := cron_problem(value)):
            raise FieldProblem(
                f"schedule {value!r}: {problem}", allowed="e.g. '0 2 * * *' or @daily"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and (problem := timezone_problem(value)):
            raise FieldProblem(problem)
        return value

    @model_validator(mode="after")
    def _checks(self) -> JobSpec:
        names = [p.name for p in self.params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise FieldProblem(f"param {dupes[0]!r} is declared twice")
        for word in [*self.command, *(self.args or [])]:
            for ref in _PARAM_REF.findall(word):
                if ref not in names:
                    raise FieldProblem(
                        f"command refers to {{{{{ref}}}}}, which is not a declared param",
                        allowed=", ".join(names) or "(no params declared)",
                    )
        return self

    def resolve(self, words: list[str], values: dict[str, str]) -> list[str]:
        """Substitute ``{{param}}`` references with values (defaults where not given)."""
        merged = {p.name: p.default for p in self.params} | values

        def sub(match: re.Match[str]) -> str:
            value = merged.get(match.group(1))
            if value is None:
                raise FieldProblem(f"param {match.group(1)!r} has no value and no default")
            return value

        return [_PARAM_REF.sub(sub, w) for w in words]
