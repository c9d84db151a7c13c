"""Secrets, service accounts and the audit log from the CLI, against a real control plane."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.sdk.live import CLUSTER, WORKSPACE, Live, running_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(tmp_path_factory.mktemp("control-plane")) as server:
        yield server


@pytest.fixture
def logged_in(live: Live, config_file: Path, tmp_path: Path) -> Path:
    assert run_cli(["login", "--url", live.url, "--token", live.admin_token])[0] == 0
    platform = tmp_path / "platform.yaml"
    platform.write_text(CLUSTER + "---\n" + WORKSPACE)
    assert run_cli(["apply", "-f", str(platform), "--no-wait"])[0] == 0  # no agent runs here
    return config_file


def ok(*args: str) -> str:
    code, out, err = run_cli(list(args))
    assert code == 0, err
    return out


def test_secrets_set_merges_keys_and_reads_files(logged_in: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("from-a-file\n")
    assert ok("secrets", "set", "llm", "a=1", "b=2", "-w", "prod").strip() == (
        "secret group prod/llm: keys a, b"
    )
    ok("secrets", "set", "llm", f"b=@{key_file}", "c=3", "-w", "prod")
    values = json.loads(ok("secrets", "get", "llm", "-w", "prod", "-o", "json"))["values"]
    assert values == {"a": "1", "b": "from-a-file", "c": "3"}
    ok("secrets", "set", "llm", "only=x", "-w", "prod", "--replace")
    listed = json.loads(ok("secrets", "list", "-w", "prod", "-o", "json"))
    assert [(g["name"], g["keys"]) for g in listed] == [("llm", ["only"])]
    assert (
        "only" in ok("secrets", "list", "-w", "prod")
        and "x" not in ok("secrets", "list", "-w", "prod").split()
    )

    code, _, err = run_cli(["secrets", "set", "llm", "novalue", "-w", "prod"])
    assert code == 2 and "write KEY=VALUE or KEY=@FILE" in err
    code, _, err = run_cli(["secrets", "set", "llm", "a=1", "-w", "no-such-ws"])
    assert code == 1 and "not found" in err
    assert ok("secrets", "delete", "llm", "-w", "prod", "--yes").startswith("deleted")
    assert json.loads(ok("secrets", "list", "-w", "prod", "-o", "json")) == []


def test_secrets_set_needs_no_read_and_unset_drops_keys(logged_in: Path, live: Live) -> None:
    """``set`` merges on the server (a writer without secrets.read can use it); ``unset``."""
    from ironplane.sdk import Client

    with Client(live.url, live.admin_token) as admin:
        admin.roles.create("secret-writer", permissions=["secrets.list", "secrets.write"])
        admin.users.create("writer", password="writer-password-1")
        admin.role_bindings.create(
            "secret-writer",
            subject_kind="user",
            subject="writer",
            scope_kind="workspace",
            scope="prod",
        )
        admin.secrets.put("prod", "shared", {"keep": "1", "drop": "2"})
    with Client(live.url, None) as anonymous:
        token = anonymous.auth.login("writer", "writer-password-1").token
    assert run_cli(["login", "--url", live.url, "--token", token])[0] == 0

    out = ok("secrets", "set", "shared", "new=3", "keep=one", "-w", "prod")
    assert out.strip() == "secret group prod/shared: keys drop, keep, new"
    out = ok("secrets", "unset", "shared", "drop", "absent", "-w", "prod")
    assert out.strip() == "secret group prod/shared: keys keep, new"
    code, _, err = run_cli(["secrets", "get", "shared", "-w", "prod"])
    assert code == 1 and "secrets.read" in err
    code, _, err = run_cli(["secrets", "unset", "shared", "keep", "new", "-w", "prod"])
    assert code == 2 and "at least one" in err
    with Client(live.url, live.admin_token) as admin:
        assert admin.secrets.get("prod", "shared").values == {"keep": "one", "new": "3"}
        admin.secrets.delete("prod", "shared")


def test_service_accounts_and_audit(logged_in: Path) -> None:
    ok("service-accounts", "create", "ci-bot", "-d", "deploys from CI")
    accounts = json.loads(ok("service-accounts", "list", "-o", "json"))
    assert [(a["name"], a["description"]) for a in accounts] == [("ci-bot", "deploys from CI")]
    events = json.loads(ok("audit", "-n", "5", "-o", "json"))
    assert events[0]["action"] == "service_account.create"
    assert events[0]["actor"] == "user:admin"
    assert events[0]["source_ip"] == "127.0.0.1"
    older = json.loads(ok("audit", "--before", str(events[0]["id"]), "-o", "json"))
    assert all(e["id"] < events[0]["id"] for e in older)
    ok("service-accounts", "delete", "ci-bot")
    assert json.loads(ok("service-accounts", "list", "-o", "json")) == []
