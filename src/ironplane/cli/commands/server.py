"""`ironplane server`: run the control plane (the only CLI command that imports the server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def server(
    host: str | None = typer.Option(
        None, help="Address to listen on [env IRONPLANE_HOST; 127.0.0.1]."
    ),
    port: int | None = typer.Option(None, help="Port [env IRONPLANE_PORT; 8080]."),
    data_dir: Path | None = typer.Option(
        None, help="Directory for the SQLite database and secret key [env IRONPLANE_DATA_DIR]."
    ),
    database_url: str | None = typer.Option(
        None, help="PostgreSQL URL for production [env IRONPLANE_DATABASE_URL]; default SQLite."
    ),
    bootstrap_token_file: Path | None = typer.Option(
        None,
        help="Write the first admin's one-time token to this file (mode 0600) instead of "
        "printing it.",
    ),
    log_format: str | None = typer.Option(
        None, help="json (one object per line) or text [env IRONPLANE_LOG_FORMAT; json]."
    ),
) -> None:
    """Run the control plane: the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json)."""
    from ironplane.server.main import serve
    from ironplane.server.settings import ServerSettings

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "database_url": database_url,
        "bootstrap_token_file": bootstrap_token_file,
        "log_format": log_format,
    }
    settings = ServerSettings(**{k: v for k, v in given.items() if v is not None})
    serve(settings)
