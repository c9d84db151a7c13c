"""The Python SDK of the Ironplane control plane.

``Client`` (sync) and ``AsyncClient`` (asyncio) offer the REST API as resource groups named like
its routes (``client.users.list()``, ``client.apps.rollback(ws, app, to=3)``, ``client.apply``)
returning the pydantic models of ``ironplane.api``. Failures raise the ``ironplane.core.errors``
classes re-exported here.
"""

from ironplane.sdk._call import Call
from ironplane.sdk.client import AsyncClient, Client
from ironplane.sdk.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    IronplaneError,
    ManifestError,
    NotFoundError,
    PayloadTooLargeError,
    SpecError,
    UnauthenticatedError,
    UnavailableError,
    http_status,
)

__all__ = [
    "AsyncClient",
    "Call",
    "Client",
    "ConflictError",
    "ForbiddenError",
    "InvalidError",
    "IronplaneError",
    "ManifestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "SpecError",
    "UnauthenticatedError",
    "UnavailableError",
    "http_status",
]
