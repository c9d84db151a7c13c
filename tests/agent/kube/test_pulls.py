"""Weights downloads in flight: progress lines read from the ``fetch-weights`` init container's
log tail and reported as ``AppStatus.weights``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ironplane.agent.kube import KubeRuntime
from ironplane.agent.kube.pulls import pulling, pulling_pods
from ironplane.wire.agent_protocol import AppStatus
from ironplane.wire.pull_progress import (
    WeightsProgress,
    last_progress,
    parse_line,
    progress_line,
    slowest,
)
from tests.agent.kube import objects as o
from tests.agent.kube.conftest import Cluster, eventually
from tests.agent.kube.fakeapi import FakeKube

GIB = 1024**3


def line(done: int, total: int = 40 * GIB, rate: float = 850.0 * 1024**2) -> str:
    eta = (total - done) / rate if rate else None
    return progress_line(done=done, total=total, rate=rate, eta=eta, files_done=3, files_total=10)


# -- the line format


def test_progress_line_round_trips_and_skips_a_timestamp() -> None:
    text = line(12 * GIB)
    assert text.startswith('{"type":"weights-progress","done":12884901888,')
    got = parse_line(text)
    assert got == WeightsProgress(
        done=12 * GIB,
        total=40 * GIB,
        rate=round(850.0 * 1024**2, 1),
        eta=round(28 * GIB / (850.0 * 1024**2), 1),
        files_done=3,
        files_total=10,
    )
    assert parse_line(f"2025-01-01T00:00:00.000000001Z {text}") == got
    assert parse_line(text + "\n") == got


@pytest.mark.parametrize(
    "text",
    [
        "",
        "resuming: 1.0 GiB of 4.0 GiB already on disk",
        "/weights/ab12cd",
        '{"type":"other","done":1,"total":2}',
        '{"type":"weights-progress","done":"x","total":2}',
        '{"type":"weights-progress","done":-1,"total":2}',
        '{"type":"weights-progress","done":1',
        "2025-01-01T00:00:00Z not json",
    ],
)
def test_other_lines_are_not_progress(text: str) -> None:
    assert parse_line(text) is None


def test_the_last_progress_line_of_a_tail_wins() -> None:
    tail = [line(GIB), line(2 * GIB), "fetch: a note after the last report"]
    got = last_progress(tail)
    assert got is not None and got.done == 2 * GIB
    assert last_progress(["nothing", "here"]) is None


def test_several_pods_report_the_least_advanced_and_count_all() -> None:
    a = WeightsProgress(done=30, total=40, rate=1.0)
    b = WeightsProgress(done=10, total=40, rate=2.0)
    got = slowest([a, b], pods=3)
    assert got is not None and (got.done, got.rate, got.pods) == (10, 2.0, 3)
    assert slowest([]) is None


# -- pods pulling


def pod(ws: str, name: str, app: str, init_state: dict[str, Any] | None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending"}
    if init_state is not None:
        status["initContainerStatuses"] = [
            {"name": "fetch-weights", "ready": False, "restartCount": 0, "state": init_state}
        ]
        status["containerStatuses"] = [
            {
                "name": "main",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}},
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ws, "labels": o.pod_labels(ws, app, "model")},
        "spec": {
            "initContainers": [{"name": "fetch-weights", "image": "ironplane"}],
            "containers": [{"name": "main", "image": "vllm"}],
        },
        "status": status,
    }


RUNNING = {"running": {"startedAt": "2025-01-01T00:00:00Z"}}
DONE = {"terminated": {"exitCode": 0, "reason": "Completed"}}


def test_only_pods_whose_puller_runs_are_pulling() -> None:
    running, done = pod("ws", "a", "llm", RUNNING), pod("ws", "b", "llm", DONE)
    other = pod("ws", "c", "web", None)
    assert pulling(running) and not pulling(done) and not pulling(other)
    assert pulling_pods([done, running, other]) == {("ws", "llm"): [running]}


# -- through the runtime, against the fake API server


async def weights_of(runtime: KubeRuntime, ws: str, app: str) -> AppStatus | None:
    for status in await runtime.statuses():
        if (status.workspace, status.app) == (ws, app):
            return status
    return None


@pytest.mark.anyio
async def test_a_pulling_pod_adds_weights_to_its_apps_status(
    cluster: Cluster, runtime: KubeRuntime
) -> None:
    fake: FakeKube = cluster.need_fake()
    runtime.pulls.refresh_s = 0.05  # read the log again on every status after 50 ms
    ws = cluster.namespace()
    await runtime.converge([o.namespace(ws), o.deployment(ws, "llm", replicas=2)])
    fake.put(pod(ws, "llm-a", "llm", RUNNING))
    fake.put(pod(ws, "llm-b", "llm", RUNNING))
    fake.set_logs(ws, "llm-a", f"{line(20 * GIB)}\n", container="fetch-weights")
    fake.set_logs(ws, "llm-b", f"resuming\n{line(5 * GIB)}\n", container="fetch-weights")

    async def pulling_now() -> AppStatus | None:
        status = await weights_of(runtime, ws, "llm")
        return status if status and status.weights else None

    status = await eventually(pulling_now, what="weights in the status")
    assert status.weights is not None
    assert (status.weights.done, status.weights.total, status.weights.pods) == (
        5 * GIB,
        40 * GIB,
        2,
    )
    assert status.phase == "Progressing"

    # The download moves on: the status follows the log without any object changing, and the
    # runtime wakes its status loop while a download runs.
    runtime.changed.clear()
    fake.set_logs(ws, "llm-b", f"{line(30 * GIB)}\n", container="fetch-weights")
    await eventually(runtime.changed.is_set, what="a wake-up while pulling")
    await asyncio.sleep(0.06)

    async def moved() -> AppStatus | None:
        status = await weights_of(runtime, ws, "llm")
        return status if status and status.weights and status.weights.done == 20 * GIB else None

    await eventually(moved, what="llm-a is now the least advanced")

    # Both pullers finish: no more weights in the status.
    fake.put(pod(ws, "llm-a", "llm", DONE))
    fake.put(pod(ws, "llm-b", "llm", DONE))

    async def finished() -> bool:
        status = await weights_of(runtime, ws, "llm")
        return status is not None and status.weights is None

    await eventually(finished, what="weights gone once the pullers finished")


def test_absurd_progress_lines_are_ignored_and_never_break_the_display() -> None:
    from ironplane.api.apps import WeightsStatus
    from ironplane.cli.commands.remote.apply_wait import weights_text
    from ironplane.wire.pull_progress import parse_line

    huge = '{"type":"weights-progress","done":' + "9" * 400 + ',"total":1}'
    assert parse_line(huge) is None
    assert parse_line('{"type":"weights-progress","done":1,"total":2,"rate":1e400}') is None
    sane = parse_line('{"type":"weights-progress","done":1,"total":2,"rate":3.0,"eta":1e300}')
    assert sane is not None and sane.eta is not None and sane.eta <= 1e9
    text = weights_text(WeightsStatus(done=1, total=10**400, rate=float("inf"), eta=float("nan")))
    assert text.startswith("0.0/8.0 PiB ") and "eta" not in text
