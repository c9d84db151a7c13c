"""docs/observability.md lists every metric of the control plane, the agent and the gateway:
the lists and the code must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

DOC = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()


def section(title: str) -> str:
    start = DOC.index(f"### {title}")
    end = DOC.find("\n#", start + 4)
    return DOC[start : end if end != -1 else len(DOC)]


def documented(title: str) -> set[str]:
    """The names in the first column of the section's table (several per cell allowed)."""
    names: set[str] = set()
    for line in section(title).splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names |= {n.removesuffix("_total") for n in re.findall(r"`([a-z0-9_]+)`", first)}
    return names


def registered(registry: CollectorRegistry, prefix: str) -> set[str]:
    return {
        family.name.removeprefix(prefix).removesuffix("_total")
        for family in registry.collect()
        if family.name.startswith(prefix)
    }


def test_the_control_planes_metrics_are_the_documented_ones(tmp_path: Path) -> None:
    from ironplane.server.app import create_app
    from ironplane.server.settings import ServerSettings

    app = create_app(ServerSettings(data_dir=tmp_path), announce_token=False)
    names = documented("Control plane")
    assert len(names) >= 10
    assert names == registered(app.state.services.metrics.registry, "ironplane_server_")


def test_the_agents_metrics_are_the_documented_ones() -> None:
    from ironplane.agent.metrics import AgentMetrics

    names = documented("Agent")
    assert len(names) >= 10
    assert names == registered(AgentMetrics().registry, "ironplane_agent_")


def test_the_gateways_documented_metrics_exist() -> None:
    from ironplane.gateway.metrics import Metrics

    listed = {
        n.removesuffix("_total")
        for n in re.findall(r"`([a-z0-9_]+)`", section("Gateway"))
        if not n.startswith("ironplane_")  # the heading's prefix
    }
    text = Metrics().render().decode()
    exposed = {
        line.split()[2].removeprefix("ironplane_gateway_").removesuffix("_total")
        for line in text.splitlines()
        if line.startswith("# HELP ironplane_gateway_")
    }
    # Families that appear only with their mode on (control-plane mode's snapshot and shipping).
    conditional = {"snapshot_age_seconds", "snapshot_stale", "usage_shipped", "usage_dropped"}
    assert exposed <= listed, f"undocumented: {exposed - listed}"
    assert listed - exposed <= conditional, f"documented but missing: {listed - exposed}"
