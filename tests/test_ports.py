"""The test servers' ports: distinct while in use, below the kernel's ephemeral range, and never
one that something already listens on."""

from __future__ import annotations

import socket
from pathlib import Path

from tests import ports


def _ephemeral_low() -> int:
    path = Path("/proc/sys/net/ipv4/ip_local_port_range")
    return int(path.read_text().split()[0]) if path.exists() else 32768


def test_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    handed = [ports.free_port() for _ in range(200)]
    assert len(set(handed)) == len(handed)
    assert max(handed) < _ephemeral_low()


def test_a_port_something_listens_on_is_skipped() -> None:
    port = ports.free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", port + 1))
        held.listen()
        # The next candidate in turn is port + 1 unless the block wraps around there.
        following = ports.free_port()
        assert following != port + 1
