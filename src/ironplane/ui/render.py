"""Rendering pages: the Jinja2 environment, the context every page gets, and what a user may do.

``page(request, access, "apps.html", apps=...)`` renders a whole page (or, for an htmx request
that asks for a fragment, the template's ``content`` block alone is the page author's choice:
use a separate ``_fragment.html`` template and ``fragment()``, the same function).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ironplane import __version__
from ironplane.api.permissions import Permission
from ironplane.server.security.guards import Access
from ironplane.server.security.principals import TENANT, Target
from ironplane.ui.session import csrf_token

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _ago(when: datetime | None) -> str:
    """``3 min ago``: short relative times for tables (the full time is in the title)."""
    if when is None:
        return "never"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - when).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _when(when: datetime | None) -> str:
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


env.filters["ago"] = _ago
env.filters["when"] = _when

# (path, label, permission needed to see the entry; None: every signed-in user)
NAV: tuple[tuple[str, str, Permission | None], ...] = (
    ("/ui/", "Overview", None),
    ("/ui/clusters", "Clusters", None),
    ("/ui/workspaces", "Workspaces", None),
    ("/ui/apps", "Apps", None),
    ("/ui/jobs", "Jobs", None),
    ("/ui/gateway", "Gateway", Permission.GATEWAY_READ),
    ("/ui/secrets", "Secrets", None),
    ("/ui/tokens", "Tokens", None),
    ("/ui/access", "Access", Permission.USERS_READ),
    ("/ui/audit", "Audit log", Permission.AUDIT_READ),
)


def can(access: Access, permission: Permission | str, target: Target = TENANT) -> bool:
    """Whether the signed-in principal holds ``permission`` on ``target`` (the same rule the API
    applies), so that pages show only the buttons that would work."""
    return access.caller.principal.allows(Permission(permission), target)


def holds_anywhere(access: Access, permission: Permission) -> bool:
    """Held on the tenant or on any cluster or workspace binding (whether a page that acts on
    some workspace is worth offering; the service checks the target itself)."""
    return any(permission in g.permissions for g in access.caller.principal.grants)


def _nav(access: Access, path: str) -> list[dict[str, Any]]:
    items = []
    for href, label, permission in NAV:
        if permission is not None and not can(access, permission):  # those pages are tenant-wide
            continue
        current = path == href or (href != "/ui/" and path.startswith(href))
        items.append({"href": href, "label": label, "current": current})
    return items


def context(request: Request, access: Access, **values: Any) -> dict[str, Any]:
    checker: Callable[..., bool] = lambda permission, target=TENANT: can(  # noqa: E731
        access, permission, target
    )
    return {
        "request": request,
        "me": access.caller.principal,
        "csrf": csrf_token(request),
        "can": checker,
        "nav": _nav(access, request.url.path),
        "version": __version__,
        "path": request.url.path,
        **values,
    }


def page(
    request: Request, access: Access, template: str, *, status: int = 200, **values: Any
) -> HTMLResponse:
    """A whole page, or a piece of one for htmx to swap in (a ``_name.html`` template with no
    layout): the same rendering either way."""
    html = env.get_template(template).render(context(request, access, **values))
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


fragment = page


def bare(template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """A page for someone not signed in (login, errors before authentication)."""
    html = env.get_template(template).render(version=__version__, **values)
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}  # the other headers: ui/headers.py, on every answer
