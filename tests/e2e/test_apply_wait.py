"""`ironplane apply` waits, end to end with `ironplane up`: the CLI (not a terminal) prints a line
per change of each applied object until it is ready, and exits non-zero naming what failed."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.test_up import hello, running_up
from tests.ports import free_port

pytestmark = pytest.mark.anyio

BROKEN = (
    "kind: Service\nname: broken\nworkspace: default\nimage: python:3.12\n"
    f"command: [{sys.executable!r}, '-c', 'import sys; sys.exit(1)']\n"
)


async def test_apply_waits_until_ready_and_names_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    async with running_up(tmp_path / "data") as embedded:
        monkeypatch.setenv("IRONPLANE_CONFIG", str(tmp_path / "cli.yaml"))
        monkeypatch.setenv("IRONPLANE_URL", embedded.url)
        monkeypatch.setenv("IRONPLANE_TOKEN", embedded.admin_token)
        spec = tmp_path / "hello.yaml"
        spec.write_text(hello(port, "v1", replicas=2))

        code, out, err = await asyncio.to_thread(run_cli, ["apply", "-f", str(spec)])
        assert code == 0, err
        assert out.splitlines()[1].split()[:4] == ["Service", "default", "hello", "create"]
        lines = [line for line in err.splitlines() if line.startswith("Service default/hello:")]
        assert len(lines) >= 2, err  # at least one line on the way, then the last one
        assert re.fullmatch(
            r"Service default/hello: Running 2/2 · revision \d+ applied · ready", lines[-1]
        ), err
        assert err.splitlines()[-1] == "all ready: 1 ready"

        # Applying the same again: unchanged, and ready at once.
        code, _, err = await asyncio.to_thread(run_cli, ["apply", "-f", str(spec)])
        assert code == 0, err
        assert err.splitlines()[-1] == "all ready: 1 ready"

        # A command that exits 1 crash-loops: apply exits 3 naming the app and the reason.
        broken = tmp_path / "broken.yaml"
        broken.write_text(BROKEN)
        code, _, err = await asyncio.to_thread(
            run_cli, ["apply", "-f", str(broken), "--timeout", "2m"]
        )
        assert code == 3, err
        [failure] = [line for line in err.splitlines() if line.startswith("failed: ")]
        assert failure.startswith("failed: Service default/broken: ")
        assert "exit" in failure.lower(), failure
        assert err.splitlines()[-1] == "1 failed, 0 ready, 0 still pending"

        # --no-wait returns at once, as before.
        code, _, err = await asyncio.to_thread(run_cli, ["apply", "-f", str(broken), "--no-wait"])
        assert code == 0 and err.strip() == "1 unchanged", err
