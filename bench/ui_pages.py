"""How long the web UI's pages take to render with 500 apps.

Two processes besides this driver: the control plane (``ironplane server``, SQLite by default,
``--postgres`` for PostgreSQL) and one real agent with an in-memory runtime (from
bench/agent_latency.py) that reports every app Running, so pages render real statuses. The driver
applies ``--apps`` Services (100 per apply), waits until the agent has acknowledged them and the
statuses are stored, signs in to the UI with the admin token and then fetches each page
``--rounds`` times, one request at a time, timing the whole HTTP round trip on loopback (the
server's render time plus a few hundred µs of transport).

    .venv/bin/python bench/ui_pages.py --apps 500 --rounds 30
    .venv/bin/python bench/ui_pages.py --apps 500 --rounds 30 --postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _controlplane import ServerProcess, machine, postgres_database
from agent_latency import PLATFORM, agent_main, wait_for_ack

PAGES = (
    "/ui/",
    "/ui/apps",
    "/ui/apps?workspace=prod",
    "/ui/apps/prod/svc-0007",
    "/ui/clusters",
    "/ui/clusters/bench",
    "/ui/workspaces",
    "/ui/jobs",
    "/ui/audit",
)


def services(first: int, count: int) -> str:
    return "---\n".join(
        f"kind: Service\nname: svc-{i:04d}\nworkspace: prod\nimage: example.com/web:{i}\n"
        f"replicas: 2\nports: [{{port: 8080}}]\n"
        for i in range(first, first + count)
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=120,
    ) as api:

        async def apply(text: str) -> dict[str, Any]:
            r = await api.post(
                "/apply", json={"documents": [{"source": "b.yaml", "content": text}]}
            )
            if r.status_code != 200:
                raise RuntimeError(f"apply failed: {r.status_code} {r.text[:500]}")
            return dict(r.json())

        first = await apply(PLATFORM)
        token = next(c["agent_token"]["secret"] for c in first["changes"] if c.get("agent_token"))
        ctx = mp.get_context("spawn")
        ours, theirs = ctx.Pipe()
        agent = ctx.Process(target=agent_main, args=(server.url, token, theirs), daemon=True)
        agent.start()
        try:
            revision = 0
            for start in range(0, args.apps, 100):
                changes = (await apply(services(start, min(100, args.apps - start))))["changes"]
                revision = max(revision, *(c.get("cluster_revision") or 0 for c in changes))
            await wait_for_ack(ours, revision, 300)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # statuses arrive on the agent's status interval
                apps = (await api.get("/apps")).json()
                if sum(1 for a in apps if a.get("status")) >= args.apps:
                    break
                await asyncio.sleep(1)
            else:
                raise RuntimeError("the agent's statuses did not all arrive")
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as ui:
                r = await ui.post("/ui/login", data={"token": server.admin_token})
                if r.status_code != 303:
                    raise RuntimeError(f"UI sign-in failed: {r.status_code}")
                results: dict[str, Any] = {}
                for path in PAGES:
                    times: list[float] = []
                    size = 0
                    status = 0
                    for _ in range(args.rounds + 2):
                        started = time.perf_counter()
                        r = await ui.get(path)
                        times.append(time.perf_counter() - started)
                        size, status = len(r.content), r.status_code
                    times = times[2:]  # the first requests warm caches and templates
                    results[path] = {
                        "status": status,
                        "bytes": size,
                        "p50_ms": round(statistics.median(times) * 1000, 1),
                        "p99_ms": round(percentile(times, 99) * 1000, 1),
                        "max_ms": round(max(times) * 1000, 1),
                    }
                return results
        finally:
            ours.close()
            agent.join(10)
            if agent.is_alive():
                agent.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ironplane-bench-ui-") as tmp:
        pg = postgres_database(args.postgres_url) if args.postgres else contextlib.nullcontext()
        with pg as url:
            server = ServerProcess(
                Path(tmp) / "cp", database_url=url, env={"IRONPLANE_LOG_FORMAT": "text"}
            )
            server.start()
            try:
                results = asyncio.run(measure(server, args))
            finally:
                server.stop()
    report = {
        "apps": args.apps,
        "rounds": args.rounds,
        "database": "postgresql" if args.postgres else "sqlite",
        "machine": machine(),
        "pages": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.apps} apps, {args.rounds} rounds, {report['database']}")
    print(f"{'page':32} {'status':>6} {'KiB':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for path, r in results.items():
        print(
            f"{path:32} {r['status']:>6} {r['bytes'] / 1024:>7.1f} {r['p50_ms']:>8} "
            f"{r['p99_ms']:>8} {r['max_ms']:>8}"
        )
    slow = [p for p, r in results.items() if r["p99_ms"] >= 300]
    print("every page under 300 ms (p99)" if not slow else f"over 300 ms (p99): {', '.join(slow)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
