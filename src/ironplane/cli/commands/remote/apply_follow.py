"""``apply`` waits: poll the control plane until every applied object is ready, one fails, or
the time is up; show each object's progress on the way.

On a terminal, a live table (Rich) on stderr; otherwise (and with ``-o json``/``yaml``) one plain
line on stderr each time an object's progress changes. stdout keeps the apply report. The
decisions are ``apply_wait``'s; this module only polls and prints.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TextIO

from ironplane.cli.commands.remote.apply_wait import (
    FINAL,
    Progress,
    Seen,
    Target,
    evaluate,
    outcome,
    weights_text,
)
from ironplane.core.errors import (
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
)

if TYPE_CHECKING:
    from ironplane.api.apps import ApplyResult
    from ironplane.sdk import Client

EXIT_FAILED = 3
"""``apply`` exit code when an applied object failed."""
EXIT_TIMEOUT = 4
"""``apply`` exit code when the objects were not all ready within ``--timeout``."""
POLL_S = 1.0
CLOCK: Callable[[], float] = time.monotonic
SLEEP: Callable[[float], None] = time.sleep
TRANSIENT = (UnavailableError, RateLimitedError)
"""The errors of a poll that the next poll may not meet: the wait goes on. Any other (an expired
token...) ends the command, as in any other command."""
WEIGHTS_LINE_EVERY_S = 10.0
"""Plain output: a line for weights progress alone at most this often per object."""


def observe(client: Client, targets: Sequence[Target]) -> dict[Target, Seen]:
    """One poll: each workspace's progress once (its apps named), each cluster's once."""
    seen: dict[Target, Seen] = {}
    spaces: dict[str, list[Target]] = {}
    for t in targets:
        if t.kind == "Cluster":
            seen[t] = _cluster(client, t.name)
        else:
            spaces.setdefault((t.workspace or "") if t.is_app else t.name, []).append(t)
    for workspace, items in spaces.items():
        apps = sorted({t.name for t in items if t.is_app})
        try:
            got = client.workspaces.progress(workspace, apps)
        except (ForbiddenError, NotFoundError) as exc:
            seen.update({t: Seen(problem=exc.message) for t in items})
            continue
        except TRANSIENT as exc:
            seen.update({t: Seen(transient=exc.message) for t in items})
            continue
        by_name = {a.name: a for a in got.apps}
        for t in items:
            seen[t] = Seen(
                cluster=got.cluster,
                revision=got.revision,
                applied_revision=got.applied_revision,
                agent_connected=got.agent_connected,
                failed_revision=got.failed_revision,
                failed_error=got.failed_error,
                app=by_name.get(t.name) if t.is_app else None,
            )
    return seen


def _cluster(client: Client, name: str) -> Seen:
    try:
        got = client.clusters.get(name)
    except (ForbiddenError, NotFoundError) as exc:
        return Seen(problem=exc.message)
    except TRANSIENT as exc:
        return Seen(transient=exc.message)
    return Seen(
        cluster=name,
        revision=got.revision,
        applied_revision=got.agent.applied_revision,
        agent_connected=got.agent.connected,
    )


def describe(p: Progress) -> str:
    """One line for one object: ``Service default/hello: Running 2/2 · revision 7 · ready``."""
    parts = [p.phase or "-"]
    if p.desired is not None and p.target.is_app and p.target.kind not in ("Volume",):
        parts[0] += f" {p.ready or 0}/{p.desired}"
    if p.needed_revision is not None:
        parts.append(_revision(p))
    if p.rollout:
        parts.append(p.rollout)
    if p.weights is not None:
        parts.append("weights " + weights_text(p.weights))
    state = {"ready": "ready", "failed": "FAILED", "skipped": "skipped"}.get(p.state)
    if state:
        parts.append(state)
    if p.note:
        parts.append(p.note)
    return f"{p.target.ref}: " + " · ".join(parts)


def _revision(p: Progress) -> str:
    applied, needed = p.applied_revision or 0, p.needed_revision
    return (
        f"revision {needed} applied" if applied >= (needed or 0) else f"revision {applied}→{needed}"
    )


class Lines:
    """Plain output: a line when an object's progress changes (weights alone: now and then)."""

    def __init__(self, out: TextIO, clock: Callable[[], float]) -> None:
        self.out = out
        self.clock = clock
        self._last: dict[Target, tuple[str, str, float]] = {}
        """Per object: the line printed last, the same without weights, and when."""

    def update(self, progress: Iterable[Progress]) -> None:
        now = self.clock()
        for p in progress:
            text, quiet = describe(p), describe(replace(p, weights=None))
            last = self._last.get(p.target)
            if last is not None:
                was, was_quiet, at = last
                if text == was or (quiet == was_quiet and now - at < WEIGHTS_LINE_EVERY_S):
                    continue
            self.out.write(text + "\n")
            self.out.flush()
            self._last[p.target] = (text, quiet, now)

    def close(self) -> None:
        return None


@dataclass
class LiveTable:
    """A terminal: one table, redrawn in place."""

    out: TextIO
    _live: Any = field(default=None, init=False)

    def update(self, progress: Sequence[Progress]) -> None:
        from rich.console import Console
        from rich.live import Live

        if self._live is None:
            console = Console(file=self.out, highlight=False)
            self._live = Live(self._table(progress), console=console, auto_refresh=False)
            self._live.start()
        self._live.update(self._table(progress), refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()

    @staticmethod
    def _table(progress: Sequence[Progress]) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for header in ("OBJECT", "PHASE", "READY", "REVISION", "ROLLOUT", "WEIGHTS", "STATE"):
            table.add_column(header, overflow="fold")
        style = {"ready": "green", "failed": "bold red", "skipped": "dim", "waiting": "yellow"}
        for p in progress:
            ready = f"{p.ready or 0}/{p.desired}" if p.desired is not None else "-"
            revision = _revision(p) if p.needed_revision is not None else "-"
            weights = weights_text(p.weights) if p.weights else "-"
            state = p.state + (f": {p.note}" if p.note else "")
            table.add_row(
                p.target.ref,
                p.phase or "-",
                ready,
                revision,
                p.rollout or "-",
                weights,
                f"[{style[p.state]}]{_escape(state)}[/]",
            )
        return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def follow(
    client: Client,
    result: ApplyResult,
    *,
    timeout_s: float,
    live: bool,
    out: TextIO | None = None,
    poll_s: float | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Wait for what ``result`` applied; print progress and a summary on ``out`` (stderr).
    Returns the exit code: 0 all ready, ``EXIT_FAILED``, or ``EXIT_TIMEOUT``. ``clock`` and
    ``sleep`` default to the module's ``CLOCK`` and ``SLEEP`` (tests replace them)."""
    stream = out or sys.stderr
    clock = clock or CLOCK
    sleep = sleep or SLEEP
    targets = [Target.of(c) for c in result.changes]
    if not targets:
        return 0
    new_clusters = {c.name for c in result.changes if c.kind == "Cluster" and c.action == "create"}
    view: Lines | LiveTable = LiveTable(stream) if live else Lines(stream, clock)
    deadline = clock() + timeout_s
    progress: dict[Target, Progress] = {t: Progress(t) for t in targets}
    state = "waiting"
    try:
        while True:
            pending = [t for t in targets if progress[t].state not in FINAL]
            seen = observe(client, pending)
            now = clock()
            for t in pending:
                progress[t] = evaluate(
                    t, seen[t], now=now, before=progress[t], new_clusters=new_clusters
                )
            view.update([progress[t] for t in targets])
            state = outcome(list(progress.values()), now=now, deadline=deadline)
            if state != "waiting":
                break
            sleep(POLL_S if poll_s is None else poll_s)
    finally:
        view.close()
    return _summary(stream, [progress[t] for t in targets], state, timeout_s)


def _summary(out: TextIO, progress: Sequence[Progress], state: str, timeout_s: float) -> int:
    failed = [p for p in progress if p.state == "failed"]
    pending = [p for p in progress if p.state not in FINAL]
    ready = sum(1 for p in progress if p.state == "ready")
    skipped = sum(1 for p in progress if p.state == "skipped")
    counts = f"{ready} ready" + (f", {skipped} not followed" if skipped else "")
    if state == "failed":
        for p in failed:
            out.write(f"failed: {p.target.ref}: {p.note or p.phase}\n")
        out.write(f"{len(failed)} failed, {counts}, {len(pending)} still pending\n")
        return EXIT_FAILED
    if state == "timeout":
        for p in pending:
            out.write(f"still pending: {describe(p)}\n")
        out.write(f"timed out after {timeout_s:g}s: {len(pending)} still pending, {counts}\n")
        return EXIT_TIMEOUT
    out.write(f"all ready: {counts}\n")
    return 0
