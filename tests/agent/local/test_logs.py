"""Logs: captured per replica, rotated by size, read back as the last lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironplane.agent.local import LocalRuntime
from ironplane.agent.local.logs import LogSink, merge, read_tail

from .helpers import PY, deployment, until

pytestmark = pytest.mark.anyio

PRINT_AND_WAIT = (
    "import sys, time\n"
    "for i in range(int(sys.argv[1])):\n"
    "    print(f'line {i:03d} ' + 'x' * 40, flush=True)\n"
    "print('stderr too', file=sys.stderr, flush=True)\n"
    "time.sleep(30)\n"
)


def test_sink_rotates_and_keeps_backups(tmp_path: Path) -> None:
    sink = LogSink(tmp_path / "0.log", max_bytes=100, backups=2)
    for i in range(30):
        sink.write(f"line {i:02d}\n".encode())  # 8 bytes a line
    sink.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["0.log", "0.log.1", "0.log.2"]
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    # lines are never cut, and the stream reads back in order across the files
    lines, partial = read_tail(sink.paths(), 20)
    assert not partial
    assert lines == [f"line {i:02d}" for i in range(10, 30)]
    assert [line for _, line in sink.tail(3)] == ["line 27", "line 28", "line 29"]


def test_sink_cuts_a_line_longer_than_a_file(tmp_path: Path) -> None:
    sink = LogSink(tmp_path / "0.log", max_bytes=10, backups=5)
    sink.write(b"a" * 25 + b"\nnext")
    sink.end_of_stream()
    sink.close()
    assert all(p.stat().st_size <= 10 for p in tmp_path.iterdir())
    assert [line for _, line in sink.tail(2)] == ["a" * 25, "next"]


def test_no_backups_truncates(tmp_path: Path) -> None:
    sink = LogSink(tmp_path / "0.log", max_bytes=10, backups=0)
    sink.write(b"12345678\n")
    sink.write(b"abc\n")
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["0.log"]
    assert (tmp_path / "0.log").read_bytes() == b"abc\n"


def test_merge_orders_by_arrival_and_prefixes(tmp_path: Path) -> None:
    zero = LogSink(tmp_path / "0.log", max_bytes=1000, backups=1)
    one = LogSink(tmp_path / "1.log", max_bytes=1000, backups=1)
    (tmp_path / "0.log").write_bytes(b"old zero\n")  # before this sink: order unknown
    zero.write(b"a\n")
    one.write(b"b\nc\n")
    zero.write(b"d\npart")
    zero.close()
    one.close()
    tails = [(0, zero.tail(10)), (1, one.tail(10))]
    assert merge(tails, 10) == [
        "[replica-0] old zero",
        "[replica-0] a",
        "[replica-1] b",
        "[replica-1] c",
        "[replica-0] d",
        "[replica-0] part",
    ]
    assert merge(tails, 2) == ["[replica-0] d", "[replica-0] part"]
    assert merge([(0, zero.tail(2))], 2) == ["d", "part"]


async def test_runtime_logs_and_rotation(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, log_max_bytes=2000, log_backups=2, probe_interval_s=0.05)
    try:
        await runtime.converge([deployment("talk", [PY, "-c", PRINT_AND_WAIT, "200"])])

        async def done() -> list[str]:
            lines = await runtime.logs("dev", "talk", 3)
            return lines if lines and lines[-1] == "stderr too" else []

        lines = await until(done, what="the output")
        assert lines == ["line 198 " + "x" * 40, "line 199 " + "x" * 40, "stderr too"]
        directory = tmp_path / "dev" / "talk"
        assert sorted(p.name for p in directory.glob("0.log*")) == ["0.log", "0.log.1", "0.log.2"]
        assert all(p.stat().st_size <= 2000 for p in directory.glob("0.log*"))
        # what the backups still hold comes back, in order
        many = await runtime.logs("dev", "talk", 80)
        assert many[-1] == "stderr too"
        assert many[:-1] == [f"line {i:03d} " + "x" * 40 for i in range(121, 200)]
        assert await runtime.logs("dev", "talk", 0) == []
    finally:
        await runtime.close()


async def test_runtime_logs_of_two_replicas_are_prefixed(runtime: LocalRuntime) -> None:
    await runtime.converge([deployment("pair", [PY, "-c", PRINT_AND_WAIT, "2"], replicas=2)])

    async def both() -> list[str]:
        lines = await runtime.logs("dev", "pair", 10)
        return lines if sum(1 for line in lines if line.endswith("stderr too")) == 2 else []

    lines = await until(both, what="both replicas' output")
    assert len(lines) == 6
    assert {line.split("] ")[0] + "]" for line in lines} == {"[replica-0]", "[replica-1]"}
    for replica in (0, 1):
        own = [line for line in lines if line.startswith(f"[replica-{replica}] ")]
        assert own[-1] == f"[replica-{replica}] stderr too"
