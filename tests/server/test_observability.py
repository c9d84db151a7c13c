"""The control plane's /metrics, request ids and request log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ironplane.core.logs import JsonFormatter
from tests.server.conftest import Server, make_settings, start
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml
from tests.server.helpers import metric_value as value

pytestmark = pytest.mark.anyio

SERVICE = "kind: Service\nname: chat\nworkspace: prod\nimage: example.com/chat:{tag}\n"


async def scrape(server: Server) -> str:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app), base_url="http://testserver"
    ) as root:
        r = await root.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


@pytest.fixture
def http_lines() -> Iterator[io.StringIO]:
    """Lines of the request logger, formatted as ``ironplane server`` formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ironplane.server.http")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


async def test_requests_are_counted_by_route_template_not_path(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    for name in ("oke-prod", "nope-1", "nope-2"):
        await server.admin.get(f"/clusters/{name}")
    text = await scrape(server)
    route = "/api/v1/clusters/{cluster}"
    assert value(text, "ironplane_server_http_requests_total", route=route, status="200") == 1
    assert value(text, "ironplane_server_http_requests_total", route=route, status="404") == 2
    count = value(
        text, "ironplane_server_http_request_duration_seconds_count", route=route, method="GET"
    )
    assert count == 3
    assert "nope-1" not in text  # raw paths never become labels
    assert value(text, "ironplane_server_agents_connected") == 0


async def test_app_versions_are_counted_when_committed(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    for tag in (1, 2):
        await apply_yaml(server.admin, SERVICE.format(tag=tag))
    dry = {"documents": [{"source": "a.yaml", "content": SERVICE.format(tag=3)}], "dry_run": True}
    assert (await server.admin.post("/apply", json=dry)).status_code == 200
    r = await server.admin.post("/workspaces/prod/apps/chat/rollback", json={"to": 1})
    assert r.status_code == 200, r.text
    text = await scrape(server)
    assert value(text, "ironplane_server_app_versions_total", reason="apply") == 2
    assert value(text, "ironplane_server_app_versions_total", reason="rollback") == 1


async def test_request_id_is_honoured_or_minted_and_returned(server: Server) -> None:
    r = await server.admin.get("/health", headers={"X-Request-ID": "trace-abc.123"})
    assert r.headers["x-request-id"] == "trace-abc.123"
    minted = (await server.admin.get("/health")).headers["x-request-id"]
    assert len(minted) == 32
    r = await server.admin.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] not in ("bad id\twith spaces", minted)


async def test_a_request_logs_one_line_with_id_route_and_status_and_no_token(
    server: Server, http_lines: io.StringIO
) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE, SERVICE.format(tag=1))
    http_lines.truncate(0)
    http_lines.seek(0)
    r = await server.admin.get("/workspaces/prod/apps/chat", headers={"X-Request-ID": "req-42"})
    assert r.status_code == 200
    lines = [json.loads(line) for line in http_lines.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-42"
    assert line["route"] == "/api/v1/workspaces/{workspace}/apps/{app}"
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["workspace"] == "prod" and line["app"] == "chat"
    assert line["logger"] == "ironplane.server.http"
    raw = http_lines.getvalue()
    secret = server.admin_token.split("_", 2)[2]  # ipt_<id>_<secret>; the secret may hold "_"
    assert secret not in raw and "authorization" not in raw.lower()


async def test_metrics_need_a_token_when_not_public(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None, metrics_public=False)
    async for server in start(settings, "sqlite"):
        transport = httpx.ASGITransport(app=server.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as root:
            assert (await root.get("/metrics")).status_code == 401
            auth = {"Authorization": f"Bearer {server.admin_token}"}
            r = await root.get("/metrics", headers=auth)
            assert r.status_code == 200 and "ironplane_server_http_requests_total" in r.text
