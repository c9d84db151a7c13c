"""Apply-to-ack latency: how long after ``POST /apply`` returns does the agent's ack land?

Three processes: the control plane (``ironplane server`` on SQLite; ``--postgres`` runs again on
PostgreSQL, ``--postgres-only`` on PostgreSQL alone), one real agent
(``ironplane.agent.agent.Agent`` with an in-memory runtime, so a converge is instant) and this
driver. The driver applies ``--applies`` times, one at a time, each
apply changing the Service's image, and waits for the ack before the next apply. For each apply
it records, all on the same wall clock (one machine):

* ``agent_ack``: when the agent wrote its Ack frame to the socket (agent side);
* ``cp_recorded``: the ``cluster_acks.at`` timestamp of that revision, taken by the control plane
  when it inserted the ack row (control-plane side; read from the database after the fact, so
  observing it costs the control plane nothing);
* ``api_visible`` (only with ``--poll-api``): when ``GET /api/v1/clusters/{c}`` first showed
  ``agent.applied_revision`` at the revision, polled every ``--poll-ms`` (adds load and
  granularity).

Each is reported relative to the moment the ``POST /apply`` response reached the driver.

    .venv/bin/python bench/agent_latency.py --applies 200
    .venv/bin/python bench/agent_latency.py --applies 200 --postgres --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from _controlplane import ServerProcess, machine, postgres_database

CLUSTER = "bench"
PLATFORM = f"kind: Cluster\nname: {CLUSTER}\n---\nkind: Workspace\nname: prod\ncluster: {CLUSTER}\n"


def service(tag: int) -> str:
    return f"kind: Service\nname: web\nworkspace: prod\nimage: example.com/web:{tag}\n"


# -- the agent in its own process


def agent_main(url: str, token: str, conn: Connection) -> None:
    """Run one real Agent with an in-memory runtime; send ``(revision, wall time)`` per ack."""
    import logging

    from ironplane.agent.agent import Agent
    from ironplane.agent.settings import AgentSettings
    from ironplane.wire import agent_protocol as proto

    logging.basicConfig(level=logging.WARNING)

    class MemoryRuntime:
        """The smallest runtime: holds the objects, reports every app Running."""

        name = "local"

        def __init__(self) -> None:
            self.changed = asyncio.Event()
            self.objects: list[proto.Object] = []

        async def start(self) -> None:
            pass

        async def close(self) -> None:
            pass

        async def converge(self, objects: Sequence[proto.Object]) -> None:
            self.objects = list(objects)
            self.changed.set()

        async def statuses(self) -> list[proto.AppStatus]:
            labels = [o["metadata"].get("labels", {}) for o in self.objects]
            apps = {
                (lb["ironplane.dev/workspace"], lb["ironplane.dev/app"])
                for lb in labels
                if "ironplane.dev/app" in lb
            }
            return [
                proto.AppStatus(workspace=ws, app=a, kind="Service", phase="Running", ready=1)
                for ws, a in sorted(apps)
            ]

        async def inventory(self) -> list[proto.NodeInfo]:
            return [proto.NodeInfo(name="node-1")]

        async def logs(self, workspace: str, app: str, lines: int) -> list[str]:
            return []

        async def restart(self, workspace: str, app: str) -> None:
            pass

        async def promote(self, workspace: str, app: str, *, full: bool) -> str:
            return "promoted"

        async def abort(self, workspace: str, app: str) -> str:
            return "aborted"

        async def runs(self) -> list[proto.RunStatus]:
            return []

        async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
            pass

        async def stop_run(self, workspace: str, job: str, run: str) -> None:
            pass

        async def run_logs(self, workspace: str, job: str, run: str, lines: int) -> list[str]:
            return []

    if TYPE_CHECKING:  # the bench's runtime must keep up with the agent's Runtime protocol
        from ironplane.agent.runtime import Runtime

        _: Runtime = MemoryRuntime()

    class TimedAgent(Agent):
        async def _send(self, frame: proto.Frame) -> bool:
            sent = await super()._send(frame)
            if sent and isinstance(frame, proto.Ack) and frame.ok:
                conn.send((frame.revision, time.time()))
            return sent

    async def main() -> None:
        settings = AgentSettings(server_url=url, token=token, runtime="local")
        agent = TimedAgent(settings, MemoryRuntime())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # The driver closes its end of the pipe (or sends None) to stop the agent.
        loop.add_reader(conn.fileno(), stop.set)
        await agent.run(stop)

    asyncio.run(main())


# -- measuring


@dataclass
class Sample:
    revision: int
    apply_s: float
    """POST /apply round trip."""
    agent_ack_s: float
    """Agent wrote the Ack, relative to the apply response."""
    cp_recorded_s: float
    """The control plane inserted the ack row, relative to the apply response."""
    api_visible_s: float | None = None


@dataclass
class Result:
    database: str
    applies: int
    samples: list[Sample] = field(default_factory=list)

    def column(self, name: str) -> list[float]:
        return [v for s in self.samples if (v := getattr(s, name)) is not None]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "min": min(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


class AckReader:
    """Reads ``cluster_acks.at`` for a revision from SQLite or PostgreSQL."""

    def __init__(self, sqlite_path: Path | None, pg_url: str | None) -> None:
        self.sqlite_path = sqlite_path
        self.pg_url = pg_url
        self._pg: Any = None

    async def open(self) -> None:
        if self.pg_url:
            import asyncpg

            self._pg = await asyncpg.connect(self.pg_url)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()

    async def at(self, revision: int) -> float | None:
        sql = (
            "SELECT a.at FROM cluster_acks a JOIN clusters c ON c.id = a.cluster_id "
            "WHERE c.name = {p1} AND a.revision = {p2} AND a.ok"
        )
        if self._pg is not None:
            value = await self._pg.fetchval(sql.format(p1="$1", p2="$2"), CLUSTER, revision)
            return None if value is None else float(value.timestamp())
        assert self.sqlite_path is not None
        db = sqlite3.connect(self.sqlite_path, timeout=30)
        try:
            row = db.execute(sql.format(p1="?", p2="?"), (CLUSTER, revision)).fetchone()
        finally:
            db.close()
        if row is None:
            return None
        return datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC).timestamp()


async def wait_for_ack(conn: Connection, revision: int, timeout: float) -> float:
    """The agent's wall-clock ack time for ``revision`` (skipping older acks)."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no ack for revision {revision} within {timeout:.0f}s")
        ready = await loop.run_in_executor(None, conn.poll, min(left, 1.0))
        if not ready:
            continue
        acked, at = conn.recv()
        if acked >= revision:
            return float(at)


async def poll_api(client: httpx.AsyncClient, revision: int, every_s: float) -> float:
    while True:
        r = await client.get(f"/clusters/{CLUSTER}")
        r.raise_for_status()
        if int(r.json()["agent"]["applied_revision"]) >= revision:
            return time.time()
        await asyncio.sleep(every_s)


async def measure(
    server: ServerProcess, reader: AckReader, args: argparse.Namespace, database: str
) -> Result:
    result = Result(database=database, applies=args.applies)
    async with httpx.AsyncClient(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=60,
    ) as client:

        async def apply(text: str) -> dict[str, Any]:
            body = {"documents": [{"source": "bench.yaml", "content": text}]}
            r = await client.post("/apply", json=body)
            if r.status_code != 200:
                raise RuntimeError(f"apply failed: {r.status_code} {r.text}")
            return dict(r.json())

        first = await apply(PLATFORM + "---\n" + service(0))
        token = next(c["agent_token"]["secret"] for c in first["changes"] if c.get("agent_token"))
        revision = max(c.get("cluster_revision") or 0 for c in first["changes"])
        ctx = mp.get_context("spawn")
        ours, theirs = ctx.Pipe()
        agent = ctx.Process(target=agent_main, args=(server.url, token, theirs), daemon=True)
        agent.start()
        await reader.open()
        try:
            await wait_for_ack(ours, revision, 60)
            for _ in range(args.warmup):  # connection pools, caches, first-request costs
                revision = await _one(apply, ours, revision, tag=revision + 1000)
            for i in range(args.applies):
                started = time.time()
                changes = (await apply(service(i + 1)))["changes"]
                returned = time.time()
                revision = max(c.get("cluster_revision") or 0 for c in changes)
                poller = (
                    asyncio.create_task(poll_api(client, revision, args.poll_ms / 1000))
                    if args.poll_api
                    else None
                )
                acked = await wait_for_ack(ours, revision, 60)
                visible = await asyncio.wait_for(poller, 60) if poller else None
                recorded = None
                for _attempt in range(2000):
                    recorded = await reader.at(revision)
                    if recorded is not None:
                        break
                    await asyncio.sleep(0.005)
                if recorded is None:
                    raise RuntimeError(f"revision {revision} acked but never recorded")
                result.samples.append(
                    Sample(
                        revision=revision,
                        apply_s=returned - started,
                        agent_ack_s=acked - returned,
                        cp_recorded_s=recorded - returned,
                        api_visible_s=None if visible is None else visible - returned,
                    )
                )
        finally:
            await reader.close()
            ours.send(None)
            agent.join(15)
            if agent.is_alive():
                agent.terminate()
                agent.join(5)
    return result


async def _one(
    apply: Callable[[str], Awaitable[dict[str, Any]]], conn: Connection, revision: int, *, tag: int
) -> int:
    changes = (await apply(service(tag)))["changes"]
    revision = max(c.get("cluster_revision") or 0 for c in changes)
    await wait_for_ack(conn, revision, 60)
    return revision


def run_one(args: argparse.Namespace, *, postgres: bool) -> Result:
    env = {
        "IRONPLANE_AGENT_HEARTBEAT_S": str(args.heartbeat),
        "IRONPLANE_AGENT_POLL_S": str(args.poll),
    }
    with tempfile.TemporaryDirectory(prefix="ironplane-bench-") as tmp:
        data_dir = Path(tmp) / "cp"
        with postgres_database(args.postgres_url) if postgres else contextlib.nullcontext() as pg:
            server = ServerProcess(data_dir, database_url=pg, env=env)
            server.start()
            try:
                reader = AckReader(None if pg else data_dir / "ironplane.db", pg)
                return asyncio.run(measure(server, reader, args, "postgresql" if pg else "sqlite"))
            finally:
                server.stop()


# -- output


COLUMNS = (
    ("apply_s", "POST /apply round trip"),
    ("agent_ack_s", "agent sent ack (agent side)"),
    ("cp_recorded_s", "ack row inserted (control plane, cluster_acks.at)"),
    ("api_visible_s", "applied_revision visible via GET /clusters/{c}"),
)


def table(results: Sequence[Result]) -> str:
    lines = [
        "latency after POST /apply returned, milliseconds (apply_s: the request itself)",
        "",
        f"{'database':<11} {'measure':<52} {'n':>4} "
        + " ".join(f"{k:>7}" for k in ("min", "p50", "p90", "p99", "max", "mean")),
    ]
    for result in results:
        for name, label in COLUMNS:
            values = result.column(name)
            if not values:
                continue
            stats = summary(values)
            lines.append(
                f"{result.database:<11} {label:<52} {len(values):>4} "
                + " ".join(f"{stats[k] * 1000:>7.1f}" for k in stats)
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--applies", type=int, default=200, help="timed applies [200]")
    parser.add_argument("--warmup", type=int, default=5, help="untimed applies first [5]")
    parser.add_argument(
        "--postgres", action="store_true", help="also run on PostgreSQL (after SQLite)"
    )
    parser.add_argument(
        "--postgres-only", action="store_true", help="run on PostgreSQL alone (no SQLite)"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="server URL without a database; a fresh database is created and dropped",
    )
    parser.add_argument("--poll-api", action="store_true", help="also poll GET /clusters/{c}")
    parser.add_argument("--poll-ms", type=float, default=2.0, help="API poll interval [2]")
    parser.add_argument("--heartbeat", type=float, default=15.0, help="agent heartbeat s [15]")
    parser.add_argument("--poll", type=float, default=30.0, help="session poll s [30]")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--samples", action="store_true", help="with --json: every sample")
    args = parser.parse_args(argv)

    targets = [] if args.postgres_only else [False]
    if args.postgres or args.postgres_only:
        targets.append(True)
    results = [run_one(args, postgres=pg) for pg in targets]
    if args.json:
        out: dict[str, Any] = {"machine": machine(), "args": vars(args), "results": []}
        for r in results:
            entry: dict[str, Any] = {"database": r.database, "applies": r.applies}
            for name, _label in COLUMNS:
                entry[name] = summary(r.column(name))
            if args.samples:
                entry["samples"] = [asdict(s) for s in r.samples]
            out["results"].append(entry)
        print(json.dumps(out, indent=2))
    else:
        m = machine()
        print(f"{m['date']}  {m['cpus']} CPUs ({m['cpu_model']})  Python {m['python']}")
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
