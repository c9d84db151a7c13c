"""The README's main job as a user runs it: `ironplane up` in a terminal, then
`ironplane apply -f examples/local/hello.yaml` and `ironplane get apps` in another, then Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
HELLO_PORT = 18081  # fixed in examples/local/hello.yaml


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_apply_the_example_get_apps_and_ctrl_c(tmp_path: Path) -> None:
    if _port_open(HELLO_PORT):
        pytest.skip(f"port {HELLO_PORT} (examples/local/hello.yaml) is taken on this machine")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("IRONPLANE_URL", None)
    env.pop("IRONPLANE_TOKEN", None)
    cli = [sys.executable, "-m", "ironplane.cli.main"]
    port = free_port()
    log = (tmp_path / "up.log").open("w+")
    up = subprocess.Popen(
        [*cli, "up", "--data-dir", str(tmp_path / "data"), "--port", str(port), "--no-gateway"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 90
        while "ironplane is up" not in Path(log.name).read_text():
            assert up.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.2)
        printed = Path(log.name).read_text()
        assert f"http://127.0.0.1:{port}" in printed
        token = re.search(r"admin token\s+(ipt_\S+)", printed)
        assert token, printed
        assert f"http://127.0.0.1:{port}/ui/" in printed

        def run(*args: str) -> str:
            done = subprocess.run(
                [*cli, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        run("apply", "-f", "examples/local/hello.yaml")
        deadline = time.monotonic() + 60
        while not re.search(r"hello\s+Service\s+Running\s+2/2", apps := run("get", "apps")):
            assert time.monotonic() < deadline, apps
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{HELLO_PORT}/", timeout=5) as r:
            assert r.status == 200
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
        assert "ironplane: stopped" in Path(log.name).read_text()
        assert not _port_open(HELLO_PORT), "Ctrl-C must stop the processes up started"
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(10)
        log.close()
