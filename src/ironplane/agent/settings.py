"""AgentSettings: read once from the environment (``IRONPLANE_*``) by ``from_env``."""

from __future__ import annotations

import os
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
    ``IRONPLANE_LOCAL_DIR``; keyword overrides (CLI options) win."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for key, name in (
        ("server_url", "IRONPLANE_SERVER_URL"),
        ("token", "IRONPLANE_AGENT_TOKEN"),
        ("runtime", "IRONPLANE_RUNTIME"),
        ("local_dir", "IRONPLANE_LOCAL_DIR"),
    ):
        if env.get(name):
            values[key] = Path(env[name]) if key == "local_dir" else env[name]
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
    url = str(values["server_url"])
    if not url.startswith(("http://", "https://")):
        raise InvalidError(f"server URL {url!r}: it must start with http:// or https://")
    return AgentSettings(**values)  # type: ignore[arg-type]
