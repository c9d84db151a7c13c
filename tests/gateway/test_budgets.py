"""Budgets, spend and concurrency caps through a running gateway: with Redis and without.

The Redis tests use the machine's Redis on 127.0.0.1:6379 under a key prefix of their own
(``prefix`` fixture, deleted afterwards).
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import openai
import pytest

from ironplane.gateway.usage import UsageRecord
from tests.gateway.conftest import OTHER_KEY, Handle, base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream, wait_for
from tests.gateway.redis_helpers import SHARED, keys, prefix, redis_cmd

__all__ = ["prefix"]  # the fixture

MESSAGES = [{"role": "user", "content": "hi"}]
STREAM_COST = (5 * 1.0 + 5 * 3.0) / 1e6
"""The mock's stream with usage: 5 prompt and 5 completion tokens, at $1 / $3 per million."""


def _config(upstream: MockUpstream, redis_prefix: str | None, **models: Any) -> dict[str, Any]:
    cfg = base_config(upstream.url, **models)
    cfg["prices"] = {"gpt": {"input": 1.0, "output": 3.0}}
    if redis_prefix is not None:
        # A generous timeout: a busy test machine must not make these tests fall back.
        cfg["redis"] = {
            "url": f"redis://127.0.0.1:{SHARED[1]}/0",
            "prefix": redis_prefix,
            "timeout": "1s",
        }
    return cfg


def _stream(gw: Handle, key: str | None = None) -> str:
    client = gw.client() if key is None else gw.client(key)
    stream = client.chat.completions.create(
        model="gpt", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def _records(gw: Handle) -> list[UsageRecord]:
    seen: list[UsageRecord] = []

    def plug() -> None:
        gw.running.gateway.governor.sink = seen.append

    gw.call(plug)
    return seen


@pytest.mark.parametrize("backend", ["redis", "local"])
def test_a_spent_daily_key_budget_refuses_with_429(
    backend: str, upstream: MockUpstream, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_prefix = request.getfixturevalue("prefix") if backend == "redis" else None
    cfg = _config(upstream, redis_prefix)
    cfg["keys"][0]["budget"] = {"daily": STREAM_COST * 1.5}
    with running_gateway(cfg, tmp_path) as gw:
        records = _records(gw)
        assert gw.call(lambda: gw.running.gateway.metrics.limit_backend) == backend
        assert _stream(gw) == "tok0 tok1 tok2 tok3 tok4 "  # spends 1 of 1.5
        assert _stream(gw)  # 1 < 1.5: admitted; now 2 of 1.5
        with pytest.raises(openai.RateLimitError) as refused:
            _stream(gw)
        body = refused.value.body
        assert isinstance(body, dict)
        assert body["type"] == "budget_exceeded" and body["code"] == "budget_exceeded"
        message = refused.value.message
        assert "the daily budget of key 'alice' ($0.00003) is spent ($0.00004 so far)" in message
        assert "resets at " in message and "T00:00:00Z (UTC)" in message
        assert len(upstream.requests) == 2  # refused before going upstream
        gw.client(OTHER_KEY).chat.completions.create(
            model="gpt", messages=MESSAGES
        )  # bob: no budget
        # The cost came from the usage in the stream's last chunk: prompt 5, completion 5.
        wait_for(lambda: len(records) == 4)  # records land just after each answer ends
        ok = [r for r in records if r.status == 200 and r.key == "alice"]
        assert [(r.prompt_tokens, r.completion_tokens, r.stream) for r in ok] == [(5, 5, True)] * 2
        assert ok[0].cost == pytest.approx(STREAM_COST) and ok[0].target == "mock/ok"
        refusal = next(r for r in records if r.status == 429)
        assert (refusal.key, refusal.model, refusal.target, refusal.cost) == (
            "alice",
            "gpt",
            None,
            0,
        )
        assert gw.call(lambda: dict(gw.running.gateway.metrics.budget_refusals)) == {"key": 1}
        assert gw.call(lambda: dict(gw.running.gateway.metrics.rejected)) == {
            ("budget_exceeded", 429): 1
        }
    if redis_prefix is not None:
        day = [k for k in keys(SHARED[1], redis_prefix) if ":spend:key:alice:d:" in k]
        assert len(day) == 1
        assert float(redis_cmd(SHARED[1], "GET", day[0])) == pytest.approx(STREAM_COST * 2)
        assert 0 < redis_cmd(SHARED[1], "TTL", day[0]) <= 86400 + 3600


def test_a_team_budget_covers_its_keys(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = _config(upstream, None)
    cfg["teams"] = [{"name": "ml", "budget": {"monthly": STREAM_COST / 2}}]
    cfg["keys"][0]["team"] = "ml"
    cfg["keys"][1]["team"] = "ml"
    with running_gateway(cfg, tmp_path) as gw:
        records = _records(gw)
        _stream(gw)  # alice spends the team's month
        with pytest.raises(openai.RateLimitError) as refused:
            _stream(gw, OTHER_KEY)  # bob, same team
        assert "the monthly budget of team 'ml' ($0.00001) is spent" in refused.value.message
        wait_for(lambda: len(records) == 2)
        assert [r.team for r in records] == ["ml", "ml"]
        assert gw.call(lambda: dict(gw.running.gateway.metrics.budget_refusals)) == {"team": 1}


def test_spend_in_redis_survives_a_restart(
    prefix: str, upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = _config(upstream, prefix)
    cfg["keys"][0]["budget"] = {"monthly": STREAM_COST}
    with running_gateway(cfg, tmp_path) as gw:
        _stream(gw)
    with running_gateway(cfg, tmp_path) as again:
        with pytest.raises(openai.RateLimitError) as refused:
            _stream(again)
        assert "monthly budget of key 'alice'" in refused.value.message


@pytest.mark.parametrize("backend", ["redis", "local"])
def test_concurrency_cap_holds_and_every_ending_releases(
    backend: str, upstream: MockUpstream, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_prefix = request.getfixturevalue("prefix") if backend == "redis" else None
    cfg = _config(
        upstream,
        redis_prefix,
        gpt={"targets": [{"provider": "mock", "model": "ok"}]},
        slow={"targets": [{"provider": "mock", "model": "slow-1500"}]},
        hang={"targets": [{"provider": "mock", "model": "hang"}]},
        broken={"targets": [{"provider": "mock", "model": "status-500"}], "retries": 0},
    )
    cfg["keys"][0]["limits"] = {"concurrency": 1}
    with (
        running_gateway(cfg, tmp_path) as gw,
        concurrent.futures.ThreadPoolExecutor() as pool,
    ):
        client = gw.client()
        slow = pool.submit(client.chat.completions.create, model="slow", messages=MESSAGES)
        wait_for(lambda: len(upstream.requests) == 1)
        with pytest.raises(openai.RateLimitError) as busy:
            client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert "key 'alice' has 1 requests in flight, its concurrency limit" in busy.value.message
        assert busy.value.response.headers["retry-after"] == "1"
        gw.client(OTHER_KEY).chat.completions.create(model="gpt", messages=MESSAGES)  # bob
        slow.result()
        client.chat.completions.create(model="gpt", messages=MESSAGES)  # released at the end
        # An upstream error releases it too.
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="broken", messages=MESSAGES)
        client.chat.completions.create(model="gpt", messages=MESSAGES)
        # A client that leaves mid-request releases it.
        with pytest.raises(openai.APITimeoutError):
            gw.client(timeout=0.5).chat.completions.create(model="hang", messages=MESSAGES)
        wait_for(lambda: gw.call(lambda: gw.running.gateway.metrics.in_flight) == 0)
        client.chat.completions.create(model="gpt", messages=MESSAGES)
    if redis_prefix is not None:  # every slot was removed from its set
        assert [k for k in keys(SHARED[1], redis_prefix) if k.endswith(":c")] == []


def test_model_and_team_limits_apply_on_redis(
    prefix: str, upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = _config(upstream, prefix, gpt={"targets": [{"provider": "mock", "model": "ok"}]})
    cfg["models"][0]["limits"] = {"tpm": 20}
    cfg["teams"] = [{"name": "ml", "limits": {"rpm": 3}}]
    cfg["keys"][1]["team"] = "ml"
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        client.chat.completions.create(model="gpt", messages=MESSAGES)  # 12 tokens
        client.chat.completions.create(model="gpt", messages=MESSAGES)  # 24 of 20: over
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert "tokens-per-minute limit of model 'gpt'" in limited.value.message
        assert int(limited.value.response.headers["retry-after"]) in range(12, 14)  # 4 of 20/min
    with running_gateway({**cfg, "models": [{**cfg["models"][0], "limits": None}]}, tmp_path) as gw:
        bob = gw.client(OTHER_KEY)
        for _ in range(3):
            bob.chat.completions.create(model="gpt", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as limited:
            bob.chat.completions.create(model="gpt", messages=MESSAGES)
        assert "requests-per-minute limit of team 'ml'" in limited.value.message


def test_slots_of_a_replica_that_died_expire(
    prefix: str, upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = _config(upstream, prefix)
    cfg["keys"][0]["limits"] = {"concurrency": 1}
    zset = f"{prefix}key:alice:c"
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        now = float(redis_cmd(SHARED[1], "TIME")[0])
        # A slot held by a live replica (its expiry ahead) fills the cap ...
        redis_cmd(SHARED[1], "ZADD", zset, str(now + 60), "other-replica:1")
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt", messages=MESSAGES)
        # ... one whose replica stopped refreshing it (its expiry passed) does not.
        redis_cmd(SHARED[1], "ZADD", zset, str(now - 1), "other-replica:1")
        client.chat.completions.create(model="gpt", messages=MESSAGES)
        # (released with the next call after the answer went out: it may land a moment later)
        wait_for(lambda: redis_cmd(SHARED[1], "ZCARD", zset) == 0)


def test_a_fallback_is_priced_at_its_own_price(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = _config(
        upstream,
        None,
        gpt={"targets": [{"provider": "mock", "model": "status-500"}], "retries": 0},
        cheap={"targets": [{"provider": "mock", "model": "ok"}]},
    )
    cfg["models"][0]["fallbacks"] = ["cheap"]
    cfg["prices"] = {
        "gpt": {"input": 100.0, "output": 300.0},
        "cheap": {"input": 1.0, "output": 3.0},
    }
    with running_gateway(cfg, tmp_path) as gw:
        records = _records(gw)
        assert _stream(gw) == "tok0 tok1 tok2 tok3 tok4 "  # answered by the fallback
        wait_for(lambda: len(records) == 1)  # recorded once the upstream's stream has ended
        (record,) = records
        assert (record.model, record.target) == ("gpt", "mock/ok")  # asked for gpt
        assert record.cost == pytest.approx(STREAM_COST)  # at cheap's price
