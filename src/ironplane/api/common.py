"""Base models, the error body and the shapes every resource module shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ironplane.core.diagnostics import Diagnostic
from ironplane.core.names import dns_label_problem

API_PREFIX = "/api/v1"
MAX_ID = 2**31 - 1
"""The largest id or version number the database stores (INTEGER is 32-bit on PostgreSQL)."""


class Request(BaseModel):
    """A request body: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Response(BaseModel):
    """A response body: unknown fields are ignored, for forward compatibility."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def _name(value: str) -> str:
    problem = dns_label_problem(value, min_len=2, max_len=63)
    if problem:
        raise ValueError(f"invalid name {value[:80]!r}: {problem}")
    return value


ObjectName = Annotated[
    str,
    Field(min_length=2, max_length=63, examples=["alice", "ml-team"]),
    AfterValidator(_name),
]
"""Names of users, teams, service accounts, roles and secret groups: DNS-1123 labels."""


class DiagnosticBody(Response):
    message: str
    path: list[str | int] = []
    source: str | None = None
    line: int | None = None
    column: int | None = None
    subject: str | None = None
    given: str | None = None
    allowed: str | None = None
    hint: str | None = None

    @classmethod
    def of(cls, d: Diagnostic) -> DiagnosticBody:
        return cls(
            message=d.message,
            path=list(d.path),
            source=d.source,
            line=d.line,
            column=d.column,
            subject=d.subject,
            given=d.given,
            allowed=d.allowed,
            hint=d.hint,
        )

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(
            message=self.message,
            path=tuple(self.path),
            source=self.source,
            line=self.line,
            column=self.column,
            subject=self.subject,
            given=self.given,
            allowed=self.allowed,
            hint=self.hint,
        )


class ErrorBody(Response):
    code: str
    """Machine-readable: unauthenticated, forbidden, not_found, conflict, invalid, invalid_spec,
    payload_too_large, unavailable, internal."""
    message: str
    diagnostics: list[DiagnosticBody] = []


class ErrorResponse(Response):
    error: ErrorBody


class Deleted(Response):
    deleted: str
