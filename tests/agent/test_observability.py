"""The agent's /metrics and /healthz endpoint, its metric helpers and its settings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ironplane.agent.http import AgentHttp
from ironplane.agent.metrics import AgentMetrics, kind_of
from ironplane.agent.settings import from_env
from ironplane.core.errors import InvalidError

BASE = {"IRONPLANE_SERVER_URL": "https://cp.example", "IRONPLANE_AGENT_TOKEN": "ipt_x_y"}


async def _get(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_metrics_and_healthz_answer_over_http() -> None:
    metrics = AgentMetrics()
    metrics.connected.set(1)
    metrics.applies.labels("ok").inc(3)
    state: dict[str, Any] = {"ok": True}

    def health() -> tuple[bool, dict[str, Any]]:
        return state["ok"], {"connected": True, "applied_revision": 7}

    async def main() -> list[tuple[int, bytes]]:
        server = AgentHttp(metrics=metrics.render, health=health)
        port = await server.start("127.0.0.1", 0)
        try:
            answers = [
                await _get(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
                await _get(port, b"GET /healthz HTTP/1.1\r\n\r\n"),
            ]
            state["ok"] = False
            answers.append(await _get(port, b"GET /healthz?verbose=1 HTTP/1.1\r\n\r\n"))
            answers.append(await _get(port, b"GET /nope HTTP/1.1\r\n\r\n"))
            answers.append(await _get(port, b"POST /metrics HTTP/1.1\r\n\r\n"))
            return answers
        finally:
            await server.close()

    scrape, healthy, failing, missing, post = asyncio.run(main())
    assert scrape[0] == 200
    assert b"ironplane_agent_connected 1.0" in scrape[1]
    assert b'ironplane_agent_applies_total{result="ok"} 3.0' in scrape[1]
    assert b"_created" not in scrape[1]
    assert healthy[0] == 200
    assert json.loads(healthy[1]) == {"status": "ok", "connected": True, "applied_revision": 7}
    assert failing[0] == 503 and json.loads(failing[1])["status"] == "failing"
    assert missing[0] == 404 and post[0] == 405


def test_the_kind_of_an_apply_error_is_bounded() -> None:
    assert kind_of("cannot apply Deployment prod/chat-api: 422 Invalid: bad") == "Deployment"
    assert kind_of("cannot apply Rollout prod/chat: 404 NotFound") == "Rollout"
    assert kind_of("cannot apply Frobnicator prod/x: 500") == "unknown"
    assert kind_of("RuntimeError('boom')") == "unknown"


def test_settings_read_the_observability_variables() -> None:
    settings = from_env(
        {
            **BASE,
            "IRONPLANE_METRICS_PORT": "9464",
            "IRONPLANE_PROMETHEUS_URL": "http://prom.monitoring:9090",
            "IRONPLANE_TELEMETRY_INTERVAL_S": "15",
            "IRONPLANE_LOG_FORMAT": "text",
        }
    )
    assert settings.metrics_port == 9464 and settings.metrics_host == "0.0.0.0"
    assert settings.prometheus_url == "http://prom.monitoring:9090"
    assert settings.telemetry_interval_s == 15.0 and settings.log_format == "text"
    defaults = from_env(BASE)
    assert defaults.metrics_port is None and defaults.log_format == "json"
    assert defaults.prometheus_url is None and not defaults.telemetry_off
    assert from_env({**BASE, "IRONPLANE_PROMETHEUS_URL": "off"}).telemetry_off
    assert from_env(BASE, metrics_port=0).metrics_port == 0  # a CLI option wins


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("IRONPLANE_METRICS_PORT", "many", "not a number"),
        ("IRONPLANE_METRICS_PORT", "70000", "metrics port"),
        ("IRONPLANE_TELEMETRY_INTERVAL_S", "1", "at least 5 seconds"),
        ("IRONPLANE_PROMETHEUS_URL", "prom:9090", "http:// or https://"),
        ("IRONPLANE_LOG_FORMAT", "xml", "json or text"),
    ],
)
def test_bad_observability_settings_are_refused(name: str, value: str, error: str) -> None:
    with pytest.raises(InvalidError, match=error):
        from_env({**BASE, name: value})
