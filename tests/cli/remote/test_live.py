"""The remote commands end to end: the real CLI, SDK and control plane over HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.sdk.live import CLUSTER, SERVICE, WORKSPACE, Live, running_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(tmp_path_factory.mktemp("control-plane")) as server:
        yield server


@pytest.fixture
def logged_in(live: Live, config_file: Path) -> Path:
    code, out, err = run_cli(["login", "--url", live.url, "--token", live.admin_token])
    assert code == 0, err
    assert out == f"logged in to {live.url} as user admin\n"
    assert yaml.safe_load(config_file.read_text())["token"] == live.admin_token
    return config_file


def ok(*args: str) -> str:
    code, out, err = run_cli(list(args))
    assert code == 0, err
    return out


def test_apply_inspect_roll_back_and_delete(logged_in: Path, tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "00-platform.yaml").write_text(CLUSTER + "---\n" + WORKSPACE)
    (specs / "chat.yaml").write_text(SERVICE.format(tag="1"))
    # Waiting follows nothing on a cluster this apply registered: its agent cannot run yet.
    code, out, err = run_cli(["apply", "-f", str(specs)])
    assert code == 0, err
    assert "Cluster oke-prod: - · skipped · registered: start its agent" in err
    assert "Service prod/chat-api: - · skipped · not followed: its cluster oke-prod" in err
    assert [r.split()[:4] for r in out.splitlines()[1:4]] == [
        ["Cluster", "-", "oke-prod", "create"],
        ["Workspace", "-", "prod", "create"],
        ["Service", "prod", "chat-api", "create"],
    ]
    assert "agent token for cluster oke-prod (shown only once" in out

    (specs / "chat.yaml").write_text(SERVICE.format(tag="2"))
    out = ok("apply", "-f", str(specs), "--diff", "--no-wait")  # no agent runs here
    assert "# diff of Service prod/chat-api" in out and "+" in out

    versions = ok("get", "versions", "chat-api")
    assert [line.split()[0] for line in versions.splitlines()] == ["VERSION", "2", "1"]
    out = ok("rollback", "chat-api", "--to", "1")
    assert out.startswith("rolled prod/chat-api back to version 1: now version 3")
    described = ok("describe", "app", "prod/chat-api")
    assert "Active version:   3" in described and "Deployment" in described
    apps = json.loads(ok("get", "apps", "-o", "json"))
    assert [(a["workspace"], a["name"], a["active_version"]) for a in apps] == [
        ("prod", "chat-api", 3)
    ]
    assert ok("delete", "app", "chat-api", "--yes").startswith("deleted app prod/chat-api")
    assert json.loads(ok("get", "apps", "-o", "json"))[0]["active_version"] is None


def test_spec_errors_exit_2_naming_the_file_and_line(logged_in: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Service\nname: web\nworkspace: prod\nimage: nginx\nreplicaz: 2\n")
    code, out, err = run_cli(["apply", "-f", str(bad)])
    assert (code, out) == (2, "")
    assert f"{bad}:5:1:" in err and "replicaz" in err


def test_users_tokens_and_password_login(
    logged_in: Path, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert ok("users", "create", "dave", "--password-stdin") == "created user dave\n"
    secret = ok("tokens", "create", "ci").strip()
    assert secret and secret != live.admin_token
    tokens = json.loads(ok("tokens", "list", "-o", "json"))
    assert "ci" in {t["name"] for t in tokens}

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    out = ok("login", "--username", "dave", "--password-stdin")
    assert out == f"logged in to {live.url} as user dave\n"
    code, _, err = run_cli(["users", "list"])
    assert code == 1 and "users.read" in err, err  # dave holds no role
