"""Process entry point: ``ironplane server``."""

from __future__ import annotations

import logging

import uvicorn

from ironplane.core.logs import configure as configure_logging
from ironplane.server.app import create_app
from ironplane.server.settings import ServerSettings


def serve(settings: ServerSettings) -> None:
    configure_logging(settings.log_format)
    app = create_app(settings)
    where = (settings.database_url and "PostgreSQL") or f"SQLite in {settings.data_dir}"
    logging.getLogger("ironplane.server").info(
        "control plane on http://%s:%d (%s)", settings.host, settings.port, where
    )
    # ws_ping_interval=None: agent sessions keep their own heartbeats (a third would only cost).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=None,  # uvicorn's own lines go through the root logger's format too
        access_log=False,  # RequestObserver logs each request (with its id)
        ws_ping_interval=None,
    )
