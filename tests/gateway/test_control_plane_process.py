"""Control-plane mode as users run it: `ironplane gateway` processes, one worker or several
(the supervisor fetches for all and signals the workers)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tests.gateway.fake_control_plane import cp_section, fake_control_plane, mint, model_config
from tests.gateway.openai_mock import MockUpstream, wait_for
from tests.gateway.test_process import gateway_process

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def _all(check: Callable[[], bool], times: int = 8) -> bool:
    """``check`` holds on several fresh connections (the kernel spreads them over workers)."""
    return all(check() for _ in range(times))


@pytest.mark.parametrize("workers", [1, 2])
def test_snapshot_refresh_stale_and_request_logs_in_real_processes(
    upstream: MockUpstream, tmp_path: Path, workers: int
) -> None:
    alice = mint("user:alice")
    auth = {"authorization": f"Bearer {alice.bearer}"}
    with fake_control_plane() as fake:
        fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
        path = tmp_path / "gw.yaml"
        path.write_text(
            yaml.safe_dump({"control_plane": cp_section(fake, tmp_path, refresh="200ms")})
        )
        with gateway_process(path, workers=workers) as (_, url):

            def served(model: str) -> bool:
                answer = httpx.post(
                    url + "/v1/chat/completions", headers=auth, json={"model": model, **CHAT}
                )
                return answer.status_code == 200

            # Fetched before the workers started: the first request finds the model.
            assert _all(lambda: served("llama"))
            fake.set(**model_config("llama-2", upstream.url), keys=[alice.entry])
            wait_for(lambda: _all(lambda: served("llama-2")), timeout=10)
            assert not served("llama")

            fake.stop()
            wait_for(
                lambda: _all(
                    lambda: httpx.get(url + "/healthz").json()["control_plane"]["state"] == "stale"
                ),
                timeout=10,
            )
            assert _all(lambda: served("llama-2"))  # still serving on the last snapshot
            fake.start()
            wait_for(lambda: len(fake.records()) >= 16, timeout=10)
        ids = {b["gateway"] for b in fake.batches}
        assert all(i.startswith(socket.gethostname() + "-") for i in ids)
        assert {r["model"] for r in fake.records()} >= {"llama", "llama-2"}
