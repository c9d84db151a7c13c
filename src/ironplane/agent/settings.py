"""AgentSettings: read once from the environment (``IRONPLANE_*``) by ``from_env``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ironplane.core.errors import InvalidError


@dataclass(frozen=True, slots=True)
class AgentSettings:
    server_url: str
    """The control plane's base URL (``https://ironplane.example.com``); the agent dials
    ``<url>/api/v1/agent/connect`` over WebSocket (wss for https)."""
    token: str = field(repr=False)
    """The cluster's agent token (never logged)."""
    runtime: Literal["kubernetes", "local"] = "kubernetes"
    local_dir: Path = field(default_factory=lambda: Path.home() / ".local/share/ironplane/local")
    """Working directories and logs of the local runtime."""
    connect_timeout_s: float = 10.0
    status_interval_s: float = 10.0
    """At most this long between status checks (runtime changes report sooner)."""
    inventory_interval_s: float = 60.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_frame_bytes: int = 256 * 1024 * 1024
    log_format: Literal["json", "text"] = "json"
    metrics_port: int | None = None
    """Serve ``/metrics`` (Prometheus) and ``/healthz`` on this port; None: no server."""
    metrics_host: str = "0.0.0.0"
    prometheus_url: str | None = None
    """Where to read GPU and request telemetry; None: the URL the control plane sends (the
    Cluster's ``prometheus_url`` when it declares the prometheus add-on); ``off``: never."""
    telemetry_interval_s: float = 30.0
    telemetry_rate_window: str = "1m"
    """The range of the request-rate queries: at least four of Prometheus' scrape intervals."""
    prometheus_timeout_s: float = 10.0

    @property
    def telemetry_off(self) -> bool:
        return self.prometheus_url == "off"

    @property
    def websocket_url(self) -> str:
        base = self.server_url.rstrip("/")
        if base.startswith("https://"):
            base = "wss://" + base.removeprefix("https://")
        elif base.startswith("http://"):
            base = "ws://" + base.removeprefix("http://")
        return base + "/api/v1/agent/connect"


def from_env(env: Mapping[str, str] | None = None, **overrides: object) -> AgentSettings:
    """Settings from ``IRONPLANE_SERVER_URL``, ``IRONPLANE_AGENT_TOKEN``, ``IRONPLANE_RUNTIME``,
    ``IRONPLANE_LOCAL_DIR``, ``IRONPLANE_LOG_FORMAT``, ``IRONPLANE_METRICS_PORT``,
    ``IRONPLANE_METRICS_HOST``, ``IRONPLANE_PROMETHEUS_URL``, ``IRONPLANE_TELEMETRY_INTERVAL_S``,
    ``IRONPLANE_TELEMETRY_RATE_WINDOW``;
    keyword overrides (CLI options) win."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for key, name in (
        ("server_url", "IRONPLANE_SERVER_URL"),
        ("token", "IRONPLANE_AGENT_TOKEN"),
        ("runtime", "IRONPLANE_RUNTIME"),
        ("local_dir", "IRONPLANE_LOCAL_DIR"),
        ("log_format", "IRONPLANE_LOG_FORMAT"),
        ("metrics_host", "IRONPLANE_METRICS_HOST"),
        ("prometheus_url", "IRONPLANE_PROMETHEUS_URL"),
        ("telemetry_rate_window", "IRONPLANE_TELEMETRY_RATE_WINDOW"),
    ):
        if env.get(name):
            values[key] = Path(env[name]) if key == "local_dir" else env[name]
    for key, name, kind in (
        ("metrics_port", "IRONPLANE_METRICS_PORT", int),
        ("telemetry_interval_s", "IRONPLANE_TELEMETRY_INTERVAL_S", float),
    ):
        if env.get(name):
            try:
                values[key] = kind(env[name])
            except ValueError:
                raise InvalidError(f"{name}={env[name]!r} is not a number") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    missing = [
        n
        for k, n in (("server_url", "IRONPLANE_SERVER_URL"), ("token", "IRONPLANE_AGENT_TOKEN"))
        if not values.get(k)
    ]
    if missing:
        raise InvalidError(
            f"the agent needs {' and '.join(missing)} (or --server-url / --token-file)"
        )
    if values.get("runtime", "kubernetes") not in ("kubernetes", "local"):
        raise InvalidError(f"runtime {values['runtime']!r}: choose kubernetes or local")
    if values.get("log_format", "json") not in ("json", "text"):
        raise InvalidError(f"log format {values['log_format']!r}: choose json or text")
    port = values.get("metrics_port")
    if isinstance(port, int) and not 0 <= port <= 65535:
        raise InvalidError(f"metrics port {port}: choose 1 to 65535 (0: any free port)")
    interval = values.get("telemetry_interval_s")
    if isinstance(interval, float) and not interval >= 5:
        raise InvalidError(f"telemetry interval {interval}: at least 5 seconds")
    window = values.get("telemetry_rate_window")
    if window is not None and not re.fullmatch(r"[1-9][0-9]*[smh]", str(window)):
        raise InvalidError(f"telemetry rate window {window!r}: a duration such as 1m, 2m or 90s")
    prometheus = values.get("prometheus_url")
    if prometheus not in (None, "off") and not str(prometheus).startswith(("http://", "https://")):
        raise InvalidError(
            f"Prometheus URL {prometheus!r}: it must start with http:// or https:// (or be off)"
        )
    url = str(values["server_url"])
    if not url.startswith(("http://", "https://")):
        raise InvalidError(f"server URL {url!r}: it must start with http:// or https://")
    return AgentSettings(**values)  # type: ignore[arg-type]
