"""Process entry point: ``ironplane server``."""

from __future__ import annotations

import logging

import uvicorn

from ironplane.server.app import create_app
from ironplane.server.settings import ServerSettings


def serve(settings: ServerSettings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
        access_log=False,
        ws_ping_interval=None,
    )
