"""Applying a snapshot costs the event loop as little as it can: one /v1/models listing per set
of allowed models (not one per key), and one decode and merge per new snapshot although two
triggers (the fetcher's signal and the store watch) announce it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ironplane.gateway import config as config_file
from ironplane.gateway import worker
from ironplane.gateway.snapshot import decode, merge
from ironplane.gateway.state import State
from ironplane.gateway.upstream import Pools
from tests.gateway.fake_control_plane import (
    FakeControlPlane,
    cp_gateway,
    cp_section,
    fake_control_plane,
    mint,
    model_config,
)
from tests.gateway.openai_mock import MockUpstream, wait_for

TOKENS = 20_000


def _snapshot(tokens: int, models: int = 5) -> bytes:
    providers = [
        {"name": f"model:p/m{i}", "kind": "openai", "base_url": f"http://m{i}.p.svc:8000/v1"}
        for i in range(models)
    ]
    entries = [
        {"name": f"m{i}", "targets": [{"provider": f"model:p/m{i}", "model": "x"}]}
        for i in range(models)
    ]
    keys = [
        {
            "name": f"user:u{i}",
            "token_id": f"{i:016x}",
            "hash": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
            "models": ["*"],
        }
        for i in range(tokens)
    ]
    config = {"providers": providers, "models": entries, "keys": keys}
    return json.dumps({"version": "v1", "config": config}).encode()


def test_a_snapshot_of_20k_tokens_builds_the_models_listing_once_per_model_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    h = config_file.hash_key("k")
    text = (
        f"control_plane: {{url: http://cp, token: {{file: {token}}}}}\n"
        "keys:\n"
        f"  - {{name: only-m1, hash: '{h}', models: [m1]}}\n"
        f"  - {{name: only-m1-too, hash: '{config_file.hash_key('k2')}', models: [m1]}}\n"
    )
    file = config_file.parse(text.encode(), "gw.yaml", {})
    loaded = merge(file, decode(_snapshot(TOKENS), file.config)).loaded

    built = 0
    listing = State._listing

    def counted(self: State, key: Any) -> bytes:
        nonlocal built
        built += 1
        return listing(self, key)

    monkeypatch.setattr(State, "_listing", counted)
    state = State(loaded, Pools(), workers=1, now=0.0)
    # "*" (every token), [m1] (both file keys) and the anonymous key: three, whatever the count.
    assert built == 3
    assert len(state.tokens) == TOKENS
    every = ["m0", "m1", "m2", "m3", "m4"]
    some_token = state.tokens[f"{TOKENS - 1:016x}".encode()].key
    assert [m["id"] for m in msgspec.json.decode(some_token.models_body)["data"]] == every
    only = state.keys[bytes.fromhex(h.removeprefix("sha256:"))]
    assert [m["id"] for m in msgspec.json.decode(only.models_body)["data"]] == ["m1"]


@pytest.fixture
def fake() -> Any:
    with fake_control_plane() as cp:
        yield cp


def test_a_new_snapshot_is_decoded_and_merged_once_despite_two_triggers(
    upstream: MockUpstream,
    fake: FakeControlPlane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    decoded: list[str] = []

    def counted(body: bytes, config: Any, **kw: Any) -> Any:
        snap = decode(body, config, **kw)
        decoded.append(snap.version)
        return snap

    monkeypatch.setattr(worker, "decode", counted)
    with cp_gateway({"control_plane": cp_section(fake, tmp_path)}, tmp_path) as (gw, _):
        running = gw.running
        assert decoded == [fake.version]  # at start
        fake.set(**model_config("llama-2", upstream.url), keys=[alice.entry])
        version = fake.version
        # The fetcher's thread calls reload (as the supervisor's SIGHUP does) ...
        wait_for(lambda: gw.running.gateway.state.loaded.snapshot == version)
        state = running.gateway.state
        # ... then the store watch sees the same new snapshot, and a SIGHUP reloads again:
        assert gw.call(running._read_store) is False
        assert gw.call(running.reload) is True
        assert decoded.count(version) == 1
        assert running.gateway.state is state
        # A change of the file alone is applied (and merges the stored snapshot once more).
        data = {"control_plane": cp_section(fake, tmp_path), "gateway": {"metrics": False}}
        gw.write_config(data)
        assert gw.call(running.reload) is True
        assert running.gateway.state is not state and not running.gateway.state.settings.metrics
        assert decoded.count(version) == 2
