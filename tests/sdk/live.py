"""A real control plane on a free local port (uvicorn in a thread), for end-to-end tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLUSTER = "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n"
WORKSPACE = "kind: Workspace\nname: prod\ncluster: oke-prod\n"
SERVICE = (
    "kind: Service\nname: chat-api\nworkspace: prod\n"
    "image: registry.example.com/chat-api:{tag}\nports: [{{port: 8000}}]\n"
)


@dataclass(frozen=True)
class Live:
    url: str
    admin_token: str
    data_dir: Path


@contextmanager
def running_server(data_dir: Path, **settings: Any) -> Iterator[Live]:
    import uvicorn

    from ironplane.server.app import create_app
    from ironplane.server.settings import ServerSettings

    app = create_app(
        ServerSettings(
            data_dir=data_dir, database_url=settings.pop("database_url", None), **settings
        ),
        announce_token=False,
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ironplane-live", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the control plane did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Live(
            url=f"http://127.0.0.1:{port}", admin_token=app.state.bootstrap_token, data_dir=data_dir
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
