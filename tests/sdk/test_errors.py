"""Failures become the errors of ``ironplane.core.errors``, named by the server's error code."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import httpx
import pytest

from ironplane.core.errors import IronplaneError
from ironplane.sdk import (
    AsyncClient,
    Client,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    PayloadTooLargeError,
    SpecError,
    UnauthenticatedError,
    UnavailableError,
    http_status,
)
from tests.ports import free_port
from tests.sdk import samples as s

URL = "https://ironplane.test"
TOKEN = "ipt_very_secret_token"


def client_answering(status: int, content: bytes | Any, **headers: str) -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(content, bytes):
            return httpx.Response(status, content=content, headers=headers)
        return httpx.Response(status, json=content)

    return Client(URL, TOKEN, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid", InvalidError),
        (422, "invalid", InvalidError),
        (413, "payload_too_large", PayloadTooLargeError),
        (401, "unauthenticated", UnauthenticatedError),
        (403, "forbidden", ForbiddenError),
        (404, "not_found", NotFoundError),
        (409, "conflict", ConflictError),
        (503, "unavailable", UnavailableError),
        (500, "internal", UnavailableError),
        (418, "brand_new_code", UnavailableError),
    ],
)
def test_error_codes_map_to_classes(status: int, code: str, cls: type[IronplaneError]) -> None:
    with (
        client_answering(status, s.error(code, "the server says no")) as client,
        pytest.raises(cls) as info,
    ):
        client.users.get("alice")
    assert type(info.value) is cls
    assert "the server says no" in info.value.message
    assert http_status(info.value) == status
    if cls is UnavailableError:
        assert URL in info.value.message and code in info.value.message


def test_payload_too_large_is_invalid_input() -> None:
    """The CLI exits 2 for InvalidError: a too-large apply is the user's input."""
    assert issubclass(PayloadTooLargeError, InvalidError)


def test_invalid_spec_carries_located_diagnostics() -> None:
    diagnostics = [
        {
            "message": "unknown field",
            "path": ["ports", 0, "expose"],
            "source": "apps/b.yaml",
            "line": 7,
            "column": 5,
            "hint": "did you mean 'exposed'?",
        },
        {"message": "must be positive", "path": ["replicas"], "source": "apps/a.yaml", "line": 2},
    ]
    body = s.error("invalid_spec", "2 problems in the specs:", diagnostics)
    with client_answering(422, body) as client, pytest.raises(SpecError) as info:
        client.apply([("apps/a.yaml", "x"), ("apps/b.yaml", "y")])
    err = info.value
    assert [(d.source, d.line, d.path) for d in err.diagnostics] == [
        ("apps/a.yaml", 2, ("replicas",)),
        ("apps/b.yaml", 7, ("ports", 0, "expose")),
    ]
    lines = err.message.splitlines()
    assert lines[0] == "2 problems in the specs:"
    assert lines[1] == "apps/a.yaml:2: replicas: must be positive"
    assert "apps/b.yaml:7:5: ports[0].expose: unknown field" in err.message
    assert "hint:    did you mean 'exposed'?" in err.message


def test_invalid_spec_message_that_already_renders_its_diagnostics_is_not_doubled() -> None:
    diagnostic = {"message": "bad", "path": ["x"], "source": "a.yaml", "line": 1, "column": 2}
    body = s.error("invalid_spec", "1 problem in the specs:\na.yaml:1:2: x: bad", [diagnostic])
    with client_answering(422, body) as client, pytest.raises(SpecError) as info:
        client.apply([("a.yaml", "x: 1")])
    assert info.value.message == "1 problem in the specs:\na.yaml:1:2: x: bad"


def test_plain_invalid_keeps_its_diagnostics_in_the_message() -> None:
    body = s.error("invalid", "bad request body", [{"message": "field required", "path": ["to"]}])
    with client_answering(422, body) as client, pytest.raises(InvalidError) as info:
        client.apps.rollback("ws", "app", to=1)
    assert type(info.value) is InvalidError
    assert info.value.message.splitlines() == ["bad request body", "<input>: to: field required"]


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (404, b'{"detail": "Not Found"}'),
        (500, b""),
    ],
)
def test_answers_that_are_not_ironplane_errors_are_unavailable(status: int, content: bytes) -> None:
    with client_answering(status, content) as client, pytest.raises(UnavailableError) as info:
        client.clusters.list()
    message = info.value.message
    assert f"the server at {URL} answered HTTP {status}" in message
    assert http_status(info.value) == status
    if content:
        assert content.decode()[:10] in message


def test_long_error_pages_are_cut_short() -> None:
    with client_answering(502, b"x" * 5000) as client, pytest.raises(UnavailableError) as info:
        client.clusters.list()
    assert len(info.value.message) < 400


def test_the_token_never_appears_in_error_messages() -> None:
    echo = f"Bearer {TOKEN} rejected"
    for status, content in [(502, echo.encode()), (401, s.error("unauthenticated", echo))]:
        with client_answering(status, content) as client, pytest.raises(IronplaneError) as info:
            client.auth.whoami()
        assert TOKEN not in info.value.message
        assert "***" in info.value.message


def test_a_success_answer_of_the_wrong_shape_is_unavailable() -> None:
    with (
        client_answering(200, {"name": "alice"}) as client,
        pytest.raises(UnavailableError) as info,
    ):
        client.users.get("alice")
    assert "GET /api/v1/users/alice" in info.value.message
    assert "created_at" in info.value.message
    with client_answering(200, b"not json") as client, pytest.raises(UnavailableError):
        client.users.get("alice")


def test_connection_refused_is_unavailable_naming_the_server_not_the_token() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, TOKEN, timeout=5) as client, pytest.raises(UnavailableError) as info:
        client.health()
    assert info.value.message.startswith(f"cannot reach the Ironplane server at {url}: ")
    assert TOKEN not in info.value.message
    assert http_status(info.value) is None
    assert info.value.__cause__ is None  # raised "from None": no httpx traceback for users


def test_connection_refused_async() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    async def go() -> None:
        async with AsyncClient(url, TOKEN, timeout=5) as client:
            await client.auth.whoami()

    with pytest.raises(UnavailableError) as info:
        asyncio.run(go())
    assert url in info.value.message and TOKEN not in info.value.message


def test_timeouts_are_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = Client(URL, TOKEN, transport=httpx.MockTransport(handler))
    with client, pytest.raises(UnavailableError, match="cannot reach the Ironplane server at"):
        client.users.list()


def test_async_client_maps_errors_the_same_way() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json=s.error("conflict", "team ml exists"))

    async def go() -> None:
        async with AsyncClient(URL, TOKEN, transport=httpx.MockTransport(handler)) as client:
            await client.teams.create("ml")

    with pytest.raises(ConflictError, match="team ml exists") as info:
        asyncio.run(go())
    assert http_status(info.value) == 409


# -- requests checked before they are sent


def _refusing() -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request should be sent: {request.url}")

    return Client(URL, TOKEN, transport=httpx.MockTransport(handler))


def test_bad_request_bodies_fail_locally_as_invalid_not_pydantic_errors() -> None:
    with _refusing() as client:
        with pytest.raises(InvalidError) as info:
            client.users.create("Not_A_Name", password="short")
        assert info.value.message.splitlines()[0] == "invalid UserCreate:"
        assert "name:" in info.value.message and "password:" in info.value.message
        assert "short" not in info.value.message  # inputs are not echoed: it may be a password
        with pytest.raises(InvalidError, match="documents"):
            client.apply([])
        with pytest.raises(InvalidError, match="to:"):
            client.apps.rollback("ws", "app", to=0)


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_path_segments_that_would_change_the_route_are_refused(name: str) -> None:
    with _refusing() as client, pytest.raises(InvalidError, match="invalid name"):
        client.users.get(name)


def test_path_segments_are_quoted() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=s.APP_DETAIL)

    with Client(URL, TOKEN, transport=httpx.MockTransport(handler)) as client:
        client.apps.get("team a", "x/../../users?all=1#frag")
    assert (
        seen[0].url.raw_path
        == b"/api/v1/workspaces/team%20a/apps/x%2F..%2F..%2Fusers%3Fall%3D1%23frag"
    )


# -- the client itself


@pytest.mark.parametrize("base", [URL, URL + "/", URL + "/api/v1", URL + "/api/v1/", f"  {URL}  "])
def test_base_url_forms(base: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok"})

    with Client(base, None, transport=httpx.MockTransport(handler)) as client:
        assert client.url == URL
        assert client.health() == {"status": "ok"}
    assert str(seen[0].url) == URL + "/api/v1/health"
    assert "authorization" not in seen[0].headers


def test_base_url_under_a_prefix() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    with Client(URL + "/ironplane/", TOKEN, transport=httpx.MockTransport(handler)) as client:
        client.users.list()
    assert seen[0].url.path == "/ironplane/api/v1/users"


@pytest.mark.parametrize("base", ["ironplane.test", "ftp://x", "https://", ""])
def test_bad_base_urls(base: str) -> None:
    with pytest.raises(InvalidError, match="must start with http:// or https://"):
        Client(base, TOKEN)


def test_repr_hides_the_token() -> None:
    client = Client(URL, TOKEN)
    assert repr(client) == f"Client({URL!r})"
    client.close()


def test_request_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=s.WHOAMI)

    with Client(URL, TOKEN, transport=httpx.MockTransport(handler)) as client:
        client.auth.whoami()
    assert seen[0].headers["user-agent"].startswith("ironplane-sdk/")
    assert seen[0].headers["accept"] == "application/json"


def test_closed_client_cannot_send() -> None:
    client = client_answering(200, [])
    with client:
        pass
    with pytest.raises(RuntimeError):
        client.users.list()


def test_sdk_imports_no_server_compiler_or_cli() -> None:
    code = (
        "import sys, ironplane.sdk\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'sqlalchemy')"
        " or m.startswith(('ironplane.server', 'ironplane.compiler', 'ironplane.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
