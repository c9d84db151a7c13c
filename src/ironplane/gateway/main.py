"""``ironplane gateway``: run the gateway, check a configuration, make or hash keys.

This module is reached without the CLI's own imports (see ``ironplane.entry``), so the gateway
process loads only its light dependencies: msgspec, PyYAML, httptools, uvloop and
prometheus-client.

With ``--workers N`` the parent binds the port, forks N workers that each listen on it with
SO_REUSEPORT (the kernel spreads connections), forwards SIGHUP and SIGTERM to them, restarts a
worker that dies, and exits when they have all stopped.

With a ``control_plane`` section one process fetches the snapshot for all workers
(``source.py``): the parent between its other chores, or the single worker in a thread. It is
fetched once before serving, so the first requests already see it when the control plane
answers.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time

from ironplane.core.errors import ConfigError
from ironplane.gateway import config as config_file
from ironplane.gateway.snapshot import Store
from ironplane.gateway.source import Source

USAGE = """\
ironplane gateway --config FILE [--host H] [--port P] [--workers N]
ironplane gateway check --config FILE      validate a configuration and exit
ironplane gateway new-key NAME             make a key; print it and its config entry
ironplane gateway hash-key                 read a key on stdin, print its hash
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironplane gateway",
        usage=USAGE,
        description="An OpenAI-compatible LLM gateway (see docs/gateway.md).",
    )
    parser.add_argument("--config", required=True, help="the YAML configuration file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def main(argv: list[str]) -> int:
    if argv and argv[0] == "new-key":
        return _new_key(argv[1:])
    if argv and argv[0] == "hash-key":
        return _hash_key(argv[1:])
    if argv and argv[0] == "check":
        return _check(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.workers < 1 or args.workers > 256:
        print("error: --workers must be between 1 and 256", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("error: --port must be between 0 and 65535", file=sys.stderr)
        return 2
    try:
        loaded = config_file.load(args.config)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    from ironplane.gateway import worker

    if args.workers == 1:
        store_dir = None
        source = store = None
        if loaded.config.control_plane is not None:
            store_dir = tempfile.mkdtemp(prefix="ironplane-gateway-")
            store = Store(store_dir)
            source = Source(args.config, loaded, store)
            source.refresh()
        try:
            return worker.run(loaded, args.config, args.host, args.port, store=store, source=source)
        except OSError as exc:
            print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        finally:
            if store_dir is not None:
                shutil.rmtree(store_dir, ignore_errors=True)
    return _supervise(loaded, args.config, args.host, args.port, args.workers)


def _check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ironplane gateway check")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    try:
        loaded = config_file.load(args.config)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    c = loaded.config
    print(
        f"{args.config}: ok ({len(c.providers)} providers, {len(c.models)} models, "
        f"{len(c.keys)} keys)"
    )
    return 0


def _new_key(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ironplane gateway new-key")
    parser.add_argument("name", help="a name for the key (shown in metrics, never the key)")
    args = parser.parse_args(argv)
    key = "sk-ip-" + secrets.token_urlsafe(32)
    print(f"key (shown once, give it to the client): {key}")
    print("add to the gateway configuration under `keys:`")
    print(f"  - name: {args.name}\n    hash: {config_file.hash_key(key)}\n    models: ['*']")
    return 0


def _hash_key(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="ironplane gateway hash-key", description="Reads one key on stdin."
    ).parse_args(argv)
    key = sys.stdin.readline().strip()
    if not key:
        print('error: no key on stdin (e.g. `printf %s "$KEY" | ...`)', file=sys.stderr)
        return 2
    print(config_file.hash_key(key))
    return 0


def _supervise(loaded: config_file.Loaded, path: str, host: str, port: int, workers: int) -> int:
    from ironplane.gateway import worker

    log = logging.getLogger("ironplane.gateway")
    # Bind (without listening) to claim the port and learn it when 0 was asked for.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((host, port))
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    port = holder.getsockname()[1]
    share = tempfile.mkdtemp(prefix="ironplane-gateway-")
    children: dict[int, int] = {}
    stopping = False
    store = Store(share) if loaded.config.control_plane is not None else None
    source = Source(path, loaded, store) if store is not None else None
    if source is not None:
        source.refresh()  # before the workers start: they begin with the snapshot
    next_refresh = time.monotonic() + (source.interval if source else 0.0)

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                # Until the worker's loop handles SIGHUP: a reload asked for now is not a kill.
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards SIGTERM
                holder.close()
                try:
                    latest = config_file.load(path)
                except ConfigError:
                    latest = loaded
                code = worker.run(
                    latest,
                    path,
                    host,
                    port,
                    workers=workers,
                    worker=index,
                    share_dir=share,
                    announce=False,
                    store=store,
                )
            finally:
                os._exit(code)
        children[pid] = index

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
            signum = signal.SIGTERM
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    for i in range(workers):
        spawn(i)
    log.info(
        "ironplane gateway listening on http://%s:%d (%d workers, config %s, pid %d)",
        host,
        port,
        workers,
        path,
        os.getpid(),
    )
    try:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if source is not None and not stopping and time.monotonic() >= next_refresh:
                    try:
                        if source.refresh():
                            forward(signal.SIGHUP, None)  # the workers reload with it now
                    except Exception:  # a bug here must not stop the supervisor
                        log.exception("control plane refresh failed")
                    next_refresh = time.monotonic() + source.interval
                time.sleep(0.2)
                continue
            index = children.pop(pid, None)
            if index is not None and not stopping:
                log.error(
                    "worker %d (pid %d) stopped (status %d); starting it again", index, pid, status
                )
                time.sleep(0.5)
                if not stopping:
                    spawn(index)
    finally:
        holder.close()
        shutil.rmtree(share, ignore_errors=True)
    return 0
