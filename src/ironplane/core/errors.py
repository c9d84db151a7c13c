"""The one error hierarchy of Ironplane.

Every part raises these; each edge (the CLI, later the HTTP API, the gateway, the agent) maps
them to its own transport in exactly one place::

    IronplaneError                      code "error"
    ├── InvalidError                    code "invalid"        bad input from a user
    │   ├── SpecError                   code "invalid_spec"   app specs that fail to parse or check
    │   ├── ManifestError               code "invalid_manifest" manifests failing validation
    │   └── ConfigError                 code "invalid_config" a config file failing its checks
    ├── NotFoundError                   code "not_found"
    ├── ConflictError                   code "conflict"
    ├── UnauthenticatedError            code "unauthenticated" no or bad credentials
    ├── ForbiddenError                  code "forbidden"
    ├── RateLimitedError                code "rate_limited"   too many attempts; retry later
    └── UnavailableError                code "unavailable"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ironplane.core.diagnostics import Diagnostic


class IronplaneError(Exception):
    """Root of every error Ironplane raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidError(IronplaneError):
    """The input is wrong; retrying the same input will fail the same way."""

    code = "invalid"


class _DiagnosticsError(InvalidError):
    """An invalid-input error that carries one diagnostic per problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic], summary: str | None = None) -> None:
        self.diagnostics = tuple(
            sorted(diagnostics, key=lambda d: (d.source or "", d.line or 0, d.column or 0))
        )
        text = "\n".join(d.render() for d in self.diagnostics)
        super().__init__(f"{summary}\n{text}" if summary else text)


class SpecError(_DiagnosticsError):
    """App specs that cannot be parsed, fail their field rules or their cross-document checks."""

    code = "invalid_spec"


class ManifestError(_DiagnosticsError):
    """Kubernetes manifests that fail validation against their schemas."""

    code = "invalid_manifest"


class ConfigError(_DiagnosticsError):
    """A configuration file (e.g. the gateway's) that cannot be read, parsed or checked."""

    code = "invalid_config"


class NotFoundError(IronplaneError):
    code = "not_found"


class ConflictError(IronplaneError):
    code = "conflict"


class UnauthenticatedError(IronplaneError):
    """No credentials, or credentials that are unknown, expired or revoked."""

    code = "unauthenticated"


class ForbiddenError(IronplaneError):
    code = "forbidden"


class PayloadTooLargeError(InvalidError):
    code = "payload_too_large"


class RateLimitedError(IronplaneError):
    """Too many attempts in a window; ``retry_after_s`` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnavailableError(IronplaneError):
    code = "unavailable"


class UnsupportedError(IronplaneError):
    """The runtime cannot do this (e.g. a canary promote on the local runtime); says why."""

    code = "unsupported"
