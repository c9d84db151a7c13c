"""How remote commands get their SDK client: the one seam tests replace.

``connect()`` reads the CLI config and opens a ``Client`` made by ``build_client``; tests
monkeypatch ``build_client`` to return a client over an ``httpx.MockTransport``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ironplane.cli.config import load_config

if TYPE_CHECKING:
    from ironplane.sdk import Client


def build_client(url: str, token: str | None) -> Client:
    from ironplane.sdk import Client

    return Client(url, token)


@contextmanager
def connect() -> Iterator[Client]:
    """A client for the configured server and token; closed on exit."""
    url, token = load_config().remote()
    with build_client(url, token) as client:
        yield client
