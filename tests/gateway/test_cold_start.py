"""``cold_start``: a request to a model whose target is starting is held until it is up.

The upstream "starts" by opening the mock on a port that refused connections until then (or by
a mock answering 503 as a mesh proxy with no endpoint does). Time is only bounded from below
(a hold cannot end before ``cold_start``); everything else waits on the gauge.
"""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ironplane.gateway import hold
from tests.gateway.conftest import KEY, Handle, base_config, running_gateway, targets
from tests.gateway.openai_mock import MockUpstream, openai_upstream, wait_for
from tests.ports import free_port

MESSAGES = [{"role": "user", "content": "hi"}]


def _config(port: int, **model: Any) -> dict[str, Any]:
    """Model ``gpt`` with one target on ``port`` (nothing listens there yet)."""
    return base_config(f"http://127.0.0.1:{port}/v1", gpt=targets("ok", retries=0, **model))


def _waiting(gw: Handle, model: str = "gpt") -> int | None:
    g = gw.running.gateway
    return gw.call(lambda: g.metrics.waiting.get(model))


def _holds(gw: Handle) -> dict[tuple[str, str], int]:
    g = gw.running.gateway
    return gw.call(lambda: dict(g.metrics.holds))


def _upstream_errors(gw: Handle) -> dict[tuple[str, str, str], int]:
    g = gw.running.gateway
    return gw.call(lambda: dict(g.metrics.upstream_errors))


def _scraped(gw: Handle, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(gw.url + "/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def _in_background(fn: Any) -> Future[Any]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(fn)
    pool.shutdown(wait=False)
    return future


def test_a_request_is_held_until_the_target_starts(tmp_path: Path) -> None:
    port = free_port()
    cfg = _config(port, cold_start="30s")
    # One counted failure would rest the target for longer than the client waits.
    cfg["gateway"] = {"cooldown_failures": 1, "cooldown": "10m"}
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client(timeout=30)
        assert _scraped(gw, "ironplane_gateway_waiting_requests") == {(("model", "gpt"),): 0}
        answer = _in_background(
            lambda: client.chat.completions.create(model="gpt", messages=MESSAGES)
        )
        wait_for(lambda: _waiting(gw) == 1)
        # Visible to Prometheus (and so to KEDA) while held.
        assert _scraped(gw, "ironplane_gateway_waiting_requests") == {(("model", "gpt"),): 1}
        assert not answer.done()
        with openai_upstream(port=port) as upstream:
            reply = answer.result(30)
            assert reply.choices[0].message.content == "hello from ok"
            assert len(upstream.requests) == 1
            # The refused attempts were no failures: the target is healthy, nothing cools.
            target = gw.running.gateway.state.routes["gpt"].targets[0]
            assert gw.call(lambda: (target.failures, target.probing)) == (0, False)
            assert _upstream_errors(gw) == {}
            assert gw.call(lambda: dict(gw.running.gateway.metrics.retries)) == {}
            assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices
        assert _waiting(gw) == 0
        assert _holds(gw) == {("gpt", "success"): 1}
        assert _scraped(gw, "ironplane_gateway_cold_start_holds_total") == {
            (("model", "gpt"), ("result", "success")): 1
        }


def test_a_stream_is_held_then_relayed(tmp_path: Path) -> None:
    port = free_port()
    with running_gateway(_config(port, cold_start="30s"), tmp_path) as gw:
        client = gw.client(timeout=30)

        def stream() -> list[str | None]:
            chunks = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
            return [c.choices[0].delta.content for c in chunks if c.choices]

        answer = _in_background(stream)
        wait_for(lambda: _waiting(gw) == 1)
        with openai_upstream(port=port):
            assert answer.result(30) == ["tok0 ", "tok1 ", "tok2 ", "tok3 ", "tok4 ", None]
        assert _waiting(gw) == 0
        assert _holds(gw) == {("gpt", "success"): 1}


def test_503_from_a_proxy_with_no_endpoint_is_held(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(upstream.url, gpt=targets("starting-2", retries=0, cold_start="30s"))
    with running_gateway(cfg, tmp_path) as gw:
        reply = gw.client(timeout=30).chat.completions.create(model="gpt", messages=MESSAGES)
        assert reply.choices[0].message.content == "hello from starting-2"
        assert len(upstream.requests) == 3
        assert _upstream_errors(gw) == {}
        assert _holds(gw) == {("gpt", "success"): 1}


def test_a_hold_that_runs_out_ends_with_the_usual_error(tmp_path: Path) -> None:
    port = free_port()
    with running_gateway(_config(port, cold_start="1s"), tmp_path) as gw:
        started = time.monotonic()
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "gpt", "messages": []},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        assert time.monotonic() - started >= 1.0  # not before the hold could have ended
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "upstream_error"
        assert "cannot connect" in r.json()["error"]["message"]
        # After the hold, the attempt that failed counts as usual (retries: 0, so one).
        assert _upstream_errors(gw) == {("gpt", "mock/ok", "connect"): 1}
        assert _holds(gw) == {("gpt", "timeout"): 1}
        assert _waiting(gw) == 0


def test_after_a_hold_of_503s_the_upstreams_answer_is_relayed(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    cfg = base_config(upstream.url, gpt=targets("status-503", retries=1, cold_start="1s"))
    with running_gateway(cfg, tmp_path) as gw:
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert time.monotonic() - started >= 1.0
        assert failed.value.status_code == 503
        assert "mock status 503" in failed.value.message
        # Held attempts, then the first after the hold and its one retry: only those count.
        assert len(upstream.requests) >= 3
        assert _upstream_errors(gw) == {("gpt", "mock/status-503", "status_5xx"): 2}
        assert gw.call(lambda: dict(gw.running.gateway.metrics.retries)) == {"gpt": 1}


def test_fallbacks_come_after_the_hold(upstream: MockUpstream, tmp_path: Path) -> None:
    cfg = base_config(
        upstream.url,
        gpt=targets("ok", retries=0, cold_start="1s", fallbacks=["backup"]),
        backup=targets("ok"),
    )
    cfg["providers"].append(
        {"name": "cold", "kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"}
    )
    cfg["models"][0]["targets"][0]["provider"] = "cold"
    with running_gateway(cfg, tmp_path) as gw:
        started = time.monotonic()
        reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert time.monotonic() - started >= 1.0
        assert reply.choices[0].message.content == "hello from ok"
        assert gw.call(lambda: dict(gw.running.gateway.metrics.fallbacks)) == {("gpt", "backup"): 1}
        assert _holds(gw) == {("gpt", "timeout"): 1}


def test_another_target_that_is_up_is_tried_without_waiting(
    upstream: MockUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hold, "FIRST_WAIT", 600.0)  # a wait would outlast the client
    cfg = base_config(upstream.url, gpt=targets("ok", "ok", strategy="priority", retries=0))
    cfg["models"][0]["cold_start"] = "30s"
    cfg["providers"].append(
        {"name": "cold", "kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"}
    )
    cfg["models"][0]["targets"][0]["provider"] = "cold"
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client(timeout=30)
        assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices
        assert len(upstream.requests) == 1
        assert _holds(gw) == {("gpt", "success"): 1}
        cold = gw.running.gateway.state.routes["gpt"].targets[0]
        assert gw.call(lambda: cold.failures) == 0


def test_a_client_that_leaves_frees_its_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first wait far longer than the test: the timer must be cancelled, not left to fire.
    monkeypatch.setattr(hold, "FIRST_WAIT", 600.0)
    port = free_port()
    with running_gateway(_config(port, cold_start="30m"), tmp_path) as gw:
        g = gw.running.gateway
        baseline_tasks = gw.call(lambda: len(asyncio.all_tasks()))
        body = b'{"model":"gpt","messages":[]}'
        with socket.create_connection(("127.0.0.1", gw.port)) as s:
            s.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + KEY.encode()
                + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
                + body
            )

            def timer() -> Any:
                exchanges = [c.exchange for c in g.connections if c.exchange is not None]
                if len(exchanges) != 1 or exchanges[0].hold is None:
                    return None
                return exchanges[0].hold.timer

            wait_for(lambda: gw.call(timer) is not None)
            handle = gw.call(timer)
            assert _waiting(gw) == 1
        wait_for(lambda: _waiting(gw) == 0)
        assert gw.call(handle.cancelled)
        assert _holds(gw) == {("gpt", "cancelled"): 1}
        assert gw.call(lambda: g.metrics.in_flight) == 0
        assert gw.call(lambda: len(asyncio.all_tasks())) == baseline_tasks
        statuses = gw.call(lambda: dict(g.metrics.of("gpt", "mock/ok", "alice").statuses))
        assert statuses == {499: 1}


def test_without_cold_start_a_refused_target_fails_at_once(tmp_path: Path) -> None:
    port = free_port()
    with running_gateway(_config(port), tmp_path) as gw:
        with pytest.raises(openai.InternalServerError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert failed.value.status_code == 502
        assert _upstream_errors(gw) == {("gpt", "mock/ok", "connect"): 1}
        assert _holds(gw) == {}
        assert _scraped(gw, "ironplane_gateway_waiting_requests") == {}
