"""Browser protections for everything under ``/ui``: security headers on every answer, and no
state-changing request from another site (``Sec-Fetch-Site``), the login form included — a page
elsewhere cannot sign a browser in to someone else's account."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ironplane.server.security.guards import UI_PREFIX

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
"""Scripts only from this origin (htmx, uPlot, the UI's own files; no inline script anywhere);
inline style attributes are allowed (progress bars set a width)."""

HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
_SAFE = {"GET", "HEAD", "OPTIONS"}
_FORBIDDEN = (
    b"<!doctype html><title>403</title><p>Refused: this request came from another site.</p>"
)


class UiProtection:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(UI_PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in _SAFE:
            site = dict(scope.get("headers") or []).get(b"sec-fetch-site", b"same-origin")
            if site not in (b"same-origin", b"none"):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [(b"content-type", b"text/html; charset=utf-8"), *HEADERS],
                    }
                )
                await send({"type": "http.response.body", "body": _FORBIDDEN})
                return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
