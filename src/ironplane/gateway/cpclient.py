"""A small blocking HTTP client for the control plane: the snapshot fetch and usage posts.

Both calls are rare (every few seconds) and happen off the request path: the supervisor makes
them between its other chores, a worker from a thread. ``http.client`` keeps the gateway free
of a heavy HTTP dependency (its import contract forbids httpx); what is needed on top is a
timeout on every socket operation, a cap on the answer's size and one error type.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from ironplane.core.errors import UnavailableError
from ironplane.gateway import redact

MAX_ANSWER_BYTES = 64 << 20
"""Largest answer read: a snapshot of ~200k keys; anything beyond is refused, not buffered."""


class ControlPlaneUnreachable(UnavailableError):
    """The control plane could not be asked: refused, timed out, reset, or answered garbage."""

    code = "control_plane_unreachable"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes


def call(
    method: str,
    base_url: str,
    path: str,
    token: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> Answer:
    """One request on a fresh connection (closed after); raises ControlPlaneUnreachable.

    Its messages reach /healthz: they quote ``base_url`` without its user-info
    (``redact.url``).
    """
    url = urlsplit(base_url)
    prefix = url.path.rstrip("/")
    conn: http.client.HTTPConnection
    try:
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(
                url.hostname or "", url.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    except ValueError as exc:  # a port that is not a number; the config check refuses it first
        raise ControlPlaneUnreachable(
            f"bad control plane URL {redact.url(base_url)!r}: {exc}"
        ) from None
    sent = {"authorization": f"Bearer {token}", "user-agent": "ironplane-gateway"}
    if body is not None:
        sent["content-type"] = "application/json"
    sent.update(headers or {})
    try:
        conn.request(method, prefix + path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ControlPlaneUnreachable(
                f"the control plane's answer to {method} {path} is larger than {max_bytes} bytes"
            )
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, bytes(data)
        )
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        raise ControlPlaneUnreachable(
            f"cannot reach the control plane at {redact.url(base_url)}: {reason}"
        ) from None
    finally:
        conn.close()
