"""Idle fleet: how many idle agents does one control-plane process hold, at what CPU and memory?

The control plane runs as its own process (``ironplane server``, SQLite, or PostgreSQL with
``--postgres``) with ``IRONPLANE_AGENT_HEARTBEAT_S=15``. For each step K of ``--agents``, the
bench registers clusters until there are K (``POST /api/v1/clusters``, one agent token each),
connects the new ones with lightweight simulated agents (raw ``websockets`` clients, spread over
``--procs`` asyncio processes, speaking the agent protocol: Hello, Status and Inventory once,
Ack for every Desired, Pong for every Ping, and a Ping of their own every heartbeat), waits
``--settle`` seconds, then measures the control-plane process over ``--window`` seconds:

* CPU: utime + stime of the process (all its threads) from ``/proc/<pid>/stat``, as a percentage
  of one core, over the whole window and per ``--slice`` seconds (heartbeats come in bursts);
* RSS (``VmRSS``) at the end of the window and the peak (``VmHWM``) so far; threads at the end
  and distinct thread ids seen during the window (``thr``: end/seen);
* how many agents the control plane counts as connected (``GET /api/v1/clusters``) and how many
  simulated sessions were closed during the window (should be 0).

Steps share one control plane: step K adds K minus the previous step's agents. The simulators'
own CPU is reported too (they share the machine with the control plane).

    .venv/bin/python bench/agent_fleet.py --agents 100,250,500,1000 --window 60
    .venv/bin/python bench/agent_fleet.py --agents 1000 --window 30 --no-compression --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from _controlplane import ServerProcess, machine, postgres_database

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- /proc


@dataclass(frozen=True)
class ProcSample:
    cpu_s: float
    """utime + stime of all threads, seconds."""
    rss_mib: float
    hwm_mib: float
    threads: int


def proc_sample(pid: int) -> ProcSample:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is state
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    threads = int(fields[17])
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return ProcSample(cpu_s=cpu, rss_mib=rss, hwm_mib=hwm, threads=threads)


def thread_ids(pid: int) -> set[int]:
    with contextlib.suppress(OSError):
        return {int(t) for t in os.listdir(f"/proc/{pid}/task")}
    return set()


def main_thread_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_s(pids: Sequence[int]) -> float:
    return sum(proc_sample(p).cpu_s for p in pids)


# -- simulated agents (one asyncio process each serves many)


@dataclass
class SimCounters:
    connected: int = 0
    failed: int = 0
    closed: int = 0
    frames_in: int = 0
    frames_out: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SimConfig:
    url: str
    heartbeat_s: float
    compression: bool
    parallel: int
    """Handshakes in flight at once, per simulator process."""
    open_timeout_s: float
    """Give up on a handshake (WebSocket upgrade, then Welcome) after this long."""


def simulator_main(cfg: SimConfig, conn: Connection) -> None:
    """A process of simulated agents, driven over ``conn``.

    Commands: ``("connect", [token, ...])`` answers ``("connected", counters)`` once every new
    agent got its Welcome (or failed); ``("stats",)`` answers ``("stats", counters)``;
    ``("stop",)`` closes every connection and answers ``("stopped", counters)``.
    """
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    from ironplane import __version__
    from ironplane.wire import agent_protocol as proto

    ws_url = cfg.url.replace("http://", "ws://", 1) + "/api/v1/agent/connect"
    heartbeat_s = cfg.heartbeat_s
    counters = SimCounters()
    sockets: set[ClientConnection] = set()
    tasks: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(cfg.parallel)

    async def send(ws: ClientConnection, frame: proto.Frame) -> None:
        await ws.send(proto.encode(frame))
        counters.frames_out += 1

    async def heartbeat(ws: ClientConnection) -> None:
        await asyncio.sleep(random.uniform(0, heartbeat_s))  # spread the fleet's pings
        while True:
            await send(ws, proto.Ping(at=time.time()))
            await asyncio.sleep(heartbeat_s)

    async def agent(token: str, welcomed: asyncio.Future[bool]) -> None:
        beat: asyncio.Task[None] | None = None
        ws: ClientConnection | None = None
        try:
            async with gate:
                started = time.monotonic()
                ws = await connect(
                    ws_url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=cfg.open_timeout_s,
                    ping_interval=None,
                    compression="deflate" if cfg.compression else None,
                    user_agent_header=f"ironplane-agent-sim/{__version__}",
                )
                await send(ws, proto.Hello(agent_version=__version__, runtime="local"))
                left = max(0.001, cfg.open_timeout_s - (time.monotonic() - started))
                welcome = proto.decode_server_frame(await asyncio.wait_for(ws.recv(), left))
                counters.frames_in += 1
                if not isinstance(welcome, proto.Welcome):
                    raise RuntimeError(f"expected welcome, got {welcome!r}")
            sockets.add(ws)
            counters.connected += 1
            welcomed.set_result(True)
            await send(ws, proto.Status(apps=[]))
            await send(ws, proto.Inventory(nodes=[proto.NodeInfo(name="node-1")]))
            beat = asyncio.create_task(heartbeat(ws))
            async for raw in ws:
                counters.frames_in += 1
                frame = proto.decode_server_frame(raw)
                if isinstance(frame, proto.Desired):
                    await send(ws, proto.Ack(revision=frame.revision, hash=frame.hash))
                elif isinstance(frame, proto.Ping):
                    await send(ws, proto.Pong(at=frame.at))
                elif isinstance(frame, proto.Error):
                    counters.errors.append(f"{frame.code}: {frame.message}"[:200])
            counters.closed += 1
        except (OSError, TimeoutError, ConnectionClosed, RuntimeError) as exc:
            if welcomed.done():
                counters.closed += 1
            else:
                counters.failed += 1
            if len(counters.errors) < 20:
                counters.errors.append(repr(exc)[:200])
        finally:
            if not welcomed.done():
                welcomed.set_result(False)
            if beat is not None:
                beat.cancel()
            if ws is not None:
                if ws in sockets:
                    sockets.discard(ws)
                    counters.connected -= 1
                with contextlib.suppress(Exception):
                    await ws.close()

    async def connect_all(tokens: list[str]) -> None:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[bool]] = []
        for token in tokens:
            welcomed: asyncio.Future[bool] = loop.create_future()
            futures.append(welcomed)
            task = asyncio.create_task(agent(token, welcomed))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*futures)
        conn.send(("connected", asdict(counters)))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        pending: set[asyncio.Task[None]] = set()

        def on_command() -> None:
            try:
                command = conn.recv()
            except EOFError:
                loop.remove_reader(conn.fileno())
                stop.set()
                return
            if command[0] == "connect":
                task = asyncio.create_task(connect_all(list(command[1])))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif command[0] == "stats":
                conn.send(("stats", asdict(counters)))
            elif command[0] == "stop":
                loop.remove_reader(conn.fileno())
                stop.set()

        loop.add_reader(conn.fileno(), on_command)
        await stop.wait()
        for ws in list(sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(OSError):
            conn.send(("stopped", asdict(counters)))

    asyncio.run(main())


class Simulators:
    """``procs`` simulator processes; agents are dealt to them round-robin."""

    def __init__(self, cfg: SimConfig, *, procs: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(procs):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=simulator_main,
                args=(cfg, theirs),
                daemon=True,
            )
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [int(p.pid) for p in self.procs]

    def _ask(self, command: tuple[Any, ...], *, timeout: float = 300) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send(command)
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError(f"a simulator did not answer {command[0]!r}")
            answers.append(pipe.recv()[1])
        return answers

    def connect(self, tokens: Sequence[str]) -> list[dict[str, Any]]:
        shares: list[list[str]] = [[] for _ in self.pipes]
        for i, token in enumerate(tokens):
            shares[i % len(shares)].append(token)
        for pipe, share in zip(self.pipes, shares, strict=True):
            pipe.send(("connect", share))
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(600):
                raise TimeoutError("a simulator did not finish connecting")
            answers.append(pipe.recv()[1])
        return answers

    def stats(self) -> dict[str, Any]:
        return merge(self._ask(("stats",)))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ask(("stop",), timeout=60)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


def merge(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"errors": []}
    for a in answers:
        for key, value in a.items():
            if key == "errors":
                total["errors"].extend(value)
            else:
                total[key] = total.get(key, 0) + value
    total["errors"] = total["errors"][:10]
    return total


# -- the control plane's view


async def register(url: str, admin: str, names: Sequence[str], parallel: int = 8) -> list[str]:
    """Register clusters; their agent tokens in the same order."""
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(
        base_url=url + "/api/v1", headers={"Authorization": f"Bearer {admin}"}, timeout=120
    ) as client:

        async def one(name: str) -> str:
            async with gate:
                r = await client.post("/clusters", json={"kind": "Cluster", "name": name})
                if r.status_code != 201:
                    raise RuntimeError(f"register {name}: {r.status_code} {r.text}")
                return str(r.json()["agent_token"]["secret"])

        return list(await asyncio.gather(*(one(n) for n in names)))


def connected_count(url: str, admin: str) -> int:
    r = httpx.get(
        url + "/api/v1/clusters", headers={"Authorization": f"Bearer {admin}"}, timeout=120
    )
    r.raise_for_status()
    return sum(1 for c in r.json() if (c.get("agent") or {}).get("connected"))


@dataclass
class Step:
    agents: int
    connected_cp: int
    """Agents the control plane counts as connected after the window."""
    connect_s: float
    """Wall time to connect this step's new agents."""
    connect_cpu_s: float
    """Control-plane CPU seconds from the first new connection to the end of ``--settle``
    (includes the idle cost of the agents already connected)."""
    window_s: float
    cpu_pct: float
    """Control-plane CPU over the window, percent of one core."""
    main_cpu_pct: float
    """The main thread alone (the event loop); the rest is aiosqlite's worker threads."""
    cpu_slices_pct: list[float]
    rss_mib: float
    hwm_mib: float
    threads: int
    threads_seen: int
    """Distinct thread ids seen during the window, sampled twice a second (a lower bound):
    more than ``threads`` means threads (aiosqlite connections) come and go."""
    sim_cpu_pct: float
    """All simulator processes together, percent of one core."""
    closed_in_window: int
    failed: int
    sim_errors: list[str]
    profiled_connect: bool = False
    """py-spy ran while this step connected: connect_s and connect_cpu_s are inflated."""


def run(args: argparse.Namespace) -> tuple[list[Step], dict[str, Any]]:
    steps = sorted({int(k) for k in args.agents.split(",") if k.strip()})
    env = {
        "IRONPLANE_AGENT_HEARTBEAT_S": str(args.heartbeat),
        "IRONPLANE_AGENT_POLL_S": str(args.poll),
    }
    results: list[Step] = []
    extra: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ironplane-fleet-") as tmp,
        postgres_database(args.postgres_url) if args.postgres else contextlib.nullcontext() as pg,
    ):
        server = ServerProcess(Path(tmp) / "cp", database_url=pg, env=env)
        server.start()
        sims: Simulators | None = None
        try:
            idle = proc_sample(server.pid)
            extra["rss_idle_mib"] = idle.rss_mib
            cfg = SimConfig(
                url=server.url,
                heartbeat_s=args.heartbeat,
                compression=not args.no_compression,
                parallel=args.connect_parallel,
                open_timeout_s=args.open_timeout,
            )
            sims = Simulators(cfg, procs=args.procs)
            have = 0
            for k in steps:
                names = [f"c-{i:05d}" for i in range(have, k)]
                log(f"step {k}: registering {len(names)} clusters")
                tokens = asyncio.run(register(server.url, server.admin_token, names))
                log(f"step {k}: connecting {len(tokens)} agents over {args.procs} processes")
                last = k == steps[-1]
                spy = (
                    Spy(server.pid, Path(f"{args.profile}.connect"))
                    if args.profile and last
                    else None
                )
                cpu0, t0 = proc_sample(server.pid).cpu_s, time.monotonic()
                sims.connect(tokens)
                connect_s = time.monotonic() - t0
                have = k
                time.sleep(args.settle)  # the writes after Welcome (status, inventory, ack)
                connect_cpu = proc_sample(server.pid).cpu_s - cpu0
                if spy is not None:
                    extra["profile_connect"] = spy.stop()
                before = sims.stats()
                log(
                    f"step {k}: {before['connected']} simulated sessions up "
                    f"({before['failed']} failed); measuring {args.window:.0f}s"
                )
                pids = sims.pids
                start = proc_sample(server.pid)
                main_start = main_thread_cpu_s(server.pid)
                sim_start = cpu_s(pids)
                t_start = time.monotonic()
                slices: list[float] = []
                last_cpu, last_t = start.cpu_s, t_start
                tids = thread_ids(server.pid)
                while (now := time.monotonic()) < t_start + args.window:
                    next_slice = min(last_t + args.slice, t_start + args.window)
                    while (now := time.monotonic()) < next_slice:
                        time.sleep(min(0.5, next_slice - now))
                        tids |= thread_ids(server.pid)
                    sample, t = proc_sample(server.pid), time.monotonic()
                    slices.append(100 * (sample.cpu_s - last_cpu) / (t - last_t))
                    last_cpu, last_t = sample.cpu_s, t
                end = proc_sample(server.pid)
                main_end = main_thread_cpu_s(server.pid)
                window = time.monotonic() - t_start
                sim_cpu = cpu_s(pids) - sim_start
                after = sims.stats()
                cp_connected = connected_count(server.url, server.admin_token)
                step = Step(
                    agents=k,
                    connected_cp=cp_connected,
                    connect_s=connect_s,
                    connect_cpu_s=connect_cpu,
                    window_s=window,
                    cpu_pct=100 * (end.cpu_s - start.cpu_s) / window,
                    main_cpu_pct=100 * (main_end - main_start) / window,
                    cpu_slices_pct=[round(s, 1) for s in slices],
                    rss_mib=end.rss_mib,
                    hwm_mib=end.hwm_mib,
                    threads=end.threads,
                    threads_seen=len(tids),
                    sim_cpu_pct=100 * sim_cpu / window,
                    closed_in_window=after["closed"] - before["closed"],
                    failed=after["failed"],
                    sim_errors=after["errors"],
                    profiled_connect=spy is not None,
                )
                results.append(step)
                log(
                    f"step {k}: cp connected {cp_connected}, cpu {step.cpu_pct:.1f}% "
                    f"rss {step.rss_mib:.0f} MiB"
                )
                if args.profile and last:
                    # Another window after the measured one: py-spy itself costs CPU.
                    log(f"profiling the control plane for {args.window:.0f}s with py-spy")
                    spy = Spy(server.pid, Path(args.profile))
                    time.sleep(args.window)
                    extra["profile"] = spy.stop()
        finally:
            if sims is not None:
                sims.stop()
            server.stop()
            if args.keep_log:
                shutil.copy(server.log, args.keep_log)
    return results, extra


class Spy:
    """``py-spy record`` of the control plane (all threads, on-CPU samples) until ``stop``."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            self.error = "py-spy is not installed (pip install py-spy)"
            return
        command = [spy, "record", "--pid", str(pid), "--duration", "100000", "--rate", "100"]
        command += ["--format", "raw", "--output", str(out), "--threads"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1)  # attach

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {"error": self.error}
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        _, err = self.proc.communicate(timeout=60)
        if not self.out.exists():
            return {"error": f"py-spy failed: {err.decode(errors='replace').strip()[-500:]}"}
        return {"file": str(self.out), "main_thread": buckets(self.out)}


# What a main-thread stack is doing, first match wins. SQLAlchemy's async layer runs ORM work in
# greenlets whose stacks do not show the awaiting coroutine: those land in "db: ORM (greenlets)".
BUCKETS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (label, all of these substrings, none of these)
    ("db: connect: authenticate", ("agent_connect", "authenticate"), ()),
    ("db: connect: _connected (row + audit)", ("AgentSession._connected",), ()),
    ("db: disconnect", ("AgentSession._disconnected",), ()),
    ("ws: connect: accept/handshake", ("agent_connect", "accept"), ()),
    ("log: logging", ("logging/__init__",), ()),
    ("db: heartbeat writes agent_seen_at", ("AgentSession._heartbeat", "Database.session"), ()),
    ("ws: server Ping out", ("AgentSession._heartbeat", "AgentSession.send"), ()),
    ("db: poll _token_valid", ("AgentSession._token_valid",), ()),
    ("db: _push (revision check; the state on connect)", ("AgentSession._push ",), ()),
    ("ws: Pong out (agent's Ping)", ("AgentSession._receive", "AgentSession.send"), ()),
    ("db: ack/status/inventory writes", ("AgentSession._handle",), ()),
    ("ws: frames in (receive, decode)", ("AgentSession._receive",), ()),
    ("db: ORM (greenlets)", ("sqlalchemy/",), ()),
    ("db: aiosqlite/asyncpg callbacks", ("aiosqlite/",), ()),
    ("db: aiosqlite/asyncpg callbacks", ("asyncpg/",), ()),
    ("ws: protocol (bytes in, keepalive)", ("websockets/",), ()),
    ("ws: protocol (bytes in, keepalive)", ("_read_ready",), ()),
    ("ws: socket writes", ("_SelectorSocketTransport.write",), ()),
    ("other: agent session", ("AgentSession",), ()),
)


def buckets(path: Path) -> dict[str, float]:
    """Share of the main thread's samples per bucket, and per group (``db``, ``ws``...).

    Samples in ``epoll_wait`` are left out of the shares (reported apart, as a share of all the
    main thread's samples): py-spy cannot always tell a loop waiting for events from one
    working, so they are mostly idle time.
    """
    counts: dict[str, int] = {}
    total = epoll = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or "MainThread" not in stack.split(";", 1)[0]:
            continue
        if "EpollSelector.select" in stack:
            epoll += int(n)
            continue
        total += int(n)
        label = "loop: scheduling and other"
        for name, need, avoid in BUCKETS:
            if all(x in stack for x in need) and not any(x in stack for x in avoid):
                label = name
                break
        counts[label] = counts.get(label, 0) + int(n)
    if not total:
        return {}
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    shares = {k: round(100 * v / total, 1) for k, v in ordered}
    groups: dict[str, float] = {}
    for k, v in shares.items():
        group = k.split(":", 1)[0] + " (total)"
        groups[group] = round(groups.get(group, 0) + v, 1)
    left_out = {"(epoll wait, left out: % of all samples)": round(100 * epoll / (total + epoll), 1)}
    return {**groups, **shares, **left_out}


# -- output


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def table(steps: Sequence[Step], extra: dict[str, Any]) -> str:
    head = (
        f"{'agents':>6} {'cp conn':>7} {'cpu %':>6} {'main %':>6} {'slices min/max':>14} "
        f"{'rss MiB':>8} {'peak':>6} {'thr':>7} {'sim cpu %':>9} {'closed':>6} "
        f"{'connect s':>9} {'conn cpu s':>10}"
    )
    lines = [f"control plane idle RSS before agents: {extra.get('rss_idle_mib', 0):.0f} MiB", head]
    for s in steps:
        lo, hi = (min(s.cpu_slices_pct), max(s.cpu_slices_pct)) if s.cpu_slices_pct else (0, 0)
        lines.append(
            f"{s.agents:>6} {s.connected_cp:>7} {s.cpu_pct:>6.1f} {s.main_cpu_pct:>6.1f} "
            f"{f'{lo:.0f}/{hi:.0f}':>14} "
            f"{s.rss_mib:>8.0f} {s.hwm_mib:>6.0f} {f'{s.threads}/{s.threads_seen}':>7} "
            f"{s.sim_cpu_pct:>9.1f} "
            f"{s.closed_in_window:>6} {s.connect_s:>9.1f} {s.connect_cpu_s:>10.1f}"
            + (" (connect profiled)" if s.profiled_connect else "")
        )
    errors = sorted({e for s in steps for e in s.sim_errors})
    if errors:
        lines.append("simulator errors (first few): " + "; ".join(errors[:5]))
    for key, what in (("profile_connect", "connecting"), ("profile", "idle")):
        prof = extra.get(key)
        if not prof:
            continue
        if prof.get("error"):
            lines.append(f"profile ({what}): {prof['error']}")
            continue
        lines.append(f"profile ({what}, {prof['file']}): main-thread samples, percent")
        lines += [f"  {share:5.1f}  {name}" for name, share in prof["main_thread"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--agents", default="100,250,500,1000", help="steps, comma-separated")
    parser.add_argument("--window", type=float, default=60.0, help="measuring window s [60]")
    parser.add_argument("--slice", type=float, default=5.0, help="CPU slice s [5]")
    parser.add_argument("--settle", type=float, default=10.0, help="wait after connecting s [10]")
    parser.add_argument("--procs", type=int, default=2, help="simulator processes [2]")
    parser.add_argument(
        "--connect-parallel",
        type=int,
        default=32,
        help="handshakes in flight per simulator process [32]; the fleet dials faster with more",
    )
    parser.add_argument(
        "--open-timeout",
        type=float,
        default=120.0,
        help="handshake timeout s [120]; the real agent uses 10 (connect_timeout_s)",
    )
    parser.add_argument("--heartbeat", type=float, default=15.0, help="agent heartbeat s [15]")
    parser.add_argument("--poll", type=float, default=30.0, help="session poll s [30]")
    parser.add_argument(
        "--no-compression", action="store_true", help="agents do not offer permessage-deflate"
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="server URL without a database; a fresh database is created and dropped",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="py-spy (on PATH or in the venv) the control plane at the last step: connecting "
        "into FILE.connect, idle (another window after the measured one) into FILE",
    )
    parser.add_argument("--keep-log", metavar="FILE", help="copy the control plane's log here")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    m = machine()
    steps, extra = run(args)
    if args.json:
        out = {"machine": m, "args": vars(args), "steps": [asdict(s) for s in steps], **extra}
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{m['date']}  {m['cpus']} CPUs ({m['cpu_model']})  Python {m['python']}  "
            f"load {m['loadavg'][0]:.1f}  database {'postgresql' if args.postgres else 'sqlite'}"
            f"  compression {'off' if args.no_compression else 'deflate'}"
        )
        print(table(steps, extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
