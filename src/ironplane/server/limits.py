"""A pure-ASGI guard that refuses request bodies larger than the configured limit (413), and a
dependency that refuses JSON bodies holding text that is not valid Unicode (400)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ironplane.core.errors import InvalidError, PayloadTooLargeError

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _message(limit: int) -> str:
    return (
        f"the request body is larger than the limit of {limit} bytes "
        "(setting IRONPLANE_MAX_BODY_BYTES); split the input into smaller requests"
    )


class BodyTooLarge(PayloadTooLargeError):
    """Raised while the body streams in; the app's error handler answers 413."""


def _body(limit: int) -> bytes:
    error = {"code": "payload_too_large", "message": _message(limit), "diagnostics": []}
    return json.dumps({"error": error}).encode()


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        seen = 0
        started = False
        exceeded = False
        replaced = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise BodyTooLarge(_message(self.limit))
            return message

        async def tracked(message: Message) -> None:
            nonlocal started, replaced
            if exceeded and not started:
                # The app may catch the error and answer something else (FastAPI answers 400
                # "error parsing the body"): the answer is a 413 all the same.
                started = replaced = True
                await self._refuse(send)
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = _body(self.limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _unencodable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unencodable(k) or _unencodable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unencodable(v) for v in value)
    return False


async def valid_text(request: HTTPConnection) -> None:
    """Refuse a JSON body with a lone surrogate escape (``"\\ud800"``): valid JSON, but no text
    that UTF-8 can carry, so it would fail later, in the database, the YAML reader or a response
    (and, once stored, fail every read of it)."""
    if not isinstance(request, Request):
        return  # a WebSocket: its frames are checked by their own decoders
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        return  # the UI's forms: read by the form parser (which does not keep the raw body)
    body = await request.body()
    if not _SURROGATE_ESCAPE.search(body):
        return
    try:
        data = await request.json()
    except ValueError:
        return  # not JSON: the route's own validation answers
    if _unencodable(data):
        raise InvalidError(
            "the request body holds text that is not valid Unicode "
            "(a lone surrogate escape such as \\ud800)"
        )
