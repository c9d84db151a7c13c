"""Token buckets per key and per model: refusals with Retry-After, refills, token debits."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from ironplane.core.errors import RateLimitedError
from ironplane.gateway.limits import Bucket, Limit, admit, charge
from tests.gateway.conftest import OTHER_KEY, base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream

MESSAGES = [{"role": "user", "content": "hi"}]


def test_bucket_bursts_a_minute_then_refills_at_the_rate() -> None:
    b = Bucket(60, now=0.0)
    for _ in range(60):
        assert b.wait(0.0, 1) == 0.0
        b.take(1)
    assert b.wait(0.0, 1) == pytest.approx(1.0)
    assert b.wait(0.5, 1) == pytest.approx(0.5)
    assert b.wait(1.0, 1) == 0.0
    assert b.wait(1000.0, 1) == 0.0 and b.tokens == 60  # never above capacity


def test_admit_takes_from_both_or_neither() -> None:
    key = Limit("key 'a'", rpm=10, tpm=None, share=1, now=0.0)
    model = Limit("model 'm'", rpm=1, tpm=None, share=1, now=0.0)
    admit(0.0, key, model)
    with pytest.raises(RateLimitedError) as limited:
        admit(0.0, key, model)
    assert "model 'm'" in limited.value.message
    assert limited.value.retry_after_s == pytest.approx(60.0)
    assert key.requests is not None and key.requests.tokens == 9  # the refusal took nothing


def test_token_limit_is_debited_after_the_answer() -> None:
    key = Limit("key 'a'", rpm=None, tpm=100, share=1, now=0.0)
    admit(0.0, key, None)
    charge(0.0, 250, key, None)  # one big answer overdraws the bucket
    with pytest.raises(RateLimitedError) as limited:
        admit(0.0, key, None)
    assert "tokens-per-minute limit of key 'a'" in limited.value.message
    assert limited.value.retry_after_s == pytest.approx(90.0, rel=0.01)
    admit(91.0, key, None)


def test_workers_share_a_limit() -> None:
    limit = Limit("key 'a'", rpm=600, tpm=None, share=4, now=0.0)
    assert limit.requests is not None and limit.requests.capacity == 150


def test_key_limit_refuses_with_429_and_retry_after(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url)
    cfg["keys"][0]["limits"] = {"rpm": 2}
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        for _ in range(2):
            client.chat.completions.create(model="gpt", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert limited.value.response.headers["retry-after"] == "30"
        assert "requests-per-minute limit of key 'alice'" in limited.value.message
        assert len(upstream.requests) == 2
        # Another key has its own budget.
        gw.client(OTHER_KEY).chat.completions.create(model="gpt", messages=MESSAGES)


def test_model_token_limit_counts_the_usage(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(
        upstream.url, gpt={"targets": [{"provider": "mock", "model": "ok"}], "limits": {"tpm": 20}}
    )
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        client.chat.completions.create(model="gpt", messages=MESSAGES)  # 12 tokens
        client.chat.completions.create(model="gpt", messages=MESSAGES)  # 24: over
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert "tokens-per-minute limit of model 'gpt'" in limited.value.message
        rejected = gw.call(lambda: dict(gw.running.gateway.metrics.rejected))
        assert rejected == {("rate_limited", 429): 1}


def test_limits_switched_off(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url)
    cfg["keys"][0]["limits"] = {"rpm": 1}
    cfg["gateway"] = {"limits": False}
    with running_gateway(cfg, tmp_path) as gw:
        for _ in range(3):
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
