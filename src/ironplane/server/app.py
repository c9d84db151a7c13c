"""create_app(settings): the FastAPI application with its routers, error mapping and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from ironplane import __version__
from ironplane.api.common import API_PREFIX, ErrorResponse
from ironplane.server import errors, observe
from ironplane.server.agents.hub import Hub
from ironplane.server.bootstrap import announce, bootstrap, mark_agents_disconnected
from ironplane.server.context import Services
from ironplane.server.db.engine import Database
from ironplane.server.limits import BodyLimit, valid_text
from ironplane.server.routers import (
    access,
    agents,
    apps,
    audit,
    auth,
    clusters,
    gateway,
    identity,
    progress,
    runs,
    secrets,
    telemetry,
)
from ironplane.server.routers import bootstrap as cluster_bootstrap
from ironplane.server.security.crypto import SecretBox
from ironplane.server.security.throttle import LoginThrottle
from ironplane.server.settings import ServerSettings
from ironplane.ui import mount as ui

ROUTERS = (
    auth,
    identity,
    access,
    clusters,
    cluster_bootstrap,
    apps,
    agents,
    runs,
    secrets,
    audit,
    gateway,
    telemetry,
    progress,
)
_ERRORS = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "invalid input"),
        (401, "no or bad credentials (code `unauthenticated`)"),
        (403, "permission denied (code `forbidden`)"),
        (404, "not found, or not visible to the caller (code `not_found`)"),
        (409, "conflict"),
        (413, "request body too large (code `payload_too_large`)"),
        (429, "too many attempts (code `rate_limited`); see Retry-After"),
        (422, "invalid request body or parameters (code `invalid`)"),
    )
}


def create_app(settings: ServerSettings, *, announce_token: bool = True) -> FastAPI:
    hub = Hub(command_timeout_s=settings.agent_command_timeout_s)
    services = Services(
        settings=settings,
        db=Database(settings),
        box=SecretBox.from_settings(settings),
        hub=hub,
        login_throttle=LoginThrottle(
            per_name=settings.login_max_failures,
            per_address=settings.login_max_failures_per_address,
            window_s=settings.login_window_s,
        ),
    )
    services.db.revision_listeners.append(hub.revisions_moved)
    services.metrics.watch(hub, services.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.db.migrate()
        await mark_agents_disconnected(services.db)
        token = await bootstrap(services.db, settings)
        if token is not None and announce_token:
            announce(token, settings)
        app.state.bootstrap_token = token
        yield
        await services.db.close()

    app = FastAPI(
        title="Ironplane control plane",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
        responses=_ERRORS,  # type: ignore[arg-type]
        dependencies=[Depends(valid_text), Depends(observe.path_context)],
    )
    app.state.services = services
    app.state.hub = hub
    errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    observe.install(app, settings, services.metrics)  # outside BodyLimit: 413s are observed
    for module in ROUTERS:
        app.include_router(module.router, prefix=API_PREFIX)
    ui.install(app)
    return app
