"""The pure part of the gateway snapshot: render, served model ids, canary weights, ETags."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ironplane.server.services.gateway import (
    ModelApp,
    TokenEntry,
    canary_weight,
    claims,
    matches,
    render,
    served_model,
    version_of,
)
from ironplane.spec.kinds import ModelSpec


def spec(**fields: Any) -> ModelSpec:
    base: dict[str, Any] = {
        "kind": "Model",
        "name": "llama",
        "workspace": "prod",
        "engine": "vllm",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
    }
    return ModelSpec.model_validate(base | fields)


def app(workspace: str = "prod", name: str = "llama", **fields: Any) -> ModelApp:
    rollout = fields.pop("rollout", None)
    local = fields.pop("local", False)
    return ModelApp(
        workspace=workspace,
        app=name,
        spec=spec(name=name, workspace=workspace, **fields),
        local=local,
        rollout=rollout,
    )


CANARY = {"strategy": "canary", "phase": "Paused", "canary_weight": 25}


@pytest.mark.parametrize(
    ("fields", "served"),
    [
        ({}, "llama"),
        ({"gateway": {"name": "llama-3.1-8b"}}, "llama-3.1-8b"),
        ({"engine": "sglang"}, "llama"),
        ({"engine": "tgi"}, "meta-llama/Llama-3.1-8B-Instruct"),
        ({"command": ["vllm", "serve", "x"]}, "meta-llama/Llama-3.1-8B-Instruct"),
        (
            {"engine": "custom", "image": "example.com/engine:1", "command": ["serve"]},
            "meta-llama/Llama-3.1-8B-Instruct",
        ),
    ],
)
def test_served_model_follows_the_engine_command(fields: dict[str, Any], served: str) -> None:
    assert served_model(spec(**fields)) == served


@pytest.mark.parametrize(
    ("rollout", "weight"),
    [
        (None, None),
        (CANARY, 25),
        (CANARY | {"canary_weight": 0}, None),
        (CANARY | {"canary_weight": 100}, None),
        (CANARY | {"aborted": True}, None),
        (CANARY | {"canary_weight": True}, None),
        ({"strategy": "blue_green", "phase": "Paused", "canary_weight": 25}, None),
    ],
)
def test_canary_weight(rollout: dict[str, Any] | None, weight: int | None) -> None:
    assert canary_weight(rollout) == weight


def test_a_canary_on_the_local_runtime_is_one_target() -> None:
    config = render([app(local=True, rollout=CANARY)], [])
    assert [p.base_url for p in config.providers] == ["http://127.0.0.1:8000/v1"]
    assert [(t.provider, t.weight) for t in config.models[0].targets] == [("model:prod/llama", 100)]


def test_a_gateway_name_belongs_to_the_oldest_app_claiming_it() -> None:
    first, later = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    prod = app("prod", "llama", gateway={"name": "llama"}, rollout=CANARY)
    intruder = app("dev", "llama-dev", gateway={"name": "llama"})
    apps = [replace(prod, created_at=first), replace(intruder, created_at=later)]
    config = render(apps, [])
    [model] = config.models
    # Another workspace deploying the same gateway name gets no share of the traffic.
    assert [(t.provider, t.weight) for t in model.targets] == [
        ("model:prod/llama", 75),
        ("model:prod/llama-canary", 25),
    ]
    served, left_out = claims(apps)
    assert [m.app for m in served] == ["llama"]
    assert [(m.app, holder.app) for m, holder in left_out] == [("llama-dev", "llama")]
    # Whoever came first keeps it, whatever the workspace names.
    apps = [replace(prod, created_at=later), replace(intruder, created_at=first)]
    assert [t.provider for t in render(apps, []).models[0].targets] == ["model:dev/llama-dev"]


def test_render_is_canonical_and_the_version_follows_the_content() -> None:
    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    tokens = [
        TokenEntry("bbbbbbbbbbbbbbbb", "11" * 32, "user:zed", None, None),
        TokenEntry("aaaaaaaaaaaaaaaa", "22" * 32, "user:alice", "ml", expiry),
    ]
    apps = [app("prod", "b-model"), app("prod", "a-model")]
    one = render(apps, tokens)
    two = render(list(reversed(apps)), list(reversed(tokens)))
    assert one == two and version_of(one) == version_of(two)
    assert [k.name for k in one.keys] == ["user:alice", "user:zed"]
    assert one.keys[0].expires_at == expiry.timestamp()
    assert one.keys[0].hash == "sha256:" + "22" * 32
    assert [m.name for m in one.models] == ["a-model", "b-model"]
    # Any change the gateway would see moves the version: here, an expiry.
    later = [tokens[0], TokenEntry("aaaaaaaaaaaaaaaa", "22" * 32, "user:alice", "ml", None)]
    assert version_of(render(apps, later)) != version_of(one)


@pytest.mark.parametrize(
    ("header", "hit"),
    [
        (None, False),
        ('"abc"', True),
        ("abc", True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
    ],
)
def test_if_none_match(header: str | None, hit: bool) -> None:
    assert matches(header, "abc") is hit
