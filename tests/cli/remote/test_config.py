"""The CLI config file: where it lives, 0600 atomic writes, the environment on top."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from ironplane.cli import config as cfg
from ironplane.core.errors import InvalidError, UnauthenticatedError
from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli


def test_path_from_ironplane_config_then_xdg_then_home(tmp_path: Path) -> None:
    home = Path.home()
    assert cfg.config_path({"IRONPLANE_CONFIG": str(tmp_path / "c.yaml")}) == tmp_path / "c.yaml"
    assert cfg.config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "ironplane" / "config.yaml"
    )
    # A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
    assert cfg.config_path({"XDG_CONFIG_HOME": "rel"}) == home / ".config/ironplane/config.yaml"
    assert cfg.config_path({}) == home / ".config" / "ironplane" / "config.yaml"


def test_save_is_0600_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "config.yaml"
    cfg.save_config(path, url="https://a.example", token="tok-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = cfg.load_config({"IRONPLANE_CONFIG": str(path)})
    assert (loaded.url, loaded.token, loaded.env_overrides) == ("https://a.example", "tok-1", ())
    assert "tok-1" not in repr(loaded)


def test_save_replaces_a_loose_file_and_keeps_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("url: https://old\ntoken: old\ncolor: false\n")
    path.chmod(0o644)
    cfg.save_config(path, url="https://new", token="new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {
        "url": "https://new",
        "token": "new",
        "color": False,
    }
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"], "no temporary files left"


def test_failed_save_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yaml"
    cfg.save_config(path, url="https://old", token="old")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        cfg.save_config(path, url="https://new", token="new")
    assert yaml.safe_load(path.read_text()) == {"url": "https://old", "token": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    cfg.save_config(path, url="https://file", token="file-token")
    env = {"IRONPLANE_CONFIG": str(path), "IRONPLANE_TOKEN": "env-token"}
    loaded = cfg.load_config(env)
    assert loaded.remote() == ("https://file", "env-token")
    assert loaded.env_overrides == ("IRONPLANE_TOKEN",)
    env["IRONPLANE_URL"] = "https://env"
    assert cfg.load_config(env).remote() == ("https://env", "env-token")
    # An empty variable does not override.
    env.update(IRONPLANE_URL="", IRONPLANE_TOKEN="")
    assert cfg.load_config(env).remote() == ("https://file", "file-token")


def test_the_files_token_goes_only_to_the_files_server(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    cfg.save_config(path, url="https://prod.example/", token="prod-token")
    env = {"IRONPLANE_CONFIG": str(path)}
    # The same server, up to trailing slashes: the token is used.
    for url in ("https://prod.example", "https://prod.example/", "https://prod.example//"):
        env["IRONPLANE_URL"] = url
        assert cfg.load_config(env).remote() == (url, "prod-token")
    # Another server: the file's token is not sent there.
    for url in ("https://evil.example", "http://prod.example", "https://prod.example/x"):
        env["IRONPLANE_URL"] = url
        loaded = cfg.load_config(env)
        assert loaded.token is None
        with pytest.raises(UnauthenticatedError) as info:
            loaded.remote()
        assert f"not logged in to {url}" in info.value.message
        assert (
            "https://prod.example/" in info.value.message
            and "IRONPLANE_TOKEN" in info.value.message
        )
        assert "prod-token" not in info.value.message
    # With IRONPLANE_TOKEN, that token goes to that server.
    env["IRONPLANE_TOKEN"] = "env-token"
    assert cfg.load_config(env).remote() == ("https://prod.example/x", "env-token")


def test_a_command_sends_no_token_to_another_server(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg.save_config(config_file, url="https://prod.example", token="prod-token")
    fake = FakeServer()
    monkeypatch.setattr("ironplane.cli.session.build_client", fake.build_client)
    monkeypatch.setenv("IRONPLANE_URL", "https://other.example")
    code, out, err = run_cli(["get", "clusters"])
    assert (code, out) == (1, "")
    assert "not logged in to https://other.example" in err
    assert fake.clients == [] and "prod-token" not in err


def test_missing_url_or_token_tells_how_to_log_in(tmp_path: Path) -> None:
    env = {"IRONPLANE_CONFIG": str(tmp_path / "none.yaml")}
    with pytest.raises(
        UnauthenticatedError, match=r"no Ironplane server configured.*ironplane login"
    ):
        cfg.load_config(env).remote()
    env["IRONPLANE_URL"] = "https://x"
    with pytest.raises(UnauthenticatedError, match=r"not logged in to https://x.*ironplane login"):
        cfg.load_config(env).remote()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("url: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("url: 3\n", "url must be a string"),
    ],
)
def test_broken_config_files_name_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(InvalidError, match=problem) as info:
        cfg.load_config({"IRONPLANE_CONFIG": str(path)})
    assert str(path) in info.value.message


def test_commands_without_a_login_exit_1_with_the_hint(config_file: Path) -> None:
    code, out, err = run_cli(["get", "apps"])
    assert (code, out) == (1, "")
    assert "no Ironplane server configured" in err
    assert "ironplane login" in err


def test_rejected_token_suggests_logging_in_again(server: FakeServer) -> None:
    from tests.sdk.samples import error

    server.on("GET", "/clusters", error("unauthenticated", "token expired"), status=401)
    code, _, err = run_cli(["get", "clusters"])
    assert code == 1
    assert err.splitlines() == [
        "error: token expired",
        "hint: run `ironplane login` to log in (again)",
    ]
