"""Control-plane mode: the snapshot applied, refreshed, kept when the control plane is down or
sends a bad one; Ironplane tokens through the real `openai` SDK."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import openai
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


def _health(url: str) -> dict[str, Any]:
    return dict(httpx.get(url + "/healthz").json())


def _metric(url: str, name: str) -> float | None:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(f"ironplane_gateway_{name} "):
            return float(line.split()[1])
    return None


@pytest.fixture
def fake() -> Any:
    with fake_control_plane() as cp:
        yield cp


def test_snapshot_model_and_token_work_with_the_openai_sdk(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice", team="ml")
    alice2 = mint("user:alice")  # a second token of the same principal
    old = mint("user:old", expires_at=time.time() - 1)
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry, alice2.entry, old.entry])
    with cp_gateway({"control_plane": cp_section(fake, tmp_path)}, tmp_path) as (gw, _):
        answer = gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        assert answer.choices[0].message.content == "hello from ok"
        assert gw.client(alice2.bearer).models.list().data[0].id == "llama"
        health = _health(gw.url)
        assert health["control_plane"]["state"] == "ok"
        assert health["control_plane"]["version"] == fake.version
        assert health["models"] == 1

        token_id, secret = alice.bearer[4:20], alice.bearer[21:]
        for bad in (
            f"ipt_{token_id}_{secret}x",  # wrong secret
            f"ipt_{'f' * 16}_{secret}",  # unknown id
            f"ipt_{token_id}",  # no secret
            old.bearer,  # expired
        ):
            with pytest.raises(openai.AuthenticationError) as refused:
                gw.client(bad).chat.completions.create(model="llama", messages=CHAT)
            assert refused.value.status_code == 401
        with pytest.raises(openai.AuthenticationError, match="expired"):
            gw.client(old.bearer).models.list()


def test_304_keeps_the_state_and_a_new_snapshot_swaps_atomically(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url, "slow-1500"), keys=[alice.entry])
    with cp_gateway({"control_plane": cp_section(fake, tmp_path)}, tmp_path) as (gw, _):
        state = gw.running.gateway.state
        version = fake.version
        wait_for(lambda: fake.snapshot_gets.count(f'"{version}"') >= 3)
        assert gw.running.gateway.state is state  # 304s changed nothing

        client = gw.client(alice.bearer)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            slow = pool.submit(client.chat.completions.create, model="llama", messages=CHAT)
            wait_for(lambda: gw.call(lambda: gw.running.gateway.metrics.in_flight) == 1)
            # The model is renamed: "llama" disappears while a request on it is in flight.
            fake.set(**model_config("llama-2", upstream.url), keys=[alice.entry])
            wait_for(lambda: gw.running.gateway.state.loaded.snapshot == fake.version)
            assert "llama" not in gw.running.gateway.state.routes
            assert slow.result(10).choices[0].message.content == "hello from slow-1500"
        assert client.chat.completions.create(model="llama-2", messages=CHAT).choices
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="llama", messages=CHAT)


def test_control_plane_down_keeps_the_last_snapshot_and_says_stale(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    with cp_gateway({"control_plane": cp_section(fake, tmp_path)}, tmp_path) as (gw, _):
        assert _metric(gw.url, "snapshot_stale") == 0
        fake.stop()
        wait_for(lambda: _health(gw.url)["control_plane"]["state"] == "stale")
        health = _health(gw.url)["control_plane"]
        assert health["version"] == fake.version and "cannot reach" in health["error"]
        assert _metric(gw.url, "snapshot_stale") == 1
        age = _metric(gw.url, "snapshot_age_seconds")
        assert age is not None and age >= 0
        client = gw.client(alice.bearer)
        assert client.chat.completions.create(model="llama", messages=CHAT).choices

        fake.start()  # the same port again
        wait_for(lambda: _health(gw.url)["control_plane"]["state"] == "ok")
        assert _metric(gw.url, "snapshot_stale") == 0
        assert client.chat.completions.create(model="llama", messages=CHAT).choices


def test_a_bad_snapshot_is_refused_and_the_last_good_one_kept(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    good = model_config("llama", upstream.url)
    fake.set(**good, keys=[alice.entry])
    with cp_gateway({"control_plane": cp_section(fake, tmp_path)}, tmp_path) as (gw, source):
        version = fake.version
        bad = model_config("llama", upstream.url)
        bad["models"][0]["targets"][0]["provider"] = "model:prod/nothing"
        fake.set(**bad, keys=[alice.entry])
        wait_for(lambda: _health(gw.url)["control_plane"]["state"] == "stale")
        health = _health(gw.url)["control_plane"]
        assert health["version"] == version
        assert "refused" in health["error"]
        assert gw.running.gateway.state.loaded.snapshot == version
        assert gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        assert source.version == version

        # A key that fails its check, one that cannot be decoded, a provider reading a secret.
        fake.set(**good, keys=[{**alice.entry, "hash": "md5:00"}])
        wait_for(lambda: "config.keys[0].hash: not a key hash" in _error(source))
        fake.set(**good, keys=[{**alice.entry, "hash": 5}])
        wait_for(lambda: "not a gateway snapshot" in _error(source))
        assert "$.config.keys[0].hash" in _error(source)
        stolen = model_config("llama", upstream.url)
        stolen["providers"][0]["api_key"] = {"env": "HOME"}
        fake.set(**stolen, keys=[alice.entry])
        wait_for(lambda: "cannot set `api_key`" in _error(source))
        assert source.status.state == "stale" and source.version == version
        assert gw.running.gateway.state.loaded.snapshot == version

        fake.set(**good, keys=[alice.entry])  # the good one again: back to ok
        wait_for(lambda: _health(gw.url)["control_plane"]["state"] == "ok")


def _error(source: Any) -> str:
    return str(source.status.error or "")


def test_first_start_without_the_control_plane_serves_the_file_then_the_snapshot(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    fake.stop()
    data = {
        "control_plane": cp_section(fake, tmp_path),
        "providers": [{"name": "static", "kind": "openai", "base_url": upstream.url}],
        "models": [{"name": "static", "targets": [{"provider": "static", "model": "ok"}]}],
        "keys": [{"name": "ops", "hash": config_file.hash_key(KEY)}],
    }
    with cp_gateway(data, tmp_path) as (gw, _):
        health = _health(gw.url)
        assert health["status"] == "ok"
        assert health["control_plane"]["state"] == "never"
        assert health["control_plane"]["version"] is None
        assert _metric(gw.url, "snapshot_stale") == 1
        assert _metric(gw.url, "snapshot_age_seconds") is None
        # The file's own model and key serve already; what needs the snapshot gets 503.
        assert gw.client(KEY).chat.completions.create(model="static", messages=CHAT).choices
        for key, model in ((alice.bearer, "llama"), (KEY, "llama")):
            response = httpx.post(
                gw.url + "/v1/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={"model": model, "messages": CHAT},
            )
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "no_snapshot"

        fake.start()
        wait_for(lambda: _health(gw.url)["control_plane"]["state"] == "ok")
        wait_for(lambda: gw.running.gateway.state.loaded.snapshot is not None)
        assert gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        assert gw.client(KEY).chat.completions.create(model="static", messages=CHAT)
        # With a snapshot, an unknown model is a plain 404 again.
        with pytest.raises(openai.NotFoundError):
            gw.client(KEY).chat.completions.create(model="nothing", messages=CHAT)


def test_file_entries_win_a_name_clash_with_one_warning(
    upstream: MockUpstream,
    fake: FakeControlPlane,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url, "from-snapshot"), keys=[alice.entry])
    data = {
        "control_plane": cp_section(fake, tmp_path),
        "providers": [{"name": "static", "kind": "openai", "base_url": upstream.url}],
        "models": [{"name": "llama", "targets": [{"provider": "static", "model": "from-file"}]}],
    }
    with (
        caplog.at_level(logging.WARNING, "ironplane.gateway"),
        cp_gateway(data, tmp_path) as (gw, _),
    ):
        wait_for(lambda: len(fake.snapshot_gets) >= 5)
        answer = gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        assert answer.choices[0].message.content == "hello from from-file"
    clashes = [r for r in caplog.records if "replaces the control plane's entry" in r.message]
    assert len(clashes) == 1 and "models 'llama'" in clashes[0].message


def test_the_config_file_in_control_plane_mode(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ipt_x\n")
    text = f"control_plane: {{url: http://cp:8080, token: {{file: {token}}}}}\n"
    loaded = config_file.parse(text.encode(), "gw.yaml", {})
    assert loaded.config.providers == [] and loaded.control_plane_token == "ipt_x"
    assert loaded.config.control_plane is not None
    assert (
        loaded.config.control_plane.refresh == 10 and loaded.config.control_plane.usage_batch == 500
    )

    def problems(text: str, env: dict[str, str] | None = None) -> str:
        with pytest.raises(config_file.ConfigError) as failed:
            config_file.parse(text.encode(), "gw.yaml", env or {})
        return failed.value.message

    assert "gw.yaml:1:45: control_plane.token: the environment variable CP_T is not set" in (
        problems("control_plane: {url: http://cp:8080, token: {env: CP_T}}\n")
    )
    assert "control_plane.url: 'cp:8080' is not the control plane's http(s) URL" in problems(
        "control_plane: {url: 'cp:8080', token: {env: CP_T}}\n", {"CP_T": "t"}
    )
    assert "control_plane.usage_batch: expected `int` <= 5000" in problems(
        "control_plane: {url: http://cp, token: {env: CP_T}, usage_batch: 9000}\n", {"CP_T": "t"}
    )
    message = problems(
        "control_plane: {url: http://cp, token: {env: CP_T}, refrsh: 2s}\n", {"CP_T": "t"}
    )
    assert "unknown field 'refrsh'" in message and "did you mean 'refresh'?" in message
    # Ironplane token entries: a 16-hex id; several may share a principal's name.
    h = config_file.hash_key("s")
    keys = (
        "control_plane: {url: http://cp, token: {env: CP_T}}\n"
        "keys:\n"
        f"  - {{name: user:a, token_id: 00000000000000aa, hash: '{h}'}}\n"
        f"  - {{name: user:a, token_id: 00000000000000bb, hash: '{h}'}}\n"
    )
    assert len(config_file.parse(keys.encode(), "gw.yaml", {"CP_T": "t"}).config.keys) == 2
    message = problems(keys.replace("00000000000000bb", "00000000000000aa"), {"CP_T": "t"})
    assert "keys[1].token_id: the same token as keys[0]" in message
    assert "is not an Ironplane token id" in problems(
        keys.replace("00000000000000bb", "XYZ"), {"CP_T": "t"}
    )
    # Without a control plane the file must still bring its own models.
    assert "expected `array` of length >= 1" in problems("keys: []\n")


def test_removing_the_control_plane_section_is_refused_until_a_restart(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    with cp_gateway({"control_plane": cp_section(fake, tmp_path)}, tmp_path) as (gw, _):
        gw.write_config(
            {
                **model_config("static", upstream.url),
                "keys": [{"name": "ops", "hash": config_file.hash_key(KEY)}],
            }
        )
        assert gw.call(gw.running.reload) is False
        assert (
            "removing `control_plane` takes a restart" in _health(gw.url)["config"]["reload_error"]
        )
        assert gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
