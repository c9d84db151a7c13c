"""`ironplane gateway` as users run it: its own process, workers, reloads, signals, key tools."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.gateway.conftest import KEY, base_config
from tests.gateway.openai_mock import MockUpstream
from tests.ports import free_port

AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}


def _gateway(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ironplane.entry", "gateway", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=30,
    )


@contextmanager
def gateway_process(path: Path, workers: int = 1) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ironplane.entry",
            "gateway",
            "--config",
            str(path),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data))
    os.replace(tmp, path)


def test_the_gateway_process_imports_no_control_plane_dependencies() -> None:
    code = (
        "import sys\n"
        "import ironplane.entry, ironplane.gateway.main, ironplane.gateway.worker\n"
        "bad = ('pydantic', 'sqlalchemy', 'fastapi', 'starlette', 'alembic', 'lightkube',\n"
        "       'kubernetes', 'typer', 'rich', 'httpx', 'aiohttp', 'ironplane.server',\n"
        "       'ironplane.cli', 'ironplane.spec', 'ironplane.compiler')\n"
        "print(sorted(m for m in sys.modules if m.startswith(bad)))\n"
        "print('httptools' in sys.modules, 'msgspec' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == ["[]", "True True"]


def test_key_tools_and_check(tmp_path: Path) -> None:
    made = _gateway("new-key", "ci-bot")
    assert made.returncode == 0
    key = re.search(r"(sk-ip-\S+)", made.stdout)
    assert key is not None
    hashed = _gateway("hash-key", stdin=key.group(1) + "\n")
    assert hashed.stdout.strip() in made.stdout
    assert _gateway("hash-key", stdin="").returncode == 2

    path = tmp_path / "gw.yaml"
    _write(path, base_config("http://127.0.0.1:9/v1"))
    assert _gateway("check", "--config", str(path)).stdout.endswith(
        "ok (1 providers, 1 models, 2 keys)\n"
    )
    path.write_text("models: []\n")
    bad = _gateway("check", "--config", str(path))
    assert bad.returncode == 2
    assert "gw.yaml:1:9: models: expected `array` of length >= 1" in bad.stderr
    started = _gateway("--config", str(path))
    assert started.returncode == 2 and started.stderr.startswith("error: ")


def test_reload_on_file_change_keeps_in_flight_requests(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "gw.yaml"
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "mock", "model": "slow-1500"}]})
    _write(path, cfg)
    with gateway_process(path) as (_, url), concurrent.futures.ThreadPoolExecutor() as pool:
        slow = pool.submit(
            httpx.post, url + "/v1/chat/completions", json=CHAT, headers=AUTH, timeout=10
        )
        time.sleep(0.3)
        cfg["models"].append({"name": "new", "targets": [{"provider": "mock", "model": "ok"}]})
        _write(path, cfg)

        def models() -> list[str]:
            r = httpx.get(url + "/v1/models", headers=AUTH)
            return [m["id"] for m in r.json()["data"]]

        deadline = time.monotonic() + 5
        while models() != ["gpt", "new"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert slow.result().status_code == 200  # started on the old configuration

        path.write_text("providers: [\n")  # broken: refused, the last good one keeps serving
        deadline = time.monotonic() + 5
        while httpx.get(url + "/healthz").json()["config"]["reload_error"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert "not valid YAML" in httpx.get(url + "/healthz").json()["config"]["reload_error"]
        assert models() == ["gpt", "new"]


def test_workers_share_the_port_reload_on_sighup_and_stop_gracefully(
    upstream: MockUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "gw.yaml"
    cfg = base_config(upstream.url, gpt={"targets": [{"provider": "mock", "model": "ok"}]})
    _write(path, cfg)
    with gateway_process(path, workers=2) as (proc, url):
        for _ in range(40):
            with httpx.Client() as fresh:  # new connections, spread by the kernel
                assert (
                    fresh.post(url + "/v1/chat/completions", json=CHAT, headers=AUTH).status_code
                    == 200
                )
        pids = {httpx.get(url + "/healthz").json()["pid"] for _ in range(40)}
        assert len(pids) == 2 and proc.pid not in pids
        time.sleep(1.3)  # every worker publishes its counters once a second
        metrics = httpx.get(url + "/metrics").text
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("ironplane_gateway_requests_total{")
        )
        assert total == 40

        cfg["models"].append({"name": "new", "targets": [{"provider": "mock", "model": "ok"}]})
        _write(path, cfg)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        for _ in range(10):
            with httpx.Client() as fresh:
                r = fresh.post(
                    url + "/v1/chat/completions", json={**CHAT, "model": "new"}, headers=AUTH
                )
                assert r.status_code == 200

        # SIGTERM: the request in flight is answered, then every process exits.
        cfg["models"][0]["targets"][0]["model"] = "slow-1000"
        _write(path, cfg)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        with concurrent.futures.ThreadPoolExecutor() as pool:
            slow = pool.submit(
                httpx.post, url + "/v1/chat/completions", json=CHAT, headers=AUTH, timeout=10
            )
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert slow.result().status_code == 200
        assert proc.wait(10) == 0
        try:
            httpx.get(url + "/healthz", timeout=1)
            raise AssertionError("still listening after SIGTERM")
        except httpx.TransportError:
            pass


def test_the_cli_forwards_to_the_gateway_with_its_exit_code(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    code, _, _ = run_cli(["gateway", "check", "--config", str(tmp_path / "missing.yaml")])
    assert code == 2
    code, out, _ = run_cli(["--help"])
    assert code == 0 and "gateway" in out
