"""``Client`` and ``AsyncClient``: the Ironplane REST API over httpx, typed with ``ironplane.api``.

::

    with Client("https://ironplane.example.com", token) as client:
        for app in client.apps.list(workspace="team-a"):
            print(app.name, app.active_version)

Every method of both clients is described once, as a ``Call`` (see ``_call``), and sent by
``send``; failures raise the errors of ``ironplane.core.errors`` (see ``errors``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from ironplane import __version__
from ironplane.api.common import API_PREFIX
from ironplane.core.errors import InvalidError
from ironplane.sdk._call import Async, Call, Sync
from ironplane.sdk._groups import Api
from ironplane.sdk.errors import connection_error, error_from_response, unexpected_response

T = TypeVar("T")


def server_url(base_url: str) -> str:
    """``https://host[:port][/prefix]`` without a trailing slash or the ``/api/v1`` suffix."""
    url = base_url.strip().rstrip("/").removesuffix(API_PREFIX).rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise InvalidError(f"server URL {base_url!r} must start with http:// or https://")
    return url


class _Base:
    def __init__(self, base_url: str, token: str | None) -> None:
        self.url = server_url(base_url)
        self._token = token or None
        self._headers = {"User-Agent": f"ironplane-sdk/{__version__}", "Accept": "application/json"}
        if self._token:
            self._headers["Authorization"] = f"Bearer {self._token}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _request(self, call: Call[Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": call.query()}
        if call.json is not None:
            kwargs["json"] = call.json
        return kwargs

    def _failed(self, exc: Exception) -> Exception:
        return connection_error(self.url, exc, token=self._token)

    def _result(self, call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_from_response(
                response.status_code, response.content, self.url, token=self._token
            )
        try:
            return call.response.validate_json(response.content)
        except ValidationError as exc:
            what = f"{call.method} {API_PREFIX}{call.path}"
            raise unexpected_response(self.url, what, exc) from None


class Client(_Base, Api[Sync]):
    """The API, synchronously. Use it as a context manager, or ``close()`` it."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        _Base.__init__(self, base_url, token)
        Api.__init__(self, self.send)
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers=self._headers,
            timeout=timeout,
            transport=transport,
        )

    def send(self, call: Call[T]) -> T:
        """Send one call and return its parsed result, or raise its error."""
        try:
            response = self._http.request(call.method, call.path, **self._request(call))
        except httpx.HTTPError as exc:
            raise self._failed(exc) from None
        return self._result(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Base, Api[Async]):
    """The API, for asyncio. Use it with ``async with``, or ``await aclose()``."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        _Base.__init__(self, base_url, token)
        Api.__init__(self, self.send)
        self._http = httpx.AsyncClient(
            base_url=self.url + API_PREFIX,
            headers=self._headers,
            timeout=timeout,
            transport=transport,
        )

    async def send(self, call: Call[T]) -> T:
        """Send one call and return its parsed result, or raise its error."""
        try:
            response = await self._http.request(call.method, call.path, **self._request(call))
        except httpx.HTTPError as exc:
            raise self._failed(exc) from None
        return self._result(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
