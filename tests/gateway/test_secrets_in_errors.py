"""No secret in what the gateway says about its configuration: config errors, /healthz (which
needs no key: ``config.reload_error``, ``control_plane.error``) and the log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ironplane.gateway import config as config_file
from ironplane.gateway import redact
from ironplane.gateway.snapshot import Store
from ironplane.gateway.source import Source
from tests.gateway.conftest import base_config, running_gateway
from tests.gateway.fake_control_plane import FakeControlPlane, cp_section, fake_control_plane
from tests.gateway.openai_mock import MockUpstream
from tests.ports import free_port

SECRET = "s3cretpass"


def _problems(data: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(config_file.ConfigError) as failed:
        config_file.parse(yaml.safe_dump(data).encode(), "gw.yaml", env or {})
    return failed.value.message


def _provider(**fields: Any) -> dict[str, Any]:
    return {
        "providers": [{"name": "p", "kind": "openai", "base_url": "http://up/v1", **fields}],
        "models": [{"name": "m", "targets": [{"provider": "p", "model": "x"}]}],
        "gateway": {"auth": False},
    }


def test_redact_masks_user_info_and_query_even_in_broken_urls() -> None:
    assert redact.url(f"redis://:{SECRET}@cache:6379/0") == "redis://***@cache:6379/0"
    assert redact.url(f"http://u:{SECRET}@h/v1?key={SECRET}") == "http://***@h/v1?***"
    # A password with an unencoded / or # (urlsplit would put it in the path or fragment).
    assert redact.url(f"redis://:pa/ss#{SECRET}@cache:6379") == "redis://***@cache:6379"
    assert redact.url(f"u:{SECRET}@cache:6379") == "***@cache:6379"
    assert redact.url("http://plain:8080/v1") == "http://plain:8080/v1"


@pytest.mark.parametrize(
    ("data", "where", "shown"),
    [
        (
            {**_provider(), "redis": {"url": f"redis://:{SECRET}@cache:notaport/0"}},
            "redis.url",
            "'redis://***@cache:notaport/0' is not a Redis URL",
        ),
        (
            {**_provider(), "redis": {"url": f"redis://admin:{SECRET}@cache:6379/x"}},
            "redis.url",
            "'redis://***@cache:6379/x' is not a Redis URL",
        ),
        (
            {"control_plane": {"url": f"ftp://gw:{SECRET}@cp:8080", "token": {"env": "T"}}},
            "control_plane.url",
            "'ftp://***@cp:8080' is not the control plane's http(s) URL",
        ),
        (
            {
                **_provider(),
                "providers": [{"name": "p", "kind": "openai", "base_url": f"ftp://u:{SECRET}@up"}],
            },
            "providers[0].base_url",
            "'ftp://***@up' is not an http(s) base URL",
        ),
        (
            {
                **_provider(),
                "providers": [
                    {"name": "p", "kind": "openai", "base_url": f"http://up/v1?api_key={SECRET}"}
                ],
            },
            "providers[0].base_url",
            "'http://up/v1?***' is not an http(s) base URL",
        ),
        (
            _provider(headers={f"Authorization: Bearer {SECRET}": "x"}),
            "providers[0].headers",
            "header 'Authorization:***' is not a valid header name and value",
        ),
        (
            _provider(headers={"Authorization": f"Bearer {SECRET}\nX-Injected: 1"}),
            "providers[0].headers.Authorization",
            "header 'Authorization' is not a valid header name and value",
        ),
        (
            _provider(api_key={f"sk-live-{SECRET}": None}),  # `api_key: {sk-...}` in YAML
            "providers[0].api_key",
            "unknown field (not shown: it may be a secret)",
        ),
        (
            _provider(api_key=f"sk-live-{SECRET}"),
            "providers[0].api_key",
            "expected `object | null`, got `str`",
        ),
    ],
)
def test_config_errors_never_quote_a_secret(data: dict[str, Any], where: str, shown: str) -> None:
    message = _problems(data, {"T": "t"})
    assert SECRET not in message
    assert where in message and shown in message


def test_secret_contents_are_never_echoed(tmp_path: Path) -> None:
    bad = tmp_path / "key"
    bad.write_text(f"{SECRET}\u00e9\n")  # not ASCII
    message = _problems(_provider(api_key={"file": str(bad)}))
    assert "contains a line break, NUL or non-ASCII character" in message
    assert SECRET not in message
    message = _problems(
        {"control_plane": {"url": "http://cp", "token": {"env": "T"}}}, {"T": f"{SECRET}\n1"}
    )
    assert "control_plane.token" in message and SECRET not in message


def test_a_reload_error_in_healthz_and_the_log_holds_no_password(
    upstream: MockUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = base_config(upstream.url)
    with (
        caplog.at_level(logging.INFO, "ironplane.gateway"),
        running_gateway(data, tmp_path) as gw,
    ):
        gw.write_config({**data, "redis": {"url": f"redis://:{SECRET}@cache:notaport/0"}})
        assert gw.call(gw.running.reload) is False
        error = httpx.get(gw.url + "/healthz").json()["config"]["reload_error"]
        assert "'redis://***@cache:notaport/0' is not a Redis URL" in error
        assert SECRET not in error
    assert any("configuration not reloaded" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


def _source(tmp_path: Path, section: dict[str, Any]) -> Source:
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump({"control_plane": section}))
    store_dir = tmp_path / "store"
    store_dir.mkdir(exist_ok=True)
    return Source(path, config_file.load(path), Store(store_dir))


def test_control_plane_errors_in_healthz_hold_no_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_cp = FakeControlPlane()  # not started: its section names a port nobody listens on
    section = cp_section(fake_cp, tmp_path)
    with caplog.at_level(logging.INFO, "ironplane.gateway"):
        # Unreachable: the message names the URL.
        source = _source(
            tmp_path, {**section, "url": f"http://gw:{SECRET}@127.0.0.1:{free_port()}"}
        )
        source.refresh()
        assert source.status.state == "never"
        assert "cannot reach the control plane at http://***@127.0.0.1:" in str(source.status.error)
        assert SECRET not in str(source.status.error)
        # Reached, and the token refused (401): the message names the URL too.
        with fake_control_plane() as fake:
            token = tmp_path / "wrong-token"
            token.write_text("ipt_0000000000000000_wrong\n")
            url = f"http://gw:{SECRET}@127.0.0.1:{fake.port}"
            source = _source(tmp_path, {**section, "url": url, "token": {"file": str(token)}})
            source.refresh()
        error = str(source.status.error)
        assert "refused the gateway's token (401)" in error and SECRET not in error
        stored = Store(tmp_path / "store").read_status()
        assert stored is not None and SECRET not in str(stored.error)
    assert not [r for r in caplog.records if SECRET in r.getMessage()]
