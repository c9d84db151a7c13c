"""Secret groups: sealed at rest, shown only to secrets.read and to the cluster's own agent, and
never written to logs, error bodies, the audit log or the console."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import stat
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text

from ironplane.api.common import API_PREFIX
from ironplane.core.errors import UnavailableError
from ironplane.server.app import create_app
from ironplane.server.settings import ServerSettings
from tests.server.conftest import Server
from tests.server.helpers import (
    CLUSTER,
    WORKSPACE,
    apply_yaml,
    bind,
    error_of,
    make_user,
)

pytestmark = pytest.mark.anyio

DB_PASSWORD = "pg-Secret-Value-0451"
API_KEY = "sk-live-51Hc9QqLm7ZpXv3"
VALUES = {"username": "app", "password": DB_PASSWORD, "api-key": API_KEY}
OTHER_CLUSTER = "kind: Cluster\nname: oke-dev\nprovider: oci\n"
OTHER_WORKSPACE = "kind: Workspace\nname: dev\ncluster: oke-dev\n"
LIBRARY_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg", "httpx", "httpcore", "ironplane")


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def secret_objects(desired: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["data"]
        for o in desired["objects"]
        if o["kind"] == "Secret"
    }


async def setup(server: Server) -> str:
    """Cluster oke-prod with workspace prod; returns the cluster's agent token."""
    r = await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    agent: str = r.json()["changes"][0]["agent_token"]["secret"]
    return agent


async def test_secret_groups_are_sealed_and_shown_only_to_readers(server: Server) -> None:
    admin = server.admin
    agent_token = await setup(server)
    revision = (await admin.get("/clusters/oke-prod")).json()["revision"]

    r = await admin.put("/workspaces/prod/secrets/db", json={"values": VALUES})
    assert r.status_code == 200, r.text
    assert r.json()["keys"] == ["api-key", "password", "username"]
    assert DB_PASSWORD not in r.text and API_KEY not in r.text
    assert (await admin.get("/clusters/oke-prod")).json()["revision"] == revision + 1

    # At rest: one Fernet token, no plaintext, not even encoded.
    async with server.app.state.services.db.session() as s:
        rows = (await s.execute(text("SELECT * FROM secret_groups"))).all()
    [row] = [dict(r._mapping) for r in rows]
    sealed = bytes(row["ciphertext"])
    for value in (DB_PASSWORD, API_KEY):
        assert value.encode() not in sealed
        assert b64(value).encode() not in sealed
        assert value not in repr(row)
    assert sealed.startswith(b"gAAAAA")  # a Fernet token
    if server.backend == "sqlite":
        for path in server.settings.data_dir.iterdir():
            if path.name.startswith("ironplane.db"):
                raw = path.read_bytes()
                assert DB_PASSWORD.encode() not in raw and API_KEY.encode() not in raw, path
    key_file = server.settings.data_dir / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    # An editor reads the values; a viewer lists keys only; a stranger sees nothing.
    editor = server.client(
        await make_user(server, "ed", role="editor", scope=("workspace", "prod"))
    )
    viewer = server.client(
        await make_user(server, "vi", role="viewer", scope=("workspace", "prod"))
    )
    stranger = server.client(await make_user(server, "st"))
    r = await editor.get("/workspaces/prod/secrets/db")
    assert r.status_code == 200, r.text
    assert r.json()["values"] == VALUES
    r = await viewer.get("/workspaces/prod/secrets")
    assert r.status_code == 200, r.text
    [listed] = r.json()
    assert listed["name"] == "db" and listed["keys"] == ["api-key", "password", "username"]
    assert "values" not in listed and DB_PASSWORD not in r.text
    for method, body in (("GET", None), ("PUT", {"values": {"k": "v"}}), ("DELETE", None)):
        r = await viewer.request(method, "/workspaces/prod/secrets/db", json=body)
        assert r.status_code == 403, (method, r.text)
        assert error_of(r)["code"] == "forbidden"
        assert DB_PASSWORD not in r.text
    for url in ("/workspaces/prod/secrets", "/workspaces/prod/secrets/db"):
        r = await stranger.get(url)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found", r.text

    # The audit log names the keys, never the values.
    events = (await admin.get("/audit", params={"limit": 1000})).json()
    [put] = [e for e in events if e["action"] == "secret_group.put"]
    assert put["target"] == "secret_group/prod/db" and put["actor"] == "user:admin"
    assert put["details"] == {"keys": ["api-key", "password", "username"]}
    assert DB_PASSWORD not in str(events) and API_KEY not in str(events)

    # The desired state: empty values for people, the real ones for the cluster's agent.
    r = await admin.get("/clusters/oke-prod/desired")
    assert r.status_code == 200, r.text
    by_admin = secret_objects(r.json())
    [(namespace, name)] = by_admin
    assert namespace == "prod" and name.endswith("db")
    assert by_admin[namespace, name] == {k: "" for k in VALUES}
    assert DB_PASSWORD not in r.text and b64(DB_PASSWORD) not in r.text
    r = await editor.get("/clusters/oke-prod/desired")
    assert r.status_code in (403, 404), r.text

    agent = server.client(agent_token)
    r = await agent.get("/clusters/oke-prod/desired")
    assert r.status_code == 200, r.text
    assert secret_objects(r.json())[namespace, name] == {k: b64(v) for k, v in VALUES.items()}
    assert r.json()["revision"] == revision + 1

    # Replacing the group replaces every value.
    r = await editor.put("/workspaces/prod/secrets/db", json={"values": {"password": "rotated"}})
    assert r.status_code == 200 and r.json()["keys"] == ["password"], r.text
    r = await agent.get("/clusters/oke-prod/desired")
    assert secret_objects(r.json())[namespace, name] == {"password": b64("rotated")}


async def test_the_agent_token_reads_only_its_own_desired_state(server: Server) -> None:
    admin = server.admin
    agent_token = await setup(server)
    await apply_yaml(admin, OTHER_CLUSTER, OTHER_WORKSPACE)
    r = await admin.put("/workspaces/dev/secrets/other", json={"values": {"token": API_KEY}})
    assert r.status_code == 200, r.text
    agent = server.client(agent_token)

    r = await agent.get("/clusters/oke-prod/desired")
    assert r.status_code == 200, r.text
    assert API_KEY not in r.text and b64(API_KEY) not in r.text
    r = await agent.get("/clusters/oke-dev/desired")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found", r.text
    r = await agent.get("/clusters/nowhere/desired")
    assert r.status_code == 404, r.text

    # Everything else: refused, whatever the operation.
    paths = server.app.openapi()["paths"]
    checked = 0
    for template, operations in paths.items():
        if template.endswith("/desired") or template in (
            f"{API_PREFIX}/health",
            f"{API_PREFIX}/auth/login",
        ):
            continue
        path = template.replace("{binding_id}", "1").replace("{number}", "1")
        path = path.replace("{cluster}", "oke-prod").replace("{workspace}", "prod")
        path = path.replace("{group}", "db").replace("{name}", "admin").replace("{user}", "admin")
        path = path.replace("{app}", "web").replace("{token_id}", "0123456789abcdef")
        path = path.replace("{job}", "nightly").replace("{run}", "nightly-1")
        assert "{" not in path, path
        for method in operations:
            body: dict[str, Any] | None = {} if method in ("post", "put", "patch") else None
            r = await agent.request(method, path.removeprefix(API_PREFIX), json=body)
            assert r.status_code in (401, 403, 404), (method, path, r.text)
            checked += 1
    assert checked >= 40
    # Nothing was changed by any of it.
    assert [u["name"] for u in (await admin.get("/users")).json()] == ["admin"]
    assert (await admin.get("/workspaces/prod")).status_code == 200

    # A token rotated with revoke_old replaces the old one at once (a plain rotation keeps the
    # old one until an agent connects with the new: test_agent_token_rotation.py).
    r = await admin.post("/clusters/oke-prod/agent-token", params={"revoke_old": "true"})
    assert r.status_code == 201, r.text
    assert (await agent.get("/clusters/oke-prod/desired")).status_code == 401
    fresh = server.client(r.json()["secret"])
    assert (await fresh.get("/clusters/oke-prod/desired")).status_code == 200


async def test_no_secret_reaches_logs_errors_audit_or_console(
    server: Server, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, restored afterwards
    # Libraries that set their own level (SQLAlchemy sets WARN) are opened up too.
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        await _leak_scenario(server, caplog, capsys)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def _leak_scenario(
    server: Server, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: list[str] = [server.admin_token, DB_PASSWORD, API_KEY]
    errors: list[str] = []

    async def keep_errors(response: httpx.Response) -> None:
        if response.status_code >= 400:
            await response.aread()
            errors.append(response.text)

    def watched(token: str | None = None) -> httpx.AsyncClient:
        client = server.client(token)
        client.event_hooks["response"].append(keep_errors)
        return client

    admin = watched(server.admin_token)
    anonymous = watched()
    r = await admin.post("/apply", json={"documents": [{"source": "c.yaml", "content": CLUSTER}]})
    assert r.status_code == 200, r.text
    secrets.append(r.json()["changes"][0]["agent_token"]["secret"])
    r = await admin.post("/apply", json={"documents": [{"source": "w.yaml", "content": WORKSPACE}]})
    assert r.status_code == 200, r.text

    alice_password, bob_password, new_password = (
        "alice-Pw-7731-q",
        "bob-Pw-9925-z",
        "alice-Pw-NEW-5512",
    )
    wrong_password = "wrong-Pw-3141-x"
    secrets += [alice_password, bob_password, new_password, wrong_password]
    for name, password in (("alice", alice_password), ("bob", bob_password)):
        r = await admin.post("/users", json={"name": name, "password": password})
        assert r.status_code == 201, r.text
    await bind(server, "editor", "alice", scope=("workspace", "prod"))
    r = await anonymous.post("/auth/login", json={"username": "alice", "password": alice_password})
    assert r.status_code == 200, r.text
    alice_session = r.json()["token"]
    secrets.append(alice_session)
    alice = watched(alice_session)
    for username in ("alice", "nobody"):
        r = await anonymous.post(
            "/auth/login", json={"username": username, "password": wrong_password}
        )
        assert r.status_code == 401
    r = await anonymous.post(
        "/auth/login", json={"username": "bob", "password": bob_password, "extra": bob_password}
    )
    assert r.status_code == 422
    r = await alice.patch(
        "/users/alice", json={"password": new_password, "current_password": wrong_password}
    )
    assert r.status_code == 403
    r = await alice.patch(
        "/users/alice", json={"password": new_password, "current_password": alice_password}
    )
    assert r.status_code == 200, r.text
    r = await alice.patch("/users/bob", json={"password": new_password})
    assert r.status_code == 403
    r = await admin.post("/users", json={"name": "Bad Name", "password": bob_password})
    assert r.status_code == 422

    r = await alice.post("/tokens", json={"name": "laptop"})
    assert r.status_code == 201, r.text
    secrets.append(r.json()["secret"])
    r = await admin.post("/service-accounts", json={"name": "ci"})
    assert r.status_code == 201, r.text
    r = await admin.post("/tokens", json={"name": "ci", "service_account": "ci"})
    assert r.status_code == 201, r.text
    secrets.append(r.json()["secret"])
    r = await admin.post("/clusters/oke-prod/agent-token")
    assert r.status_code == 201, r.text
    agent_token = r.json()["secret"]
    secrets.append(agent_token)

    r = await alice.put("/workspaces/prod/secrets/db", json={"values": VALUES})
    assert r.status_code == 200, r.text
    r = await alice.put(
        "/workspaces/prod/secrets/bad", json={"values": {"bad key!": DB_PASSWORD, "k": API_KEY}}
    )
    assert r.status_code == 400, r.text
    r = await alice.put("/workspaces/prod/secrets/db", json={"values": {"k": [API_KEY]}})
    assert r.status_code == 422, r.text
    r = await alice.patch("/workspaces/prod/secrets/db", json={"values": {"api-key": API_KEY}})
    assert r.status_code == 200, r.text
    r = await alice.patch("/workspaces/prod/secrets/db", json={"values": {"bad key!": API_KEY}})
    assert r.status_code == 400, r.text
    r = await alice.get("/workspaces/prod/secrets/db")
    assert r.status_code == 200 and r.json()["values"] == VALUES
    r = await watched(agent_token).get("/clusters/oke-prod/desired")
    assert r.status_code == 200 and b64(DB_PASSWORD) in r.text
    r = await watched(agent_token).get("/users")
    assert r.status_code == 403
    for token in secrets[-3:]:
        r = await watched(token + "tampered").get("/auth/whoami")
        assert r.status_code == 401

    events = (await admin.get("/audit", params={"limit": 1000})).json()
    assert len(events) >= 15
    audit = str(events)
    out, err = capsys.readouterr()
    logged = caplog.text + "\n".join(
        str(record.args) + record.getMessage() for record in caplog.records
    )
    assert caplog.records, "DEBUG logging captured nothing; the check would be hollow"
    assert len(errors) >= 8
    needles = set(secrets) | {s.split("_", 2)[2] for s in secrets if s.startswith("ipt_")}
    needles |= {b64(v) for v in (DB_PASSWORD, API_KEY)}
    for needle in needles:
        assert needle not in audit, needle
        assert needle not in logged, needle
        assert needle not in out + err, needle
        for body in errors:
            assert needle not in body, (needle, body)


async def test_a_changed_secret_key_answers_503_not_500(server: Server) -> None:
    admin = server.admin
    agent_token = await setup(server)
    r = await admin.put("/workspaces/prod/secrets/db", json={"values": VALUES})
    assert r.status_code == 200, r.text

    new_key = Fernet.generate_key().decode()
    settings = server.settings.model_copy(update={"secret_key": SecretStr(new_key)})
    app = create_app(settings, announce_token=False)
    async with app.router.lifespan_context(app):
        assert app.state.bootstrap_token is None

        def client(token: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver" + API_PREFIX,
                headers={"Authorization": f"Bearer {token}"},
            )

        async with client(server.admin_token) as again, client(agent_token) as agent:
            r = await again.get("/workspaces/prod/secrets/db")
            assert r.status_code == 503, r.text
            err = error_of(r)
            assert err["code"] == "unavailable"
            assert "key changed" in err["message"]
            r = await agent.get("/clusters/oke-prod/desired")
            assert r.status_code == 503 and error_of(r)["code"] == "unavailable", r.text
            # Keys are still listed, the desired state without values still served.
            r = await again.get("/workspaces/prod/secrets")
            assert r.status_code == 200 and r.json()[0]["keys"] == sorted(VALUES)
            assert (await again.get("/clusters/oke-prod/desired")).status_code == 200
            # Writing the group again under the new key repairs it.
            r = await again.put("/workspaces/prod/secrets/db", json={"values": {"k": "v2"}})
            assert r.status_code == 200, r.text
            r = await again.get("/workspaces/prod/secrets/db")
            assert r.status_code == 200 and r.json()["values"] == {"k": "v2"}
            assert (await agent.get("/clusters/oke-prod/desired")).status_code == 200
    # ...and now the first server (its key file) is the one that cannot read it.
    r = await admin.get("/workspaces/prod/secrets/db")
    assert r.status_code == 503 and error_of(r)["code"] == "unavailable", r.text


def test_an_invalid_secret_key_is_refused_at_start(tmp_path: Any) -> None:
    settings = ServerSettings(data_dir=tmp_path, secret_key=SecretStr("not-a-fernet-key"))
    with pytest.raises(UnavailableError, match="IRONPLANE_SECRET_KEY is not a valid key"):
        create_app(settings)


def test_settings_never_show_the_database_password_or_the_secret_key(tmp_path: Any) -> None:
    db_password = "db-Pass-word-8812"
    key = Fernet.generate_key().decode()
    settings = ServerSettings(
        data_dir=tmp_path,
        database_url=f"postgresql://ironplane:{db_password}@db.internal:5432/ironplane",
        secret_key=SecretStr(key),
    )
    for shown in (repr(settings), str(settings), f"{settings!r}", str(settings.model_fields_set)):
        assert db_password not in shown and key not in shown
    assert "data_dir" in repr(settings)
    # Still there for the code that needs them.
    assert db_password in settings.resolved_database_url()
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == key


async def test_patch_merges_keys_on_the_server(server: Server) -> None:
    admin = server.admin
    agent = server.client(await setup(server))
    url = "/workspaces/prod/secrets/llm"
    revision = (await admin.get("/clusters/oke-prod")).json()["revision"]

    # Absent: PATCH creates it.
    r = await admin.patch(url, json={"values": {"a": "1", "b": "2"}})
    assert r.status_code == 200 and r.json()["keys"] == ["a", "b"], r.text
    # Sets some keys, deletes others (null), keeps the rest; a missing key to delete is no error.
    r = await admin.patch(url, json={"values": {"b": API_KEY, "c": "3", "a": None, "zz": None}})
    assert r.status_code == 200 and r.json()["keys"] == ["b", "c"], r.text
    assert API_KEY not in r.text
    assert (await admin.get(url)).json()["values"] == {"b": API_KEY, "c": "3"}
    assert (await admin.get("/clusters/oke-prod")).json()["revision"] == revision + 2
    desired = (await agent.get("/clusters/oke-prod/desired")).json()
    [data] = secret_objects(desired).values()
    assert data == {"b": b64(API_KEY), "c": b64("3")}

    # The group keeps one key at least; keys are checked; the workspace must be there.
    for body, status in (
        ({"values": {"b": None, "c": None}}, 400),
        ({"values": {"bad key!": "x"}}, 400),
        ({"values": {}}, 422),
        ({"values": {"k": 3}}, 422),
    ):
        r = await admin.patch(url, json=body)
        assert r.status_code == status, (body, r.text)
    r = await admin.patch(url, json={"values": {"b": None, "c": None}})
    assert "at least one" in error_of(r)["message"]
    r = await admin.patch("/workspaces/prod/secrets/new", json={"values": {"x": None}})
    assert r.status_code == 400, r.text
    assert (await admin.get("/workspaces/prod/secrets/new")).status_code == 404
    r = await admin.patch("/workspaces/nowhere/secrets/llm", json={"values": {"x": "1"}})
    assert r.status_code == 404, r.text
    assert (await admin.get(url)).json()["values"] == {"b": API_KEY, "c": "3"}
    assert (await admin.get("/clusters/oke-prod")).json()["revision"] == revision + 2

    # Two writers setting different keys at once: neither key is lost.
    results = await asyncio.gather(
        *(admin.patch(url, json={"values": {f"k{i}": str(i)}}) for i in range(6))
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    values = (await admin.get(url)).json()["values"]
    assert values == {"b": API_KEY, "c": "3", **{f"k{i}": str(i) for i in range(6)}}

    events = (await admin.get("/audit", params={"limit": 1000})).json()
    patches = [e for e in events if e["action"] == "secret_group.patch"]
    assert len(patches) == 8
    assert patches[-2]["details"] == {"keys": ["b", "c"], "set": ["b", "c"], "unset": ["a", "zz"]}
    assert API_KEY not in str(events)
