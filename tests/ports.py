"""Ports for the servers that tests start, without races between tests.

Asking the kernel for port 0 and closing the socket hands back a port from the ephemeral range,
which the kernel goes on giving out: to the next test that asks, in either xdist worker, and to
the local end of outgoing connections. A server that binds it a moment later may then find it
taken, or a readiness probe may reach another test's server. These ports come from below the
ephemeral range instead, from a block of their own per xdist worker, handed out in turn, so two
tests never get the same one while they could both be using it.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator

_BASE = 20000
_BLOCK = 1500
"""Ports per worker: eight workers fit below the ephemeral range (32768 on Linux)."""


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = worker.removeprefix("gw")
    return int(digits) % 8 if digits.isdigit() else 0


def _candidates() -> Iterator[int]:
    start = _BASE + _worker_index() * _BLOCK
    offset = random.randrange(_BLOCK)
    for i in itertools.count():
        yield start + (offset + i) % _BLOCK


_NEXT = _candidates()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on and no other test is handed meanwhile."""
    for _ in range(_BLOCK):
        port = next(_NEXT)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise OSError("no free port in this worker's block")
