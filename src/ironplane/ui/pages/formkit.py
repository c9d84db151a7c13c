"""What the pages' forms share: the redirect after a change, errors shown on the page, request
bodies validated with the API's own models.

A form posts plainly (no script needed) and, on success, is answered ``303 See Other`` back to
its page with ``?done=<code>`` (a fixed notice of that page, never text from the request). An
error of the service the page can explain (bad input, a conflict, an agent that is away) is
shown on the page itself with the error's status; a ``ForbiddenError`` is re-raised, so that it
is audited and answered 403 exactly as the JSON API does.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

from ironplane.core.errors import ForbiddenError, InvalidError, IronplaneError
from ironplane.server.errors import status_of

M = TypeVar("M", bound=BaseModel)


def see_other(path: str, **query: str) -> RedirectResponse:
    """Back to ``path`` (a /ui path), with a notice code or other query parameters."""
    target = path + ("?" + urlencode(query) if query else "")
    return RedirectResponse(target, status_code=303)


def shown(exc: IronplaneError) -> tuple[int, str]:
    """(status, message) to show on the page; a denial is raised again (audited, 403 page)."""
    if isinstance(exc, ForbiddenError):
        raise exc
    return status_of(exc), exc.message


def body(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as the API's request model; its problems as one ``InvalidError`` naming each
    field (never the value given, which may be a password or a secret)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ())) or "form"
            problems.append(f"{where}: {err.get('msg', 'invalid value')}")
        raise InvalidError("; ".join(problems)) from None


def text(form: Any, name: str, limit: int = 4096) -> str:
    """A form field as text (empty if absent or a file), trimmed, at most ``limit`` long."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""
