"""Request logs shipped to the control plane: batches with the contract's fields, drop-oldest
when the control plane cannot take them, never on the request path, a last flush at shutdown."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.fake_control_plane import (
    FakeControlPlane,
    cp_gateway,
    cp_section,
    fake_control_plane,
    mint,
    model_config,
)
from tests.gateway.openai_mock import MockUpstream, wait_for

CHAT = [{"role": "user", "content": "hi"}]
RECORD_FIELDS = {
    "at",
    "key",
    "team",
    "model",
    "target",
    "status",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "stream",
}


@pytest.fixture
def fake() -> Any:
    with fake_control_plane() as cp:
        yield cp


def _metric(url: str, name: str) -> float | None:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(f"ironplane_gateway_{name} "):
            return float(line.split()[1])
    return None


def _models(upstream: MockUpstream, *names: str) -> dict[str, Any]:
    """One snapshot model per name, all on the mock upstream."""
    config: dict[str, Any] = {"providers": [], "models": []}
    for name in names:
        part = model_config(name, upstream.url)
        config["providers"] += part["providers"]
        config["models"] += part["models"]
    return config


def test_requests_are_shipped_in_batches_with_the_contracts_fields(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice", team="ml")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    # A long flush interval: only the batch size can make these go out during the test.
    section = cp_section(fake, tmp_path, usage_batch=2, usage_flush="5m")
    with cp_gateway({"control_plane": section}, tmp_path) as (gw, _):
        client = gw.client(alice.bearer)
        client.chat.completions.create(model="llama", messages=CHAT)
        stream = client.chat.completions.create(
            model="llama", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
        assert len(list(stream)) > 1
        for _ in range(2):
            client.chat.completions.create(model="llama", messages=CHAT)
        wait_for(lambda: len(fake.records()) == 4)
        assert _metric(gw.url, "usage_shipped_total") == 4
        assert _metric(gw.url, "usage_dropped_total") == 0
    assert all(len(b["records"]) == 2 for b in fake.batches)
    for batch in fake.batches:
        assert set(batch) == {"gateway", "dropped", "records"}
        assert batch["gateway"] == f"{socket.gethostname()}-{os.getpid()}"
        assert batch["dropped"] == 0
    records = fake.records()
    for record in records:
        assert set(record) == RECORD_FIELDS
        assert record["key"] == "user:alice" and record["team"] == "ml"
        assert record["model"] == "llama" and record["status"] == 200
        assert record["target"] == "model:prod/llama/ok" and record["cost"] == 0
        assert record["latency_ms"] >= 0  # (the loop clock ticks in ms: a fast answer is 0)
    # The mock's usage: 5 + 7 tokens in a JSON answer, 5 + 5 in a stream's last chunk.
    assert [(r["stream"], r["prompt_tokens"], r["completion_tokens"]) for r in records] == [
        (False, 5, 7),
        (True, 5, 5),
        (False, 5, 7),
        (False, 5, 7),
    ]
    assert records == sorted(records, key=lambda r: r["at"])


def test_a_full_buffer_drops_the_oldest_and_counts_the_drops(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    names = [f"m{i}" for i in range(5)]
    fake.set(**_models(upstream, *names), keys=[alice.entry])
    fake.usage_status = 503  # the control plane cannot take request logs
    section = cp_section(fake, tmp_path, usage_buffer=3)
    with cp_gateway({"control_plane": section}, tmp_path) as (gw, _):
        client = gw.client(alice.bearer)
        for name in names:
            client.chat.completions.create(model=name, messages=CHAT)
        wait_for(lambda: _metric(gw.url, "usage_dropped_total") == 2)
        assert fake.records() == []
        fake.usage_status = 202
        wait_for(lambda: len(fake.records()) == 3, timeout=10)
        assert [r["model"] for r in fake.records()] == ["m2", "m3", "m4"]  # the newest
        assert sum(b["dropped"] for b in fake.batches) == 2
        assert _metric(gw.url, "usage_shipped_total") == 3
        assert _metric(gw.url, "usage_dropped_total") == 2


def test_a_slow_control_plane_does_not_hold_requests(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    fake.usage_delay = 3.0  # every usage POST takes 3 s
    section = cp_section(fake, tmp_path, usage_batch=1)
    with cp_gateway({"control_plane": section}, tmp_path) as (gw, _):
        client = gw.client(alice.bearer)
        for _ in range(20):
            assert client.chat.completions.create(model="llama", messages=CHAT).choices
        # Had each request waited for its record's POST (one at a time, 3 s each), the
        # control plane would hold 19 or more batches by now; the shipper is still on its first.
        assert len(fake.batches) <= 2


def test_shutdown_ships_what_is_left(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    section = cp_section(fake, tmp_path, usage_flush="5m")
    with cp_gateway({"control_plane": section}, tmp_path) as (gw, _):
        for _ in range(3):
            gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        assert fake.records() == []
    assert len(fake.records()) == 3


def test_a_post_in_flight_at_shutdown_is_awaited_and_not_sent_twice(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    fake.usage_delay = 0.5  # answers (202) well within the shutdown's 2 s
    section = cp_section(fake, tmp_path, usage_batch=1)
    with cp_gateway({"control_plane": section}, tmp_path) as (gw, _):
        gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        wait_for(lambda: fake.usage_posts == 1)
    wait_for(lambda: fake.usage_in_progress == 0)
    assert fake.usage_posts == 1
    assert len(fake.records()) == 1


def test_a_post_in_flight_that_fails_at_shutdown_is_sent_again(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    fake.usage_delay = 0.3
    fake.usage_statuses = [503]  # the POST in flight fails; the next one is taken
    section = cp_section(fake, tmp_path, usage_batch=1)
    with cp_gateway({"control_plane": section}, tmp_path) as (gw, _):
        gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        wait_for(lambda: fake.usage_posts == 1)
    wait_for(lambda: fake.usage_in_progress == 0)
    assert fake.usage_posts == 2
    assert [r["model"] for r in fake.records()] == ["llama"]


def test_a_post_unanswered_by_the_shutdown_deadline_is_not_sent_again(
    upstream: MockUpstream, fake: FakeControlPlane, tmp_path: Path
) -> None:
    alice = mint("user:alice")
    fake.set(**model_config("llama", upstream.url), keys=[alice.entry])
    fake.usage_delay = 3.0  # longer than the shutdown's 2 s
    section = cp_section(fake, tmp_path, usage_batch=1)
    with cp_gateway({"control_plane": section}, tmp_path) as (gw, _):
        gw.client(alice.bearer).chat.completions.create(model="llama", messages=CHAT)
        wait_for(lambda: fake.usage_posts == 1)
    # The POST carries on in a daemon thread (it cannot hold the process's exit) ...
    posting = [t for t in threading.enumerate() if t.name == "usage-post"]
    assert posting and all(t.daemon for t in posting)
    wait_for(lambda: fake.usage_in_progress == 0)
    # ... and its records were not sent a second time: the control plane got them once.
    assert fake.usage_posts == 1
    assert len(fake.records()) == 1
