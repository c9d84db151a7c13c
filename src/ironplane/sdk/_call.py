"""One description per endpoint, sent by either client.

A ``Call[T]`` says everything about one request (method, path, query, JSON body) and how to read
its successful response as a ``T``. The functions in ``_identity`` and ``_platform`` build one per
endpoint; the resource groups expose each with one line, ``list = endpoint(users_list)``, and the
descriptor ``endpoint`` types it as returning ``T`` on a ``Client`` and an awaitable ``T`` on an
``AsyncClient``. So every endpoint is written once, for both clients.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload
from urllib.parse import quote

from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from ironplane.core.errors import InvalidError

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)

Params = Mapping[str, str | int | bool | None]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request to the API and the type its successful response holds."""

    method: str
    path: str
    """Relative to ``/api/v1``, starting with ``/``; every variable segment already quoted."""
    response: TypeAdapter[T] = field(repr=False)
    params: Params | None = None
    json: Any = None

    def query(self) -> dict[str, str | int | bool]:
        """The query parameters that are set (None means: leave it out)."""
        return {k: v for k, v in (self.params or {}).items() if v is not None}


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(tp)
    if adapter is None:
        adapter = _ADAPTERS[tp] = TypeAdapter(tp)
    return adapter


def one(model: type[T]) -> TypeAdapter[T]:
    return _adapter(model)


def many(model: type[R]) -> TypeAdapter[list[R]]:
    return _adapter(types.GenericAlias(list, (model,)))


def path(*segments: str | int) -> str:
    """``/users/a%2Fb``: each segment URL-quoted, so a name can never reach another route."""
    out = []
    for segment in segments:
        text = str(segment)
        if text in ("", ".", ".."):
            raise InvalidError(f"invalid name {text!r} in the request path")
        out.append(quote(text, safe=""))
    return "/" + "/".join(out)


def body(model: type[Q], /, *, exclude_unset: bool = False, **fields: Any) -> Any:
    """Check a request body locally (one clear ``InvalidError``) and dump it as JSON data.

    Secret fields are sent in clear: they are the point of the request. Everywhere else (repr,
    errors) pydantic keeps them masked.
    """
    try:
        request = model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidError(describe(exc, f"invalid {model.__name__}")) from None
    return to_jsonable_python(_reveal(request.model_dump(exclude_unset=exclude_unset)))


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


def describe(exc: ValidationError, title: str) -> str:
    lines = [f"{title}:"]
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "(body)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


class Sync:
    """Marks a client, or a group, whose calls return their results."""


class Async:
    """Marks a client, or a group, whose calls return awaitables."""


M = TypeVar("M", Sync, Async)
Send = Callable[[Call[Any]], Any]


class Bound(Generic[M]):
    """Something with a ``send`` for calls: a client, or one of its resource groups."""

    def __init__(self, send: Send) -> None:
        self._send = send


class endpoint(Generic[P, T]):
    """Expose a call builder as a method that sends the call it builds.

    On a ``Bound[Sync]`` the method returns ``T``; on a ``Bound[Async]``, a coroutine of ``T``.
    """

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Bound[Sync], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: Bound[Async], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: Bound[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build, send = self._build, obj._send

        @functools.wraps(build)
        def method(*args: Any, **kwargs: Any) -> Any:
            return send(build(*args, **kwargs))

        return method
