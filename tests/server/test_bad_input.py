"""Bad input gets a 4xx with a clear message and the right code, never a 500.

The test clients re-raise any exception the app did not turn into a response, so a request that
would have been a 500 fails the test with the server's traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.server.conftest import Server, make_settings, start
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml, error_of, make_user

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
SQLISH = [
    "x'; DROP TABLE users;--",
    "' OR 1=1 --",
    "robert%27);",
    "admin' --",
    '"; DELETE FROM api_tokens; --',
    "1; SELECT pg_sleep(10)",
]
PASSWORD = "s3cr3t-pa55word-XYZ"


def paths_of(error: dict[str, Any]) -> list[list[str | int]]:
    return [d["path"] for d in error["diagnostics"]]


async def test_malformed_and_mistyped_json_bodies(server: Server) -> None:
    admin = server.admin

    r = await admin.post("/users", content=b'{"name":', headers=JSON)
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid"
    assert "not valid JSON" in err["message"]

    # Login is public: a broken body is still a 422, not a 401.
    r = await server.client().post("/auth/login", content=b'{"username": "a"', headers=JSON)
    assert r.status_code == 422, r.text
    assert error_of(r)["code"] == "invalid"

    r = await admin.post("/users", json=["bob"])
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid" and paths_of(err) == [["body"]]

    for body in (b"null", b"", b'"bob"', b"5"):
        r = await admin.post("/users", content=body, headers=JSON)
        assert r.status_code == 422, (body, r.text)
        assert error_of(r)["code"] == "invalid"

    r = await admin.post("/users", json={"name": 5})
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid" and paths_of(err) == [["body", "name"]]
    assert "body.name" in err["message"] and "string" in err["message"]

    r = await admin.post("/users", json={"name": "bob", "nmae": 1})
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid"
    assert "unknown field 'nmae'" in err["message"]
    assert paths_of(err) == [["body", "nmae"]]
    assert err["diagnostics"][0]["message"] == "unknown field 'nmae'"

    r = await admin.post("/users", json={"email": "bob@example.com"})
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] == "invalid" and paths_of(err) == [["body", "name"]]
    assert "Field required" in err["message"]

    # Several problems at once: each one named.
    r = await admin.post(
        "/role-bindings", json={"role": "viewer", "subject_kind": "robot", "scope_kind": 1}
    )
    assert r.status_code == 422, r.text
    paths = paths_of(error_of(r))
    assert ["body", "subject_kind"] in paths and ["body", "subject"] in paths
    assert ["body", "scope_kind"] in paths

    r = await admin.post("/tokens", json={"name": "t", "expires_in_days": "soon"})
    assert r.status_code == 422, r.text
    assert paths_of(error_of(r)) == [["body", "expires_in_days"]]

    # Query and path parameters of the wrong type or range.
    for url, where in (
        ("/audit?limit=abc", ["query", "limit"]),
        ("/audit?limit=0", ["query", "limit"]),
        ("/audit?before=-1", ["query", "before"]),
        ("/tokens?all=maybe", ["query", "all"]),
    ):
        r = await admin.get(url)
        assert r.status_code == 422, (url, r.text)
        err = error_of(r)
        assert err["code"] == "invalid" and paths_of(err) == [where], (url, err)
    r = await admin.delete("/role-bindings/abc")
    assert r.status_code == 422, r.text
    assert paths_of(error_of(r)) == [["path", "binding_id"]]

    # None of it created anything.
    r = await admin.get("/users")
    assert [u["name"] for u in r.json()] == ["admin"]
    r = await admin.get("/role-bindings")
    assert len(r.json()) == 1


async def test_numbers_beyond_the_database_range_are_refused(server: Server) -> None:
    """IDs and version numbers larger than a 32-bit INTEGER must not reach the database."""
    admin = server.admin
    await apply_yaml(
        admin,
        CLUSTER,
        WORKSPACE,
        "kind: Service\nname: web\nworkspace: prod\nimage: nginx:1.27\nports: [{port: 80}]",
    )
    huge = [2**31, 10**20, -(2**40)]
    for n in huge:
        for method, url in (
            ("DELETE", f"/role-bindings/{n}"),
            ("GET", f"/workspaces/prod/apps/web/versions/{n}"),
            ("GET", f"/audit?before={n}"),
        ):
            r = await admin.request(method, url)
            assert r.status_code == 422, (url, r.text)
            assert error_of(r)["code"] == "invalid"
        r = await admin.post("/workspaces/prod/apps/web/rollback", json={"to": n})
        assert r.status_code == 422, (n, r.text)
        assert paths_of(error_of(r)) == [["body", "to"]]
    # In range but absent: a plain 404.
    r = await admin.delete(f"/role-bindings/{2**31 - 1}")
    assert r.status_code == 404, r.text
    r = await admin.get("/workspaces/prod/apps/web/versions/99")
    assert r.status_code == 404, r.text
    assert error_of(r)["code"] == "not_found"


async def test_apply_reports_spec_problems_with_their_location(server: Server) -> None:
    admin = server.admin

    bad_yaml = "kind: Cluster\nname: oke-prod\nprovider: [oci\n"
    r = await apply_yaml(admin, bad_yaml, source="bad.yaml", expect=400)
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    [diag] = err["diagnostics"]
    assert diag["source"] == "bad.yaml"
    assert isinstance(diag["line"], int) and diag["line"] >= 3
    assert "YAML syntax error" in diag["message"]
    assert "bad.yaml" in err["message"]

    typo = "kind: Cluster\nname: oke-prod\nprovider: oci\nregoin: us-ashburn-1\n"
    r = await apply_yaml(admin, typo, source="c.yaml", expect=400)
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    [diag] = err["diagnostics"]
    assert diag["path"] == ["regoin"]
    assert diag["source"] == "c.yaml" and diag["line"] == 4
    assert "unknown field" in diag["message"]
    assert diag["hint"] and "region" in diag["hint"]

    r = await apply_yaml(admin, "kind: Clustr\nname: oke-prod\n", source="k.yaml", expect=400)
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    [diag] = err["diagnostics"]
    assert diag["path"] == ["kind"] and diag["message"] == "unknown kind"
    assert diag["source"] == "k.yaml" and diag["line"] == 1
    assert diag["hint"] == "did you mean 'Cluster'?"
    assert "Workspace" in (diag["allowed"] or "")

    # A control character: refused by the YAML reader before any parsing.
    control = "kind: Cluster\nname: oke-prod\nprovider: oci\x12\n"
    r = await apply_yaml(admin, control, source="ctl.yaml", expect=400)
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    [diag] = err["diagnostics"]
    assert (diag["source"], diag["line"], diag["column"]) == ("ctl.yaml", 3, 14)
    assert "control characters are not allowed" in diag["message"]

    r = await apply_yaml(admin, "- kind: Cluster\n- name: x\n", expect=400)
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    assert "must be a mapping" in err["diagnostics"][0]["message"]

    # One good and one bad document: nothing is stored.
    r = await apply_yaml(
        admin, CLUSTER, "kind: Workspace\nname: prod\ncluster: nowhere\n", expect=400
    )
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    assert any(d["path"] == ["cluster"] for d in err["diagnostics"])

    # Body-level problems of the apply request itself.
    r = await admin.post("/apply", json={"documents": []})
    assert r.status_code == 422 and error_of(r)["code"] == "invalid"
    r = await admin.post("/apply", json={"documents": [{"source": "a.yaml", "content": 5}]})
    assert r.status_code == 422, r.text
    assert paths_of(error_of(r)) == [["body", "documents", 0, "content"]]

    r = await admin.get("/clusters")
    assert r.status_code == 200 and r.json() == []


@pytest.fixture
async def small_server(tmp_path: Path) -> AsyncIterator[Server]:
    settings = make_settings(tmp_path, None, max_body_bytes=2048)
    async for s in start(settings, "sqlite"):
        yield s


async def _chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    """A JSON body streamed in chunks (no Content-Length: httpx sends it chunked)."""
    yield b'{"name": "bob", "email": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def test_oversized_bodies_get_413(small_server: Server) -> None:
    admin = small_server.admin

    r = await admin.post("/users", json={"name": "bob", "email": "x" * 3000})
    assert r.status_code == 413, r.text
    err = error_of(r)
    assert err["code"] == "payload_too_large"
    assert "2048" in err["message"]

    # Streamed without a Content-Length: counted as it arrives.
    r = await admin.post("/users", content=_chunks(4096), headers=JSON)
    assert "content-length" not in r.request.headers
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413, r.text
    assert error_of(r)["code"] == "payload_too_large"

    big_yaml = CLUSTER + "#" + "x" * 4000 + "\n"
    r = await admin.post("/apply", json={"documents": [{"source": "a.yaml", "content": big_yaml}]})
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"

    # Before authentication too: a stranger cannot make the server read a huge body.
    r = await small_server.client().post(
        "/auth/login", json={"username": "admin", "password": "p" * 4000}
    )
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"

    # Under the limit, streamed or not, requests go through.
    r = await admin.post("/users", content=_chunks(200, size=50), headers=JSON)
    assert r.status_code == 201, r.text
    r = await admin.post("/users", json={"name": "carol", "email": "c" * 200})
    assert r.status_code == 201, r.text
    r = await admin.get("/users")
    assert [u["name"] for u in r.json()] == ["admin", "bob", "carol"]


async def test_sql_looking_names_are_refused_or_not_found(server: Server) -> None:
    admin = server.admin
    await apply_yaml(admin, CLUSTER, WORKSPACE)
    for evil in SQLISH:
        for url, body in (
            ("/users", {"name": evil}),
            ("/teams", {"name": evil}),
            ("/service-accounts", {"name": evil}),
            ("/roles", {"name": evil, "permissions": ["users.read"]}),
            ("/workspaces", {"kind": "Workspace", "name": evil, "cluster": "oke-prod"}),
            ("/clusters", {"kind": "Cluster", "name": evil}),
            ("/role-bindings", {"role": "viewer", "subject_kind": "user", "subject": evil}),
            ("/tokens", {"name": "t", "service_account": evil}),
        ):
            r = await admin.post(url, json=body)
            assert r.status_code == 422, (url, evil, r.text)
            assert error_of(r)["code"] == "invalid"

        app = (
            f"kind: Service\nname: {evil!r}\nworkspace: prod\nimage: nginx:1\nports: [{{port: 80}}]"
        )
        r = await apply_yaml(admin, app, expect=400)
        assert error_of(r)["code"] == "invalid_spec"

        r = await server.client().post("/auth/login", json={"username": evil, "password": evil})
        assert r.status_code == 401, r.text
        assert error_of(r)["code"] == "unauthenticated"

        # Quoted, the server sees the string itself; raw, "%27" arrives decoded as a quote.
        for name in {quote(evil, safe=""), evil} if "%" in evil else {quote(evil, safe="")}:
            for method, url in (
                ("GET", f"/users/{name}"),
                ("DELETE", f"/users/{name}"),
                ("PATCH", f"/users/{name}"),
                ("GET", f"/teams/{name}"),
                ("PUT", f"/teams/{name}/members/admin"),
                ("DELETE", f"/service-accounts/{name}"),
                ("DELETE", f"/roles/{name}"),
                ("DELETE", f"/tokens/{name}"),
                ("GET", f"/clusters/{name}"),
                ("GET", f"/clusters/{name}/desired"),
                ("GET", f"/workspaces/{name}"),
                ("GET", f"/workspaces/{name}/apps/web"),
                ("GET", f"/workspaces/prod/apps/{name}"),
                ("GET", f"/workspaces/prod/apps/{name}/versions"),
                ("GET", f"/workspaces/prod/secrets/{name}"),
                ("DELETE", f"/workspaces/prod/secrets/{name}"),
            ):
                kwargs: dict[str, Any] = {"json": {}} if method in ("PATCH", "PUT") else {}
                r = await admin.request(method, url, **kwargs)
                assert r.status_code in (404, 422), (method, url, r.text)
                assert error_of(r)["code"] in ("not_found", "invalid"), (method, url)
        r = await admin.get("/apps", params={"workspace": evil[:63]})
        assert r.status_code == 200 and r.json() == [], r.text

    # The tables are intact and the admin still works.
    r = await admin.get("/users")
    assert r.status_code == 200, r.text
    assert [u["name"] for u in r.json()] == ["admin"]
    r = await admin.get("/tokens", params={"all": "true"})
    assert r.status_code == 200 and len(r.json()) >= 1
    r = await admin.get("/workspaces/prod/apps")
    assert r.status_code == 200 and r.json() == []


async def test_text_the_database_cannot_hold_is_a_4xx(server: Server) -> None:
    """NUL characters (PostgreSQL refuses them) and lone surrogates (not encodable as UTF-8)."""
    admin = server.admin
    await apply_yaml(admin, CLUSTER, WORKSPACE)
    for method, url in (
        ("GET", "/users/a%00b"),
        ("GET", "/teams/a%00b"),
        ("DELETE", "/tokens/a%00b"),
        ("DELETE", "/roles/a%00b"),
        ("GET", "/workspaces/a%00b/apps/web"),
        ("GET", "/workspaces/prod/apps/a%00b"),
        ("GET", "/apps?workspace=a%00b"),
    ):
        r = await admin.request(method, url)
        # SQLite holds a NUL like any character; PostgreSQL cannot, and the answer is a 400.
        if server.backend == "postgres":
            assert r.status_code == 400, (url, r.text)
            assert error_of(r)["code"] == "invalid" and "NUL" in error_of(r)["message"]
        else:
            assert r.status_code == (200 if url.startswith("/apps") else 404), (url, r.text)

    for url, body in (
        ("/tokens", b'{"name": "a\\u0000b"}'),
        ("/users", b'{"name": "nul-email", "email": "a\\u0000b"}'),
        ("/auth/login", b'{"username": "a\\u0000b", "password": "whatever1"}'),
        (
            "/clusters",
            b'{"kind": "Cluster", "name": "nul", "storage_classes": {"fss": "a\\u0000"}}',
        ),
    ):
        r = await admin.post(url, content=body, headers=JSON)
        if server.backend == "postgres":
            assert r.status_code == 400 and "NUL" in error_of(r)["message"], (url, r.text)
        else:
            assert r.status_code == (401 if url == "/auth/login" else 201), (url, r.text)

    # A lone surrogate escape is valid JSON but no text: refused before anything stores it.
    lone = [
        ("POST", "/users", b'{"name": "sur", "password": "abcdefgh\\ud800"}'),
        ("POST", "/auth/login", b'{"username": "admin", "password": "x\\udfff"}'),
        ("PATCH", "/users/admin", b'{"email": "\\udc00@x.io"}'),
        (
            "POST",
            "/apply",
            b'{"documents": [{"source": "a", "content": "kind: Cluster\\nname: c\\ud800"}]}',
        ),
        ("PUT", "/workspaces/prod/secrets/db", b'{"values": {"password": "a\\ud800b"}}'),
        ("PUT", "/workspaces/prod/secrets/db", b'{"values": {"k\\ud800": "v"}}'),
        (
            "POST",
            "/clusters",
            b'{"kind": "Cluster", "name": "gpu", '
            b'"gpu_types": {"h100": {"node_selector": {"pool": "\\ud83d"}}}}',
        ),
        ("POST", "/service-accounts", b'{"name": "sa", "description": "\\uDBFF\\u0041"}'),
    ]
    for method, url, body in lone:
        r = await admin.request(method, url, content=body, headers=JSON)
        assert r.status_code == 400, (url, body, r.text)
        err = error_of(r)
        assert err["code"] == "invalid" and "not valid Unicode" in err["message"], r.text
    # Nothing of it was stored, so every list still reads.
    for url in ("/clusters", "/workspaces/prod/secrets", "/service-accounts", "/users", "/audit"):
        r = await admin.get(url)
        assert r.status_code == 200, (url, r.text)
    clusters = {c["name"] for c in (await admin.get("/clusters")).json()}
    assert clusters - {"nul"} == {"oke-prod"}  # SQLite stores a NUL, PostgreSQL refuses it
    assert (await admin.get("/workspaces/prod/secrets")).json() == []
    # A surrogate pair is one character: fine.
    r = await admin.post(
        "/service-accounts",
        content=b'{"name": "sa", "description": "\\ud83d\\ude80"}',
        headers=JSON,
    )
    assert r.status_code == 201 and r.json()["description"] == "\U0001f680", r.text


async def test_a_denied_request_with_a_long_path_is_a_403(server: Server) -> None:
    """The audit event of a denial records the path; a long one must not break the insert."""
    token = await make_user(server, "vic", role="viewer")
    viewer = server.client(token)
    for url in ("/teams/" + "x" * 300, "/users/" + "y" * 300):
        r = await viewer.delete(url)
        assert r.status_code == 403, r.text
        assert error_of(r)["code"] == "forbidden"
    events = (await server.admin.get("/audit")).json()
    denied = [e for e in events if e["outcome"] == "denied" and e["actor"] == "user:vic"]
    assert len(denied) == 2
    assert all(e["action"].startswith("DELETE /api/v1/") for e in denied)


async def test_validation_errors_never_echo_the_password(server: Server) -> None:
    admin = server.admin
    await apply_yaml(admin, CLUSTER, WORKSPACE)
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/users", {"name": "Not A Name!", "password": PASSWORD}),
        ("POST", "/users", {"name": "bob", "password": PASSWORD, "pasword": PASSWORD}),
        ("POST", "/users", {"name": "bob", "password": PASSWORD * 60}),
        ("POST", "/users", {"name": "bob", "password": [PASSWORD]}),
        ("POST", "/users", {"name": 5, "email": 6, "password": PASSWORD}),
        ("PATCH", "/users/admin", {"password": PASSWORD, "active": "perhaps"}),
        ("POST", "/auth/login", {"username": "admin", "password": PASSWORD, "otp": 1}),
        ("POST", "/auth/login", {"username": ["admin"], "password": PASSWORD}),
        ("PUT", "/workspaces/prod/secrets/db", {"values": {"bad key!": PASSWORD}}),
        ("PUT", "/workspaces/prod/secrets/db", {"values": {"k": PASSWORD}, "x": PASSWORD}),
        ("PUT", "/workspaces/prod/secrets/db", {"values": {"k": [PASSWORD]}}),
        ("PUT", "/workspaces/prod/secrets/Bad_Group", {"values": {"k": PASSWORD}}),
    ]
    for method, url, body in bodies:
        r = await admin.request(method, url, json=body)
        assert 400 <= r.status_code < 500, (url, body, r.text)
        assert error_of(r)["code"] == "invalid", r.text
        assert PASSWORD not in r.text, (url, r.text)
        assert "pa55word" not in r.text, (url, r.text)
    r = await admin.get("/users")
    assert [u["name"] for u in r.json()] == ["admin"]
