"""``ironplane apply``: which files are sent, the --sync id, and what is printed."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from ironplane.cli.commands.remote.apply import collect_sources, sync_id_for
from ironplane.core.errors import InvalidError
from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli
from tests.sdk import samples as s

SERVICE = "kind: Service\nname: chat-api\nworkspace: team-a\nimage: nginx:1.27\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# -- collecting files


def test_directories_are_walked_sorted_recursively_for_spec_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(
        tmp_path / "specs",
        {
            "b.yaml": "b",
            "a.yml": "a",
            "sub/c.json": "c",
            "sub/deeper/d.YAML": "d",
            "README.md": "no",
            "notes.txt": "no",
            ".hidden.yaml": "no",
            ".git/config.yaml": "no",
            "sub/.cache/e.yaml": "no",
        },
    )
    monkeypatch.chdir(tmp_path)
    assert collect_sources(["specs"]) == [
        ("specs/a.yml", "a"),
        ("specs/b.yaml", "b"),
        ("specs/sub/c.json", "c"),
        ("specs/sub/deeper/d.YAML", "d"),
    ]


def test_files_keep_the_name_given_and_any_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path, {"app.spec": "x", "dir/one.yaml": "1"})
    monkeypatch.chdir(tmp_path)
    assert collect_sources(["./app.spec", "dir"]) == [("./app.spec", "x"), ("dir/one.yaml", "1")]


def test_a_file_named_twice_is_sent_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {"dir/one.yaml": "1", "dir/two.yaml": "2"})
    monkeypatch.chdir(tmp_path)
    assert collect_sources(["dir/two.yaml", "dir"]) == [
        ("dir/two.yaml", "2"),
        ("dir/one.yaml", "1"),
    ]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SERVICE))
    assert collect_sources(["-"]) == [("<stdin>", SERVICE)]


def test_missing_and_empty_inputs_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.md").write_text("x")
    with pytest.raises(InvalidError, match=r"directory holds no \.yaml, \.yml or \.json file"):
        collect_sources([str(tmp_path / "empty")])
    with pytest.raises(InvalidError, match=r"nope\.yaml: no such file or directory"):
        collect_sources([str(tmp_path / "nope.yaml")])
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidError, match=r"bin\.yaml: cannot read"):
        collect_sources([str(tmp_path / "bin.yaml")])


# -- the sync id


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "platform-config"
    tree(root, {"apps/prod/chat.yaml": SERVICE})
    git(root, "init", "-q")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    return root


def test_sync_id_from_the_origin_remote(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "git@github.com:acme/platform-config.git")
    assert (
        sync_id_for(repo / "apps" / "prod")
        == "git:git@github.com:acme/platform-config.git#apps/prod"
    )
    assert sync_id_for(repo) == "git:git@github.com:acme/platform-config.git#."


def test_sync_id_drops_credentials_from_the_remote(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://bot:ghp_SECRET@github.com/acme/cfg.git")
    assert sync_id_for(repo / "apps") == "git:https://github.com/acme/cfg.git#apps"


def test_sync_id_without_a_remote_uses_the_repo_directory_name(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "apps")
    assert sync_id_for(Path("prod")) == "git:platform-config#apps/prod"


def test_sync_outside_git_asks_for_a_sync_id(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidError, match=r"not in a git repository.*--sync-id"):
        sync_id_for(tmp_path / "plain")


def test_apply_sync_sends_the_derived_id(server: FakeServer, repo: Path) -> None:
    server.on("POST", "/apply", s.APPLY_RESULT)
    code, _, err = run_cli(["apply", "-f", str(repo / "apps"), "--sync"])
    assert code == 0, err
    assert server.body("POST", "/apply")["sync"] == "git:platform-config#apps"


def test_apply_sync_id_flag_wins_and_needs_sync(server: FakeServer, tmp_path: Path) -> None:
    tree(tmp_path, {"d/a.yaml": SERVICE})
    server.on("POST", "/apply", s.APPLY_RESULT)
    code, _, err = run_cli(["apply", "-f", str(tmp_path / "d"), "--sync", "--sync-id", "ci:main"])
    assert code == 0, err
    assert server.body("POST", "/apply")["sync"] == "ci:main"
    code, _, err = run_cli(["apply", "-f", str(tmp_path / "d"), "--sync-id", "ci:main"])
    assert (code, err.strip()) == (2, "error: --sync-id needs --sync")


def test_apply_sync_outside_git_fails_before_sending(server: FakeServer, tmp_path: Path) -> None:
    tree(tmp_path, {"d/a.yaml": SERVICE})
    code, _, err = run_cli(["apply", "-f", str(tmp_path / "d"), "--sync"])
    assert code == 2
    assert "--sync-id" in err
    assert server.requests == []


@pytest.mark.parametrize("files", [["a.yaml"], ["d", "d"], ["d", "a.yaml"]])
def test_apply_sync_needs_exactly_one_directory(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[str]
) -> None:
    tree(tmp_path, {"d/a.yaml": SERVICE, "a.yaml": SERVICE})
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["apply", *[a for f in files for a in ("-f", f)], "--sync"])
    assert code == 2
    assert "--sync needs exactly one directory" in err


# -- the request and the report


def test_apply_sends_raw_text_and_flags_and_prints_a_table(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not even valid YAML: the CLI does not parse specs, the server does.
    tree(tmp_path, {"apps/chat.yaml": SERVICE, "apps/broken.yaml": "kind: [\n"})
    monkeypatch.chdir(tmp_path)
    server.on("POST", "/apply", s.APPLY_RESULT)
    code, out, err = run_cli(["apply", "-f", "apps", "-w", "team-a", "--dry-run", "--diff"])
    assert code == 0, err
    assert server.body("POST", "/apply") == {
        "documents": [
            {"source": "apps/broken.yaml", "content": "kind: [\n"},
            {"source": "apps/chat.yaml", "content": SERVICE},
        ],
        "default_workspace": "team-a",
        "dry_run": True,
        "diff": True,
        "sync": None,
    }
    header, row = out.splitlines()
    assert header.split() == [
        "KIND",
        "WORKSPACE",
        "NAME",
        "ACTION",
        "VERSION",
        "CLUSTER",
        "REVISION",
    ]
    assert row.split() == ["Service", "team-a", "chat-api", "update", "4", "13"]
    assert "warning: apps/chat.yaml:3: (document): no GPU requested" in err
    assert err.splitlines()[-1] == "1 update"


def test_apply_prints_diffs_agent_tokens_and_dry_run_summary(
    server: FakeServer, tmp_path: Path
) -> None:
    result = {
        "dry_run": True,
        "changes": [
            {**s.CHANGE, "diff": "--- a\n+++ b\n-replicas: 1\n+replicas: 2\n"},
            {
                "kind": "Cluster",
                "name": "oke-prod",
                "action": "create",
                "cluster_revision": 1,
                "agent_token": s.TOKEN_CREATED,
            },
        ],
    }
    server.on("POST", "/apply", result)
    tree(tmp_path, {"a.yaml": SERVICE})
    code, out, err = run_cli(["apply", "-f", str(tmp_path / "a.yaml"), "--diff"])
    assert code == 0, err
    assert "# diff of Service team-a/chat-api\n--- a\n+++ b\n-replicas: 1\n+replicas: 2\n" in out
    assert "agent token for cluster oke-prod (shown only once" in out
    assert out.count(s.TOKEN_CREATED["secret"]) == 1
    assert err.splitlines()[-1] == "dry run, nothing changed: 1 update, 1 create"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_apply_machine_output(server: FakeServer, tmp_path: Path, fmt: str) -> None:
    server.on("POST", "/apply", s.APPLY_RESULT)
    tree(tmp_path, {"a.yaml": SERVICE})
    code, out, err = run_cli(["apply", "-f", str(tmp_path / "a.yaml"), "-o", fmt])
    assert code == 0, err
    data = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert data["changes"][0]["name"] == "chat-api"
    assert data["dry_run"] is False
    assert "no GPU requested" in err  # warnings stay on stderr


def test_apply_spec_errors_exit_2_with_located_diagnostics(
    server: FakeServer, tmp_path: Path
) -> None:
    diagnostics = [
        {
            "message": "unknown field",
            "path": ["imag"],
            "source": str(tmp_path / "a.yaml"),
            "line": 4,
            "column": 1,
            "subject": "Service 'chat-api'",
            "hint": "did you mean 'image'?",
        }
    ]
    server.on(
        "POST", "/apply", s.error("invalid_spec", "1 problem in the specs:", diagnostics), 422
    )
    tree(tmp_path, {"a.yaml": SERVICE})
    code, out, err = run_cli(["apply", "-f", str(tmp_path / "a.yaml")])
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "error: 1 problem in the specs:",
        f"{tmp_path / 'a.yaml'}:4:1: Service 'chat-api': imag: unknown field",
        "    hint:    did you mean 'image'?",
    ]
