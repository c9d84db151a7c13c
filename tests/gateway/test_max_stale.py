"""``control_plane.max_stale``: past it without reaching the control plane, its keys (which may
have been revoked there) are refused while the file's keys keep working."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ironplane.gateway import config as config_file
from tests.gateway.conftest import KEY
from tests.gateway.fake_control_plane import (
    FakeControlPlane,
    cp_gateway,
    cp_section,
    fake_control_plane,
    mint,
    model_config,
)
from tests.gateway.openai_mock import MockUpstream, wait_for

CHAT = [{"role": "user", "content": "hi"}]
CP_KEY = "sk-from-the-control-plane"


@pytest.fixture
def fake() -> Any:
    with fake_control_plane() as cp:
        yield cp


def _status(url: str, key: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "llama", "messages": CHAT},
    )


def test_past_max_stale_the_control_planes_keys_are_refused_and_file_keys_work(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    plain = {"name": "service", "hash": config_file.hash_key(CP_KEY)}  # a whole-key entry
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry, plain])
    ops_token = mint("ops-token")  # an Ironplane token the file itself lists
    data = {
        "control_plane": cp_section(fake, tmp_path, max_stale="400ms"),
        "keys": [{"name": "ops", "hash": config_file.hash_key(KEY)}, ops_token.entry],
    }
    with cp_gateway(data, tmp_path) as (gw, _):
        for key in (alice.bearer, CP_KEY, KEY, ops_token.bearer):
            assert _status(gw.url, key).status_code == 200
        health = httpx.get(gw.url + "/healthz").json()["control_plane"]
        assert health["max_stale_s"] == 0.4 and health["refusing_keys"] is False

        fake.stop()
        wait_for(lambda: _status(gw.url, alice.bearer).status_code == 401)
        refused = _status(gw.url, CP_KEY)
        assert refused.status_code == 401
        message = refused.json()["error"]["message"]
        assert "has not reached the control plane for" in message
        assert "control_plane.max_stale is 0.4s" in message
        models = httpx.get(gw.url + "/v1/models", headers={"authorization": f"Bearer {CP_KEY}"})
        assert models.status_code == 401
        # The file's keys, plain and Ironplane token alike, are not the control plane's.
        assert _status(gw.url, KEY).status_code == 200
        assert _status(gw.url, ops_token.bearer).status_code == 200
        health = httpx.get(gw.url + "/healthz").json()["control_plane"]
        assert health["refusing_keys"] is True
        wait_for(lambda: httpx.get(gw.url + "/healthz").json()["control_plane"]["state"] == "stale")

        fake.start()  # reached again: its keys work again
        wait_for(lambda: _status(gw.url, alice.bearer).status_code == 200)
        assert _status(gw.url, CP_KEY).status_code == 200
        assert httpx.get(gw.url + "/healthz").json()["control_plane"]["refusing_keys"] is False


def test_without_max_stale_a_stale_gateway_keeps_serving_the_control_planes_keys(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    with cp_gateway({"control_plane": cp_section(fake, tmp_path)}, tmp_path) as (gw, source):
        fake.stop()
        wait_for(lambda: source.status.state == "stale")
        checked = source.status.checked_at
        assert checked is not None
        # As long out of reach as the test above takes to refuse, and longer.
        wait_for(lambda: time.time() - checked > 1.0)
        assert _status(gw.url, alice.bearer).status_code == 200
        health = httpx.get(gw.url + "/healthz").json()["control_plane"]
        assert health["max_stale_s"] is None and health["refusing_keys"] is False


def test_max_stale_must_cover_two_refreshes(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("t\n")
    text = f"control_plane: {{url: http://cp, token: {{file: {token}}}, refresh: 10s, "
    with pytest.raises(config_file.ConfigError) as failed:
        config_file.parse((text + "max_stale: 15s}\n").encode(), "gw.yaml", {})
    assert "control_plane.max_stale: max_stale of 15s is shorter than two refreshes" in (
        failed.value.message
    )
    assert "allowed: a duration of at least 20s" in failed.value.message
    loaded = config_file.parse((text + "max_stale: 5m}\n").encode(), "gw.yaml", {})
    assert loaded.config.control_plane is not None
    assert loaded.config.control_plane.max_stale == 300
