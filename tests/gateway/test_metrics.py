"""Prometheus metrics: what each request records, and sums across workers."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ironplane.gateway.metrics import Metrics
from tests.gateway.conftest import base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream, wait_for

MESSAGES = [{"role": "user", "content": "hi"}]


def lab(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_requests_latency_tokens_and_rejections(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "mock", "model": "ok"}]})
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        client.chat.completions.create(model="gpt", messages=MESSAGES)
        list(client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=MESSAGES)
        with pytest.raises(openai.AuthenticationError):
            gw.client("sk-bad").chat.completions.create(model="gpt", messages=MESSAGES)
        # The client stops at [DONE]; the gateway records when the upstream's stream ends.
        wait_for(lambda: gw.call(lambda: gw.running.gateway.metrics.in_flight) == 0)
        text = httpx.get(gw.url + "/metrics").text
    s = _samples(text)
    series = (("key", "alice"), ("model", "gpt"), ("target", "mock/ok"))
    assert s[("ironplane_gateway_requests_total", lab(*series, ("status", "200")))] == 2
    assert s[("ironplane_gateway_request_duration_seconds_count", series)] == 2
    assert s[("ironplane_gateway_overhead_seconds_count", series)] == 2
    assert s[("ironplane_gateway_upstream_duration_seconds_count", series)] == 2
    assert s[("ironplane_gateway_time_to_first_token_seconds_count", series)] == 1
    # 5 in and 7 out from the JSON answer's usage; 5 and 5 from the stream's, which the gateway
    # asked the upstream for (the client did not).
    tokens = {k[1][0][1]: v for k, v in s.items() if k[0] == "ironplane_gateway_tokens_total"}
    assert tokens == {"in": 5 + 5, "out": 7 + 5}
    assert (
        s[("ironplane_gateway_rejected_total", (("reason", "model_not_found"), ("status", "404")))]
        == 1
    )
    assert (
        s[("ironplane_gateway_rejected_total", (("reason", "unauthenticated"), ("status", "401")))]
        == 1
    )
    assert s[("ironplane_gateway_target_healthy", (("model", "gpt"), ("target", "mock/ok")))] == 1
    assert s[("ironplane_gateway_in_flight", ())] == 0
    # The overhead is the gateway's own time: a fraction of the whole.
    assert (
        s[("ironplane_gateway_overhead_seconds_sum", series)]
        < s[("ironplane_gateway_request_duration_seconds_sum", series)]
    )


def test_metrics_switched_off(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url)
    cfg["gateway"] = {"metrics": False}
    with running_gateway(cfg, tmp_path) as gw:
        gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert httpx.get(gw.url + "/metrics").status_code == 404
        assert gw.call(lambda: len(gw.running.gateway.metrics.series)) == 0


def test_workers_snapshots_add_up(tmp_path: Path) -> None:
    first, second = Metrics(str(tmp_path), 0), Metrics(str(tmp_path), 1)
    for m, n in ((first, 2), (second, 3)):
        for _ in range(n):
            series = m.of("gpt", "mock/ok", "alice")
            series.statuses[200] = series.statuses.get(200, 0) + 1
            series.request.observe(0.02)
            series.tokens_out += 10
        m.reject("unauthenticated", 401)
        m.publish()
    second.of("other", "mock/ok", "bob").statuses[500] = 1
    s = _samples(first.render().decode())
    labels = (("key", "alice"), ("model", "gpt"), ("target", "mock/ok"))
    assert s[("ironplane_gateway_requests_total", lab(*labels, ("status", "200")))] == 5
    assert s[("ironplane_gateway_request_duration_seconds_count", labels)] == 5
    assert (
        s[("ironplane_gateway_request_duration_seconds_bucket", lab(*labels, ("le", "0.025")))] == 5
    )
    assert s[("ironplane_gateway_tokens_total", lab(("direction", "out"), *labels))] == 50
    assert (
        s[("ironplane_gateway_rejected_total", (("reason", "unauthenticated"), ("status", "401")))]
        == 2
    )
    # Only published counters count: the second worker's later change is not in its snapshot.
    assert not any(k[1] and ("model", "other") in k[1] for k in s)


def test_waiting_requests_and_holds_add_up_across_workers(tmp_path: Path) -> None:
    first, second, third = (Metrics(str(tmp_path), i) for i in range(3))
    first.waiting.update({"llama": 1, "idle": 0})
    second.waiting.update({"llama": 2})
    second.hold_ended("llama", "success")
    third.hold_ended("llama", "success")
    third.hold_ended("llama", "timeout")
    for m in (first, second, third):
        m.publish()
    s = _samples(first.render().decode())
    # KEDA reads the sum over workers (and over gateway replicas, in its query).
    assert s[("ironplane_gateway_waiting_requests", (("model", "llama"),))] == 3
    assert s[("ironplane_gateway_waiting_requests", (("model", "idle"),))] == 0
    holds = "ironplane_gateway_cold_start_holds_total"
    assert s[(holds, (("model", "llama"), ("result", "success")))] == 2
    assert s[(holds, (("model", "llama"), ("result", "timeout")))] == 1
    # A held request that ends is off the gauge once its worker publishes again.
    second.waiting["llama"] = 0
    second.publish()
    assert (
        _samples(first.render().decode())[
            ("ironplane_gateway_waiting_requests", (("model", "llama"),))
        ]
        == 1
    )
