"""What every request handler needs: the database, settings, the secret box and the caller."""

from __future__ import annotations

from dataclasses import dataclass, field

from ironplane.server.agents.hub import Hub
from ironplane.server.db.engine import Database
from ironplane.server.metrics import ServerMetrics
from ironplane.server.security.crypto import SecretBox
from ironplane.server.security.principals import Principal
from ironplane.server.security.throttle import LoginThrottle
from ironplane.server.settings import ServerSettings


@dataclass(frozen=True, slots=True)
class Services:
    """Process-wide state, built once by ``create_app`` and kept on ``app.state.services``."""

    settings: ServerSettings
    db: Database
    box: SecretBox
    hub: Hub
    login_throttle: LoginThrottle
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    """This application's Prometheus metrics (``GET /metrics``)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal of one request, and where the request came from."""

    principal: Principal
    source_ip: str | None

    @property
    def ref(self) -> str:
        return self.principal.ref
