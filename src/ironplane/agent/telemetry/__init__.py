"""GPU and request telemetry read from the cluster's Prometheus and sent up in ``metrics`` frames
(``collect.Telemetry``); see docs/observability.md."""

from ironplane.agent.telemetry.collect import Telemetry
from ironplane.agent.telemetry.owners import Owners

__all__ = ["Owners", "Telemetry"]
