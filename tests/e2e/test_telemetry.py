"""Telemetry end to end with a real Prometheus: a DCGM- and Istio-shaped exporter scraped every
second, the agent's collector reading it, and the samples reaching a real control plane.

Needs the ``prometheus`` binary (Debian's package; CI installs it): skipped without it on a
developer machine, a failure under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ironplane.agent.agent import Agent
from ironplane.agent.settings import AgentSettings
from ironplane.agent.telemetry import Owners, Telemetry
from ironplane.agent.telemetry.prometheus import Prometheus
from tests.agent.test_telemetry import by_key, owned
from tests.e2e.conftest import Api, RecordingRuntime, eventually, running
from tests.ports import free_port
from tests.sdk.live import Live
from tests.server.helpers import metric_value

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024
CHAT_POD = "chat-7d9f8c6b5-x2k4q"
WINDOW = "5s"
"""The rate window: five scrapes (a minute's would need a minute of data first)."""


def _dcgm(metric: str, gpu: str, node: str, value: float, pod: str = "") -> str:
    namespace, container = ("team-a", "main") if pod else ("", "")
    return (
        f'{metric}{{gpu="{gpu[-1]}",UUID="GPU-{gpu}",device="nvidia{gpu[-1]}",'
        f'modelName="NVIDIA H100 80GB HBM3",Hostname="{node}",container="{container}",'
        f'namespace="{namespace}",pod="{pod}"}} {value:g}'
    )


class Exporter:
    """What dcgm-exporter and Istio's proxies expose, in one text page. The Istio counters grow
    at fixed rates: 9 answers a second of 200 and 1 of 503 for the Service chat in team-a; of
    all of them 60 % within 50 ms, 95 % within 100 ms, every one within 500 ms."""

    def __init__(self) -> None:
        self.started = time.time()

    def page(self) -> str:
        t = time.time() - self.started + 60  # counters that already ran a minute
        labels = (
            'reporter="source",destination_service_namespace="team-a",'
            'destination_service_name="chat"'
        )
        lines = [
            "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
            _dcgm("DCGM_FI_DEV_GPU_UTIL", "aaa0", "node-1", 87, CHAT_POD),
            _dcgm("DCGM_FI_DEV_GPU_UTIL", "bbb1", "node-1", 13),
            _dcgm("DCGM_FI_DEV_GPU_UTIL", "ccc0", "node-2", 50),
            "# TYPE DCGM_FI_DEV_FB_USED gauge",
            _dcgm("DCGM_FI_DEV_FB_USED", "aaa0", "node-1", 40000, CHAT_POD),
            _dcgm("DCGM_FI_DEV_FB_USED", "bbb1", "node-1", 1000),
            _dcgm("DCGM_FI_DEV_FB_USED", "ccc0", "node-2", 20000),
            "# TYPE DCGM_FI_DEV_FB_FREE gauge",
            _dcgm("DCGM_FI_DEV_FB_FREE", "aaa0", "node-1", 41000, CHAT_POD),
            _dcgm("DCGM_FI_DEV_FB_FREE", "bbb1", "node-1", 80000),
            _dcgm("DCGM_FI_DEV_FB_FREE", "ccc0", "node-2", 61000),
            "# TYPE istio_requests_total counter",
            f'istio_requests_total{{{labels},response_code="200"}} {9 * t:.3f}',
            f'istio_requests_total{{{labels},response_code="503"}} {1 * t:.3f}',
            "# TYPE istio_request_duration_milliseconds histogram",
        ]
        for le, share in (("50", 0.6), ("100", 0.95), ("500", 1.0), ("+Inf", 1.0)):
            lines.append(
                f'istio_request_duration_milliseconds_bucket{{{labels},le="{le}"}} '
                f"{10 * t * share:.3f}"
            )
        lines.append(f"istio_request_duration_milliseconds_sum{{{labels}}} {400 * t:.3f}")
        lines.append(f"istio_request_duration_milliseconds_count{{{labels}}} {10 * t:.3f}")
        return "\n".join(lines) + "\n"


def _serve_exporter(exporter: Exporter) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exporter.page().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


def _prometheus_binary() -> str:
    path = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("the prometheus binary is required under CI (apt-get install prometheus)")
        pytest.skip("the prometheus binary is not installed (Debian: apt-get install prometheus)")
    return path


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return bytes(answer.read())


def _wait(check: Any, what: str, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; prometheus said:\n{tail}")


@dataclass(frozen=True)
class Scraped:
    url: str
    """Prometheus' base URL."""


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    """Prometheus scraping the exporter every second, once both kinds of series answer."""
    binary = _prometheus_binary()
    exporter, exporter_port = _serve_exporter(Exporter())
    root = tmp_path_factory.mktemp("prometheus")
    config = root / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: gpus-and-mesh\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    port = free_port()
    log = root / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: process.poll() is None and b"Ready" in _get(url + "/-/ready"), "ready", log)

        def answers(query: str) -> bool:
            data = _get(url + "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
            return b'"result":[{' in data

        _wait(lambda: answers("DCGM_FI_DEV_GPU_UTIL"), "the DCGM series", log)
        _wait(lambda: answers(f"count_over_time(up[{WINDOW}]) >= 5"), "a window of scrapes", log)
        yield Scraped(url=url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        exporter.shutdown()
        exporter.server_close()


async def test_the_collector_reads_gpus_and_requests_from_prometheus(scraped: Scraped) -> None:
    owners = Owners([owned("Deployment", "chat", "chat"), owned("Service", "chat", "chat")])
    telemetry = Telemetry(Prometheus(scraped.url, timeout_s=5), window=WINDOW)
    samples = await telemetry.collect(owners)
    got = by_key(samples)
    assert got[("node", "node-1", None, "gpu_utilization")] == 50.0  # (87 + 13) / 2
    assert got[("node", "node-1", None, "gpu_count")] == 2
    assert got[("node", "node-1", None, "gpu_memory_used_bytes")] == 41000 * MIB
    assert got[("node", "node-1", None, "gpu_memory_free_bytes")] == 121000 * MIB
    assert got[("node", "node-2", None, "gpu_utilization")] == 50.0
    assert got[("app", None, "chat", "gpu_utilization")] == 87.0
    assert got[("app", None, "chat", "gpu_count")] == 1
    assert got[("app", None, "chat", "gpu_memory_used_bytes")] == 40000 * MIB
    assert ("app", None, "chat", "gpu_memory_free_bytes") not in got
    assert got[("app", None, "chat", "requests_per_second")] == pytest.approx(10.0, rel=0.1)
    assert got[("app", None, "chat", "errors_per_second")] == pytest.approx(1.0, rel=0.1)
    # 60 % within 50 ms, 95 % within 100 ms: Prometheus' interpolation gives 41.7 and 420
    assert got[("app", None, "chat", "latency_p50_ms")] == pytest.approx(50 * 0.5 / 0.6, rel=0.05)
    assert got[("app", None, "chat", "latency_p99_ms")] == pytest.approx(420.0, rel=0.05)
    assert {k[2] for k in got if k[0] == "app"} == {"chat"}


def running_agent(live: Live, token: str) -> AbstractAsyncContextManager[Agent]:
    settings = AgentSettings(
        server_url=live.url,
        token=token,
        runtime="local",
        status_interval_s=0.5,
        backoff_base_s=0.05,
        backoff_cap_s=0.5,
        telemetry_interval_s=0.5,
        telemetry_rate_window=WINDOW,
    )
    return running(settings, RecordingRuntime())


async def test_telemetry_reaches_the_control_plane_and_its_series(
    scraped: Scraped, live: Live, api: Api
) -> None:
    platform = (
        f"kind: Cluster\nname: gpu-one\naddons: [prometheus]\nprometheus_url: {scraped.url}\n"
        "---\nkind: Workspace\nname: team-a\ncluster: gpu-one\n---\n"
        "kind: Service\nname: chat\nworkspace: team-a\nimage: example.com/chat:1\n"
        "ports: [{port: 8000}]\n"
    )
    token = (await api.apply(platform))["changes"][0]["agent_token"]["secret"]
    async with running_agent(live, token) as agent:
        series: dict[str, Any] = {}

        async def reported() -> bool:
            nodes = await api.client.get("/clusters/gpu-one/metrics", params={"since": "5m"})
            app = await api.client.get(
                "/workspaces/team-a/apps/chat/metrics", params={"since": "5m"}
            )
            assert nodes.status_code == 200 and app.status_code == 200, nodes.text
            series["nodes"] = {(s["name"], s["labels"]["node"]): s for s in nodes.json()["series"]}
            series["app"] = {s["name"]: s for s in app.json()["series"]}
            return ("gpu_utilization", "node-1") in series["nodes"] and (
                "requests_per_second" in series["app"]
            )

        await eventually(reported, timeout=30, what="telemetry in the control plane")
        assert agent.telemetry_url() == scraped.url  # from the welcome: nothing set locally
        agent_metrics = agent.metrics.render().decode()
    scrape = (await api.client.get(live.url + "/metrics")).text  # at the root, not the API's

    node_util = series["nodes"][("gpu_utilization", "node-1")]
    assert node_util["points"][-1][1] == 50.0
    assert series["nodes"][("gpu_memory_used_bytes", "node-1")]["points"][-1][1] == 41000 * MIB
    # node-2 is not in the agent's node inventory: its samples are not stored.
    assert not any(node == "node-2" for _, node in series["nodes"])
    app = series["app"]
    assert app["gpu_utilization"]["labels"] == {"workspace": "team-a", "app": "chat"}
    assert app["gpu_utilization"]["points"][-1][1] == 87.0
    assert app["requests_per_second"]["points"][-1][1] == pytest.approx(10.0, rel=0.1)
    assert app["latency_p99_ms"]["points"][-1][1] == pytest.approx(420.0, rel=0.05)

    assert (metric_value(agent_metrics, "ironplane_agent_telemetry_samples_total") or 0) > 0
    assert (
        metric_value(agent_metrics, "ironplane_agent_prometheus_queries_total", result="ok") or 0
    ) > 0
    assert metric_value(agent_metrics, "ironplane_agent_applies_total", result="ok") == 1
    received = metric_value(scrape, "ironplane_server_agent_frames_received_total", type="metrics")
    assert (received or 0) > 0
    assert (metric_value(scrape, "ironplane_server_telemetry_samples_total") or 0) > 0
    assert metric_value(scrape, "ironplane_server_desired_pushed_total", mode="full") == 1
