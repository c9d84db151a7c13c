"""The remote commands against a fake server: requests sent, output printed, exit codes."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.cli.remote.conftest import TOKEN, URL, FakeServer
from tests.conftest import run_cli
from tests.sdk import samples as s


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


# -- login


def test_login_with_a_token_checks_it_and_saves_the_config(
    server: FakeServer, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IRONPLANE_URL")
    monkeypatch.delenv("IRONPLANE_TOKEN")
    server.on("GET", "/auth/whoami", s.WHOAMI)
    code, out, err = run_cli(["login", "--url", "http://ironplane.test/", "--token", "tok-abc"])
    assert code == 0, err
    assert out == "logged in to http://ironplane.test as user alice\n"
    assert "tok-abc" not in out + err
    assert server.clients == [("http://ironplane.test", "tok-abc")]
    assert server.sent("GET", "/auth/whoami")[0].headers["authorization"] == "Bearer tok-abc"
    assert yaml.safe_load(config_file.read_text()) == {
        "url": "http://ironplane.test",
        "token": "tok-abc",
    }
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    # Later commands use the saved URL and token.
    server.on("GET", "/clusters", [])
    assert run_cli(["get", "clusters"])[0] == 0
    assert server.clients[-1] == ("http://ironplane.test", "tok-abc")


def test_login_with_a_password_saves_the_session_token(
    server: FakeServer, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("POST", "/auth/login", s.LOGIN)
    server.on("GET", "/auth/whoami", s.WHOAMI)
    stdin(monkeypatch, "correct horse\n")
    code, out, err = run_cli(["login", "--username", "alice", "--password-stdin"])
    assert code == 0, err
    assert server.body("POST", "/auth/login") == {"username": "alice", "password": "correct horse"}
    assert "authorization" not in server.sent("POST", "/auth/login")[0].headers
    whoami = server.sent("GET", "/auth/whoami")[0]
    assert whoami.headers["authorization"] == f"Bearer {s.LOGIN['token']}"
    assert yaml.safe_load(config_file.read_text())["token"] == s.LOGIN["token"]
    assert s.LOGIN["token"] not in out + err and "correct horse" not in out + err
    assert f"saved to {config_file}; the session ends 2025-03-04 17:06:07 UTC" in err
    # IRONPLANE_URL/TOKEN are set by the fixture: the user is told they win over the file.
    assert "IRONPLANE_URL and IRONPLANE_TOKEN set in the environment override" in err


def test_failed_login_saves_nothing(server: FakeServer, config_file: Path) -> None:
    server.on("GET", "/auth/whoami", s.error("unauthenticated", "unknown token"), 401)
    code, _, err = run_cli(["login", "--url", URL, "--token", "bad"])
    assert code == 1
    assert "unknown token" in err
    assert not config_file.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "t", "--username", "u"], "either --token or --username"),
        (["--password-stdin"], "--password-stdin needs --username"),
        ([], "pass --token TOKEN or --username NAME"),  # stdin is not a terminal
        (["--url", "ironplane.test", "--token", "t"], "must start with http:// or https://"),
    ],
)
def test_login_usage_errors(server: FakeServer, args: list[str], message: str) -> None:
    code, _, err = run_cli(["login", *args])
    assert code == 2
    assert message in err
    assert server.requests == []


def test_login_without_any_url(config_file: Path) -> None:
    code, _, err = run_cli(["login", "--token", "t"])
    assert (code, err) == (2, "error: pass --url URL: no server is configured yet\n")


# -- get


@pytest.mark.parametrize(
    ("args", "path", "body", "header", "row"),
    [
        (
            ["clusters"],
            "/clusters",
            [s.CLUSTER],
            "NAME PROVIDER REGION AGENT LAST SEEN REVISION APPLIED NODES",
            "oke-prod oci eu-frankfurt-1 never connected - 12 0 0",
        ),
        (
            ["workspaces"],
            "/workspaces",
            [s.WORKSPACE],
            "NAME CLUSTER NAMESPACE GPU PRIVILEGED UPDATED",
            "team-a oke-prod team-a yes no 2025-03-04 05:06:07",
        ),
        (
            ["apps"],
            "/apps",
            [s.APP, {**s.APP, "name": "old", "active_version": None, "source": None}],
            "WORKSPACE NAME KIND STATUS READY VERSION LATEST SOURCE UPDATED",
            "team-a chat-api Service no status yet - 3 3 git:https://git.example.com/apps.git#prod 2025-03-04 05:06:07",
        ),
        (
            ["apps", "-w", "team-a"],
            "/workspaces/team-a/apps",
            [s.APP],
            "WORKSPACE NAME KIND STATUS READY VERSION LATEST SOURCE UPDATED",
            "team-a chat-api Service no status yet - 3 3 git:https://git.example.com/apps.git#prod 2025-03-04 05:06:07",
        ),
    ],
)
def test_get_tables(
    server: FakeServer, args: list[str], path: str, body: Any, header: str, row: str
) -> None:
    server.on("GET", path, body)
    code, out, err = run_cli(["get", *args])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == header.split()
    assert lines[1].split() == row.split()
    assert len(lines) == 1 + len(body)
    assert len(server.sent("GET", path)) == 1


def test_get_apps_shows_deleted_apps_without_an_active_version(server: FakeServer) -> None:
    server.on("GET", "/apps", [{**s.APP, "active_version": None, "source": None}])
    code, out, err = run_cli(["get", "apps"])
    assert code == 0, err
    assert rows(out)[1][:7] == ["team-a", "chat-api", "Service", "-", "-", "deleted", "3"]


def test_get_apps_and_clusters_show_what_the_agent_reported(server: FakeServer) -> None:
    status = {
        "phase": "Degraded",
        "ready": 1,
        "desired": 2,
        "error": "CrashLoopBackOff",
        "updated_at": "2025-03-04T05:06:07Z",
    }
    server.on("GET", "/apps", [{**s.APP, "status": status}])
    code, out, err = run_cli(["get", "apps"])
    assert code == 0, err
    assert rows(out)[1][3:6] == ["Degraded:", "CrashLoopBackOff", "1/2"]
    agent = {
        "connected": True,
        "runtime": "local",
        "applied_revision": 11,
        "last_seen_at": "2025-03-04T05:06:07Z",
    }
    server.on("GET", "/clusters", [{**s.CLUSTER, "agent": agent, "nodes": [{"name": "n1"}]}])
    code, out, err = run_cli(["get", "clusters"])
    assert code == 0, err
    assert rows(out)[1][3:] == ["connected", "(local)", "2025-03-04", "05:06:07", "12", "11", "1"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_get_machine_formats_hold_every_field(server: FakeServer, fmt: str) -> None:
    server.on("GET", "/clusters", [s.CLUSTER])
    code, out, err = run_cli(["get", "clusters", "-o", fmt])
    assert code == 0, err
    data = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    agent = {
        "connected": False,
        "last_seen_at": None,
        "applied_revision": 0,
        "version": None,
        "runtime": None,
    }
    assert data == [
        {
            **s.CLUSTER,
            "created_at": "2025-03-04T05:06:07Z",
            "updated_at": "2025-03-04T05:06:07Z",
            "agent": agent,
            "nodes": [],
        }
    ]


def test_get_empty_listings(server: FakeServer) -> None:
    server.on("GET", "/clusters", [])
    assert run_cli(["get", "clusters"]) == (0, "", "no clusters\n")
    assert run_cli(["get", "clusters", "-o", "json"]) == (0, "[]\n", "")


def test_get_rejects_unknown_formats(server: FakeServer) -> None:
    code, _, _ = run_cli(["get", "clusters", "-o", "xml"])
    assert code == 2
    assert server.requests == []


# -- app names: APP, WS/APP, -w


def versions_server(server: FakeServer, apps: list[dict[str, Any]]) -> None:
    server.on("GET", "/apps", apps)
    for ws in {a["workspace"] for a in apps}:
        server.on(
            "GET",
            f"/workspaces/{ws}/apps/chat-api/versions",
            [
                {
                    **s.VERSION_SUMMARY,
                    "workspace": ws,
                    "number": 1,
                    "reason": "apply",
                    "rollback_of": None,
                    "active": False,
                },
                {**s.VERSION_SUMMARY, "workspace": ws},
            ],
        )


def test_get_versions_resolves_a_unique_app_name(server: FakeServer) -> None:
    versions_server(server, [s.APP, {**s.APP, "name": "other", "workspace": "team-b"}])
    code, out, err = run_cli(["get", "versions", "chat-api"])
    assert code == 0, err
    table = rows(out)
    assert table[0] == [
        "VERSION",
        "ACTIVE",
        "REASON",
        "AUTHOR",
        "HASH",
        "CLUSTER",
        "REVISION",
        "CREATED",
    ]
    # Newest first; the active one is starred; a rollback names its origin; hashes are short.
    assert table[1] == [
        "3",
        "*",
        "rollback",
        "of",
        "1",
        "user:alice",
        "0123456789ab",
        "12",
        "2025-03-04",
        "05:06:07",
    ]
    assert table[2][:4] == ["1", "-", "apply", "user:alice"]


def test_ambiguous_app_names_list_the_workspaces(server: FakeServer) -> None:
    versions_server(server, [{**s.APP, "workspace": "team-b"}, s.APP])
    code, out, err = run_cli(["get", "versions", "chat-api"])
    assert (code, out) == (2, "")
    assert "app 'chat-api' exists in workspaces team-a, team-b" in err
    assert "--workspace" in err
    code, out, err = run_cli(["get", "versions", "team-b/chat-api"])
    assert code == 0, err
    code, out, err = run_cli(["get", "versions", "chat-api", "-w", "team-a"])
    assert code == 0, err
    # Naming the workspace skips the lookup of every app.
    assert len(server.sent("GET", "/apps")) == 1


def test_unknown_app_name(server: FakeServer) -> None:
    server.on("GET", "/apps", [])
    code, _, err = run_cli(["get", "versions", "nope"])
    assert code == 1
    assert "no app named 'nope'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["team-a/chat-api", "-w", "team-b"], "is in workspace 'team-a', not 'team-b'"),
        (["/chat-api"], "name it APP or WORKSPACE/APP"),
        (["a/b/c"], "name it APP or WORKSPACE/APP"),
    ],
)
def test_bad_app_references(server: FakeServer, args: list[str], message: str) -> None:
    code, _, err = run_cli(["get", "versions", *args])
    assert code == 2
    assert message in err


# -- describe, rollback, delete


def test_describe_app(server: FakeServer) -> None:
    server.on("GET", "/workspaces/team-a/apps/chat-api", s.APP_DETAIL)
    code, out, err = run_cli(["describe", "app", "team-a/chat-api"])
    assert code == 0, err
    assert "App:              team-a/chat-api\n" in out
    assert "Active version:   3\n" in out
    assert "Hash:             sha256:0123456789abcdef0123\n" in out
    objects = out.split("Objects of version 3:\n")[1].split("\n\n")[0]
    assert rows(objects) == [["KIND", "NAME"], ["Deployment", "chat-api"], ["Service", "chat-api"]]
    assert not any(line.endswith(" ") for line in out.splitlines()), "no trailing blanks"
    history = rows(out.split("History:\n")[1])
    assert [r[0] for r in history] == ["VERSION", "3", "2", "1"]


def test_describe_app_json(server: FakeServer) -> None:
    server.on("GET", "/workspaces/team-a/apps/chat-api", s.APP_DETAIL)
    code, out, _ = run_cli(["describe", "app", "chat-api", "-w", "team-a", "-o", "json"])
    assert code == 0
    data = json.loads(out)
    assert data["app"]["name"] == "chat-api" and len(data["versions"]) == 3
    assert data["active"]["objects"][0]["kind"] == "Deployment"


def test_describe_a_deleted_app(server: FakeServer) -> None:
    detail = {**s.APP_DETAIL, "app": {**s.APP, "active_version": None}, "active": None}
    server.on("GET", "/workspaces/team-a/apps/chat-api", detail)
    code, out, _ = run_cli(["describe", "app", "team-a/chat-api"])
    assert code == 0
    assert "Active version: none (deleted)\n" in out
    assert "Objects of version" not in out


def test_rollback(server: FakeServer) -> None:
    server.on("POST", "/workspaces/team-a/apps/chat-api/rollback", s.CHANGE)
    code, out, err = run_cli(["rollback", "team-a/chat-api", "--to", "2"])
    assert code == 0, err
    assert server.body("POST", "/workspaces/team-a/apps/chat-api/rollback") == {
        "to": 2,
        "dry_run": False,
    }
    assert out == "rolled team-a/chat-api back to version 2: now version 4, cluster revision 13\n"


def test_rollback_as_json_for_scripts(server: FakeServer) -> None:
    server.on("POST", "/workspaces/team-a/apps/chat-api/rollback", s.CHANGE)
    code, out, err = run_cli(["rollback", "team-a/chat-api", "--to", "2", "-o", "json"])
    assert code == 0, err
    change = json.loads(out)
    assert change["version"] == 4 and change["cluster_revision"] == 13


def test_rollback_dry_run(server: FakeServer) -> None:
    server.on("POST", "/workspaces/team-a/apps/chat-api/rollback", s.CHANGE)
    code, out, _ = run_cli(["rollback", "chat-api", "-w", "team-a", "--to", "1", "--dry-run"])
    assert code == 0
    assert server.body("POST", "/workspaces/team-a/apps/chat-api/rollback")["dry_run"] is True
    assert out.startswith("dry run: would roll team-a/chat-api back to version 1")


def test_rollback_needs_a_version(server: FakeServer) -> None:
    assert run_cli(["rollback", "chat-api", "--to", "0"])[0] == 2
    assert run_cli(["rollback", "chat-api"])[0] == 2
    assert server.requests == []


def test_delete_app_needs_yes_without_a_terminal(server: FakeServer) -> None:
    server.on("DELETE", "/workspaces/team-a/apps/chat-api", {**s.CHANGE, "action": "delete"})
    code, _, err = run_cli(["delete", "app", "team-a/chat-api"])
    assert code == 2
    assert "pass --yes" in err
    assert server.sent("DELETE", "/workspaces/team-a/apps/chat-api") == []
    code, out, err = run_cli(["delete", "app", "team-a/chat-api", "--yes"])
    assert code == 0, err
    assert len(server.sent("DELETE", "/workspaces/team-a/apps/chat-api")) == 1
    assert out.startswith("deleted app team-a/chat-api (cluster revision 13)")


def test_delete_app_asks_at_a_terminal(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from ironplane.cli.commands.remote import _common

    server.on("DELETE", "/workspaces/team-a/apps/chat-api", {**s.CHANGE, "action": "delete"})
    monkeypatch.setattr(_common, "interactive", lambda: True)
    answers: list[str] = []
    monkeypatch.setattr(_common.typer, "confirm", lambda q, default: answers.append(q) or False)
    code, _, err = run_cli(["delete", "app", "team-a/chat-api"])
    assert (code, err) == (1, "aborted\n")
    assert answers == ["Delete app team-a/chat-api and all its running objects?"]
    assert server.sent("DELETE", "/workspaces/team-a/apps/chat-api") == []


# -- tokens


def test_tokens_create_prints_the_secret_alone_on_stdout(server: FakeServer) -> None:
    server.on("POST", "/tokens", s.TOKEN_CREATED, 201)
    code, out, err = run_cli(["tokens", "create", "laptop"])
    assert code == 0, err
    assert out == s.TOKEN_CREATED["secret"] + "\n"
    assert "shown only once" in err
    assert "created token tok_1a2b (laptop) for user:alice; it expires 2025-06-02" in err
    assert server.body("POST", "/tokens") == {
        "name": "laptop",
        "expires_in_days": 90,
        "service_account": None,
    }


@pytest.mark.parametrize(
    ("args", "days", "sa"),
    [
        (["--no-expiry"], None, None),
        (["--expires-in-days", "7", "--service-account", "ci"], 7, "ci"),
    ],
)
def test_tokens_create_options(
    server: FakeServer, args: list[str], days: int | None, sa: str | None
) -> None:
    server.on("POST", "/tokens", {**s.TOKEN_CREATED, "token": {**s.TOKEN, "expires_at": None}}, 201)
    code, _, err = run_cli(["tokens", "create", "deploy", *args])
    assert code == 0, err
    body = server.body("POST", "/tokens")
    assert (body["expires_in_days"], body["service_account"]) == (days, sa)
    if days is None:
        assert "it never expires" in err


def test_tokens_create_conflicting_expiry(server: FakeServer) -> None:
    code, _, err = run_cli(["tokens", "create", "x", "--no-expiry", "--expires-in-days", "3"])
    assert code == 2 and "not both" in err
    assert server.requests == []


def test_tokens_list_and_revoke(server: FakeServer) -> None:
    server.on("GET", "/tokens", [s.TOKEN, {**s.TOKEN, "id": "tok_2", "expires_at": None}])
    code, out, _ = run_cli(["tokens", "list", "--all"])
    assert code == 0
    assert server.sent("GET", "/tokens")[0].url.params["all"] == "true"
    table = rows(out)
    assert table[1][:3] == ["tok_1a2b", "laptop", "user:alice"]
    assert table[2][-3:] == ["never", "-", "-"]
    server.on("DELETE", "/tokens/tok_1a2b", {**s.TOKEN, "revoked_at": s.AT})
    code, out, _ = run_cli(["tokens", "revoke", "tok_1a2b"])
    assert (code, out) == (0, "revoked token tok_1a2b (laptop) of user:alice\n")


# -- users, teams, roles


def test_users_list_yaml(server: FakeServer) -> None:
    server.on("GET", "/users", [s.USER])
    code, out, _ = run_cli(["users", "list", "-o", "yaml"])
    assert code == 0
    assert yaml.safe_load(out)[0]["teams"] == ["ml"]


def test_users_create_with_a_password_from_stdin(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("POST", "/users", s.USER, 201)
    stdin(monkeypatch, "long enough pw\n")
    code, out, err = run_cli(["users", "create", "alice", "--email", "a@x.io", "--password-stdin"])
    assert code == 0, err
    assert server.body("POST", "/users") == {
        "name": "alice",
        "email": "a@x.io",
        "password": "long enough pw",
    }
    assert out == "created user alice\n"


def test_users_create_without_a_password(server: FakeServer) -> None:
    server.on("POST", "/users", s.USER, 201)
    assert run_cli(["users", "create", "bob"])[0] == 0
    assert server.body("POST", "/users")["password"] is None


def test_users_set_password_sends_only_the_password(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("GET", "/auth/whoami", {**s.WHOAMI, "name": "admin"})
    server.on("PATCH", "/users/alice", s.USER)
    stdin(monkeypatch, "a new password\r\n")
    code, out, _ = run_cli(["users", "set-password", "alice", "--password-stdin"])
    assert (code, out) == (0, "password of alice set\n")
    assert server.body("PATCH", "/users/alice") == {"password": "a new password"}


def test_users_set_password_of_your_own_sends_the_current_one(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("GET", "/auth/whoami", s.WHOAMI)
    server.on("GET", "/users/alice", {**s.USER, "has_password": True})
    server.on("PATCH", "/users/alice", s.USER)
    stdin(monkeypatch, "the old one\nthe new one\n")
    code, out, err = run_cli(["users", "set-password", "alice", "--password-stdin"])
    assert (code, out) == (0, "password of alice set\n"), err
    assert server.body("PATCH", "/users/alice") == {
        "password": "the new one",
        "current_password": "the old one",
    }
    stdin(monkeypatch, "only-one-line\n")
    code, _, err = run_cli(["users", "set-password", "alice", "--password-stdin"])
    assert code == 2 and "two lines" in err


def test_users_set_password_without_a_terminal_or_stdin(server: FakeServer) -> None:
    server.on("GET", "/auth/whoami", {**s.WHOAMI, "name": "admin"})
    code, _, err = run_cli(["users", "set-password", "alice"])
    assert code == 2
    assert "pass --password-stdin" in err


def test_users_delete(server: FakeServer) -> None:
    server.on("DELETE", "/users/alice", s.deleted("alice"))
    assert run_cli(["users", "delete", "alice"]) == (0, "deleted user alice\n", "")


def test_teams(server: FakeServer) -> None:
    server.on("POST", "/teams", s.TEAM, 201)
    code, out, _ = run_cli(["teams", "create", "ml", "-m", "alice", "--member", "bob"])
    assert (code, out) == (0, "created team ml: alice, bob\n")
    assert server.body("POST", "/teams") == {"name": "ml", "members": ["alice", "bob"]}
    server.on("PUT", "/teams/ml/members/carol", {**s.TEAM, "members": ["alice", "bob", "carol"]})
    code, out, _ = run_cli(["teams", "add-member", "ml", "carol"])
    assert (code, out) == (0, "team ml: alice, bob, carol\n")
    server.on("DELETE", "/teams/ml/members/bob", {**s.TEAM, "members": []})
    assert run_cli(["teams", "remove-member", "ml", "bob"])[1] == "team ml: no members\n"
    server.on("GET", "/teams", [s.TEAM])
    assert rows(run_cli(["teams", "list"])[1])[1][:3] == ["ml", "alice,", "bob"]


def test_roles(server: FakeServer) -> None:
    server.on("POST", "/roles", s.ROLE, 201)
    code, out, _ = run_cli(["roles", "create", "deployer", "-p", "apps.read", "-p", "apps.write"])
    assert (code, out) == (0, "created role deployer: apps.read, apps.write\n")
    assert server.body("POST", "/roles")["permissions"] == ["apps.read", "apps.write"]
    server.on(
        "GET",
        "/role-bindings",
        [s.BINDING, {**s.BINDING, "id": 8, "scope_kind": "tenant", "scope": None}],
    )
    table = rows(run_cli(["roles", "bindings"])[1])
    assert table[1][:4] == ["7", "editor", "team:ml", "workspace:team-a"]
    assert table[2][:4] == ["8", "editor", "team:ml", "tenant"]


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (
            ["editor", "--team", "ml", "-w", "team-a"],
            {"subject_kind": "team", "subject": "ml", "scope_kind": "workspace", "scope": "team-a"},
        ),
        (
            ["editor", "--service-account", "ci", "--cluster", "oke-prod"],
            {
                "subject_kind": "service_account",
                "subject": "ci",
                "scope_kind": "cluster",
                "scope": "oke-prod",
            },
        ),
        (
            ["editor", "--user", "alice"],
            {"subject_kind": "user", "subject": "alice", "scope_kind": "tenant", "scope": None},
        ),
    ],
)
def test_roles_bind(server: FakeServer, args: list[str], body: dict[str, Any]) -> None:
    server.on("POST", "/role-bindings", s.BINDING, 201)
    code, out, err = run_cli(["roles", "bind", *args])
    assert code == 0, err
    assert server.body("POST", "/role-bindings") == {"role": "editor", **body}
    assert out == "bound role editor to team ml on workspace team-a (binding 7)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["editor"], "exactly one of --user, --team or --service-account"),
        (["editor", "--user", "a", "--team", "b"], "exactly one of"),
        (
            ["editor", "--user", "a", "--cluster", "c", "-w", "w"],
            "--cluster or --workspace, not both",
        ),
    ],
)
def test_roles_bind_usage(server: FakeServer, args: list[str], message: str) -> None:
    code, _, err = run_cli(["roles", "bind", *args])
    assert code == 2 and message in err
    assert server.requests == []


def test_roles_unbind_and_delete(server: FakeServer) -> None:
    server.on("DELETE", "/role-bindings/7", s.deleted("7"))
    assert run_cli(["roles", "unbind", "7"]) == (0, "deleted role binding 7\n", "")
    server.on("DELETE", "/roles/deployer", s.deleted("deployer"))
    assert run_cli(["roles", "delete", "deployer"]) == (0, "deleted role deployer\n", "")
    server.on("DELETE", "/roles/admin", s.error("forbidden", "built-in roles stay"), 403)
    assert run_cli(["roles", "delete", "admin"]) == (1, "", "error: built-in roles stay\n")


# -- the seam and the registry


def test_commands_use_the_configured_url_and_token(server: FakeServer) -> None:
    server.on("GET", "/users", [])
    run_cli(["users", "list"])
    assert server.clients == [(URL, TOKEN)]
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_server_down_is_exit_1_naming_the_server(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(server, "handle", refuse)
    code, _, err = run_cli(["get", "clusters"])
    assert code == 1
    assert err == f"error: cannot reach the Ironplane server at {URL}: connection refused\n"


def test_help_does_not_load_the_sdk_or_rich() -> None:
    code = (
        "import sys, ironplane.cli.main\n"
        "print(sorted(m for m in ('httpx', 'rich', 'pydantic', 'ironplane.sdk') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    [
        ["get", "--help"],
        ["describe", "app", "--help"],
        ["delete", "app", "--help"],
        ["tokens", "create", "--help"],
        ["roles", "bind", "--help"],
    ],
)
def test_subcommand_help(command: list[str]) -> None:
    code, out, _ = run_cli(command)
    assert code == 0
    assert "Usage:" in out
