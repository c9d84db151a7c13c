"""The UI's login session and its CSRF token.

Signing in (a user name and password, or a user's API token) mints a login session, exactly like
``POST /api/v1/auth/login``, and hands it to the browser as an HttpOnly, SameSite=Strict cookie
limited to ``/ui``. Every request that changes something must also carry the session's CSRF
token (a form field ``csrf`` or the ``X-CSRF-Token`` header that the base template gives htmx):
an HMAC of the cookie, which a page of another origin can neither read nor compute.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from fastapi import Request

from ironplane.core.errors import ForbiddenError, UnauthenticatedError
from ironplane.server.security.guards import SESSION_COOKIE, UI_PREFIX

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    session = request.cookies.get(SESSION_COOKIE, "")
    if not session:
        return ""
    return hmac.new(session.encode(), b"ironplane-ui-csrf", hashlib.sha256).hexdigest()[:40]


async def check_csrf(request: Request) -> None:
    """A dependency for every UI route that changes state."""
    if not request.cookies.get(SESSION_COOKIE):
        # Not signed in: to the login page, like any page (and nothing to audit as a denial).
        raise UnauthenticatedError("sign in first")
    expected = csrf_token(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise ForbiddenError(
            "the form's security token is missing or stale: reload the page and try again"
        )


def cookie_args(request: Request, ttl: timedelta) -> dict[str, object]:
    return {
        "key": SESSION_COOKIE,
        "max_age": int(ttl.total_seconds()),
        "path": UI_PREFIX,
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
    }
