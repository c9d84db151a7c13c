"""Fixtures for the local runtime tests: a runtime with tiny delays, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ironplane.agent.local import LocalRuntime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    rt = LocalRuntime(
        tmp_path / "rt",
        restart_backoff=(0.05, 0.1),
        probe_interval_s=0.05,
        ready_without_probe_s=0.2,
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()
