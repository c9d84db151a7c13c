"""Retries, fallbacks, cooldown and probing, strategies and timeouts, against a misbehaving mock."""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import KEY, base_config, running_gateway, targets
from tests.gateway.openai_mock import MockUpstream

MESSAGES = [{"role": "user", "content": "hi"}]


def upstream_errors(gw: Any) -> dict[str, int]:
    return {
        "/".join(k): v
        for k, v in gw.call(lambda: dict(gw.running.gateway.metrics.upstream_errors)).items()
    }


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("status-500", "status_5xx"),
        ("status-503", "status_5xx"),
        ("status-429", "status_429"),
        ("reset", "closed"),
        ("garbage", "bad_response"),
        ("badjson", "bad_response"),
    ],
)
def test_a_failing_target_is_retried_on_another(
    upstream: MockUpstream, tmp_path: Path, bad: str, reason: str
) -> None:
    cfg = base_config(upstream.url, gpt=targets(bad, "ok", strategy="priority", retries=1))
    with running_gateway(cfg, tmp_path) as gw:
        reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert reply.choices[0].message.content == "hello from ok"
        assert [r.json["model"] for r in upstream.requests] == [bad, "ok"]
        assert upstream_errors(gw) == {f"gpt/mock/{bad}/{reason}": 1}


def test_refused_connection_is_retried(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt=targets("ok", "ok", strategy="priority", retries=1))
    cfg["providers"].insert(
        0, {"name": "dead", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"}
    )
    cfg["models"][0]["targets"][0]["provider"] = "dead"
    with running_gateway(cfg, tmp_path) as gw:
        reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert reply.choices[0].message.content == "hello from ok"
        assert upstream_errors(gw) == {"gpt/dead/ok/connect": 1}


def test_retries_exhausted_relays_the_last_upstream_answer(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("status-503", retries=2))
    with running_gateway(cfg, tmp_path) as gw:
        with pytest.raises(openai.InternalServerError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert failed.value.status_code == 503
        assert "mock status 503" in failed.value.message
        assert len(upstream.requests) == 3


def test_refused_everywhere_is_502(tmp_path: Path) -> None:
    cfg = base_config("http://127.0.0.1:9/v1", gpt=targets("ok", retries=1))
    with running_gateway(cfg, tmp_path) as gw:
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "gpt", "messages": []},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "upstream_error"
        assert "cannot connect" in r.json()["error"]["message"]


def test_timeout_is_504_and_the_hung_request_is_abandoned(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("hang", retries=0, timeout="300ms"))
    with running_gateway(cfg, tmp_path) as gw:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as timed_out:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert timed_out.value.status_code == 504
        assert 0.25 < time.monotonic() - started < 2
        assert gw.call(lambda: sum(p.open for p in gw.running.gateway.pools.pools.values())) == 0


def test_slow_target_times_out_then_fallback_model_answers(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(
        upstream.url,
        gpt=targets("slow-2000", retries=0, timeout="200ms", fallbacks=["backup"]),
        backup=targets("ok"),
    )
    with running_gateway(cfg, tmp_path) as gw:
        reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert reply.choices[0].message.content == "hello from ok"
        fallbacks = gw.call(lambda: dict(gw.running.gateway.metrics.fallbacks))
        assert fallbacks == {("gpt", "backup"): 1}


def test_cooldown_then_probe(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt=targets("flaky-2", retries=0))
    cfg["gateway"] = {"cooldown_failures": 2, "cooldown": "400ms"}
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="gpt", messages=MESSAGES)
        # Cooling down: refused at once without touching the upstream.
        with pytest.raises(openai.APIStatusError) as cooling:
            client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert cooling.value.status_code == 503
        assert cooling.value.code == "no_healthy_target"
        assert len(upstream.requests) == 2
        assert httpx.get(gw.url + "/healthz").json()["targets_cooling"] == 1
        time.sleep(0.5)
        # The probe goes through, succeeds, and the target is healthy again.
        assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices
        assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices
        assert len(upstream.requests) == 4


def test_weighted_spreads_by_weight(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url)
    cfg["models"] = [
        {
            "name": "gpt",
            "targets": [
                {"provider": "mock", "model": "a", "weight": 3},
                {"provider": "mock", "model": "b", "weight": 1},
            ],
        }
    ]
    with running_gateway(cfg, tmp_path) as gw, httpx.Client() as http:
        for _ in range(400):
            http.post(
                gw.url + "/v1/chat/completions",
                json={"model": "gpt", "messages": []},
                headers={"Authorization": f"Bearer {KEY}"},
            )
    counts = collections.Counter(r.json["model"] for r in upstream.requests)
    assert 240 < counts["a"] < 360, counts


def test_least_latency_prefers_the_faster_target(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt=targets("slow-60", "slow-1", strategy="least_latency"))
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        for _ in range(30):
            client.chat.completions.create(model="gpt", messages=MESSAGES)
    counts = collections.Counter(r.json["model"] for r in upstream.requests)
    assert counts["slow-1"] >= 24, counts


def test_priority_uses_the_first_healthy(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt=targets("a", "b", strategy="priority"))
    with running_gateway(cfg, tmp_path) as gw:
        for _ in range(5):
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert {r.json["model"] for r in upstream.requests} == {"a"}


def test_every_fallback_is_tried_in_order(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(
        upstream.url,
        gpt=targets("status-500", retries=0, fallbacks=["second", "third"]),
        second=targets("status-503", retries=0, fallbacks=["gpt"]),
        third=targets("ok"),
    )
    with running_gateway(cfg, tmp_path) as gw:
        reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert reply.choices[0].message.content == "hello from ok"
        assert [r.json["model"] for r in upstream.requests] == ["status-500", "status-503", "ok"]
        fallbacks = gw.call(lambda: dict(gw.running.gateway.metrics.fallbacks))
        assert fallbacks == {("gpt", "second"): 1, ("gpt", "third"): 1}


def test_a_timeout_after_an_error_answer_is_reported_as_a_timeout(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(
        upstream.url,
        gpt=targets("status-503", "hang", strategy="priority", retries=1, timeout="300ms"),
    )
    with running_gateway(cfg, tmp_path) as gw:
        with pytest.raises(openai.APIStatusError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert failed.value.status_code == 504
