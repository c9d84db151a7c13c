"""When is an applied object done? A pure function of successive snapshots of its progress.

``apply`` (see ``apply_follow``) polls the control plane and feeds each object's snapshot
(``Seen``) to ``evaluate`` together with the object's previous ``Progress``; ``outcome`` says
whether to wait on. The rules, per kind:

- every object first waits for its cluster's agent to acknowledge the revision that carries it
  (a failed acknowledgement of that revision fails it, with the agent's error);
- ``Cluster``: a new one is registered only (its agent cannot run yet: nothing to wait for, nor
  for the objects in its workspaces); another is done once its agent applied the cluster's
  current revision;
- ``Workspace``, ``Volume`` and deleted apps: done once acknowledged;
- ``Service`` and ``Model`` (and any other kind): done when the agent reports the applied version
  ``Running`` with every desired replica ready; a canary or blue-green rollout paused for a
  promotion is done too (``ironplane rollout promote`` goes on);
- ``Job`` and ``TrainingJob``: done once the agent reports the applied version in a phase that
  is not a failure (``Suspended``, ``Pending``, ``Running``, ``Succeeded``...): created, or
  admitted by the queue; apply does not wait for a run to finish;
- ``Failed`` and ``NotRunnable`` fail at once; ``Degraded`` (a crash loop, an image that cannot
  be pulled, an aborted rollout...) fails once it lasted ``grace_s``.

Ready, failed and skipped are final. An object that cannot be followed (no permission to read
its progress, or a control plane without the endpoint) is skipped with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from ironplane.core.quantities import human_bytes

if TYPE_CHECKING:
    from ironplane.api.apps import AppStatus, Change, WeightsStatus
    from ironplane.api.progress import AppProgress

State = Literal["waiting", "ready", "failed", "skipped"]
Outcome = Literal["waiting", "ready", "failed", "timeout"]

FAILED_PHASES = frozenset({"Failed", "NotRunnable"})
JOB_KINDS = frozenset({"Job", "TrainingJob"})
JOB_READY = frozenset({"Pending", "Suspended", "Progressing", "Running", "Succeeded"})
ACKED_KINDS = frozenset({"Workspace", "Volume"})
DEGRADED_GRACE_S = 5.0
"""How long an object may stay Degraded before it counts as failed (a first image pull error
or crash is often the real thing; a flapping status gets this long to recover)."""
FINAL: frozenset[State] = frozenset({"ready", "failed", "skipped"})


@dataclass(frozen=True)
class Target:
    """One object an apply changed (or left unchanged): what to follow."""

    kind: str
    name: str
    workspace: str | None = None
    action: str = "update"
    cluster_revision: int | None = None

    @classmethod
    def of(cls, change: Change) -> Target:
        return cls(
            kind=change.kind,
            name=change.name,
            workspace=change.workspace,
            action=change.action,
            cluster_revision=change.cluster_revision,
        )

    @property
    def ref(self) -> str:
        """``Service default/hello``, ``Workspace prod``."""
        where = f"{self.workspace}/{self.name}" if self.workspace else self.name
        return f"{self.kind} {where}"

    @property
    def is_app(self) -> bool:
        return self.kind not in ("Cluster", "Workspace")


@dataclass(frozen=True)
class Seen:
    """What one poll found for a target: its cluster's revisions and, for an app, its progress.
    ``problem``: it cannot be followed (why); ``transient``: the poll failed this time (why)."""

    cluster: str | None = None
    revision: int | None = None
    """The cluster's desired revision now."""
    applied_revision: int | None = None
    agent_connected: bool = True
    failed_revision: int | None = None
    failed_error: str | None = None
    app: AppProgress | None = None
    problem: str | None = None
    transient: str | None = None


@dataclass(frozen=True)
class Progress:
    """Where a target stands after a poll: what ``apply`` shows and decides on."""

    target: Target
    state: State = "waiting"
    phase: str | None = None
    ready: int | None = None
    desired: int | None = None
    applied_revision: int | None = None
    needed_revision: int | None = None
    rollout: str | None = None
    weights: WeightsStatus | None = None
    note: str = ""
    degraded_since: float | None = None


def evaluate(
    target: Target,
    seen: Seen,
    *,
    now: float,
    before: Progress | None = None,
    new_clusters: Collection[str] = (),
    grace_s: float = DEGRADED_GRACE_S,
) -> Progress:
    """The target's progress after this poll (``before``: after the previous one)."""
    if before is not None and before.state in FINAL:
        return before
    base = before or Progress(target)
    if seen.transient is not None:
        return replace(base, note=f"cannot reach the control plane: {seen.transient}")
    if seen.problem is not None:
        return Progress(target, "skipped", note=f"not followed: {seen.problem}")
    if target.kind == "Cluster" and target.action == "create":
        return Progress(target, "skipped", note="registered: start its agent with the token")
    if seen.cluster is not None and seen.cluster in new_clusters:
        return Progress(
            target,
            "skipped",
            note=f"not followed: its cluster {seen.cluster} was registered by this apply",
        )
    needed = _needed_revision(target, seen)
    applied = seen.applied_revision
    out = Progress(
        target,
        phase=base.phase,
        ready=base.ready,
        desired=base.desired,
        applied_revision=applied,
        needed_revision=needed,
        degraded_since=base.degraded_since,
    )
    if needed is not None and (applied is None or applied < needed):
        if seen.failed_revision is not None and seen.failed_revision >= needed:
            error = seen.failed_error or "no reason given"
            return replace(
                out,
                state="failed",
                note=f"the agent failed to apply revision {seen.failed_revision}: {error}",
            )
        where = f"the agent is at revision {applied or 0}, waiting for {needed}"
        if not seen.agent_connected:
            where = f"the agent of cluster {seen.cluster or '?'} is not connected; " + where
        return replace(out, note=where)
    if not target.is_app or target.action == "delete" or target.kind in ACKED_KINDS:
        return replace(out, state="ready", note="applied")
    return _app(out, seen.app, now=now, grace_s=grace_s)


def _needed_revision(target: Target, seen: Seen) -> int | None:
    if target.kind == "Cluster":
        return seen.revision
    revisions = [r for r in (target.cluster_revision,) if r is not None]
    if seen.app is not None and seen.app.cluster_revision is not None and target.action != "delete":
        revisions.append(seen.app.cluster_revision)
    return max(revisions) if revisions else None


def _app(out: Progress, app: AppProgress | None, *, now: float, grace_s: float) -> Progress:
    if app is None or app.active_version is None:
        return replace(out, state="skipped", note="not followed: the app was deleted since")
    status = app.status
    if status is None:
        return replace(out, note="waiting for the agent's first report")
    if app.version_label is not None and status.version != app.version_label:
        return replace(
            out,
            phase=status.phase,
            note=f"the agent still reports version {status.version or '-'}",
        )
    out = replace(
        out,
        phase=status.phase,
        ready=status.ready,
        desired=status.desired,
        rollout=rollout_text(status),
        weights=status.weights,
    )
    phase, kind = status.phase, out.target.kind
    if phase in FAILED_PHASES:
        return replace(out, state="failed", note=status.error or phase, degraded_since=None)
    if phase == "Degraded":
        since = out.degraded_since if out.degraded_since is not None else now
        if now - since >= grace_s:
            return replace(out, state="failed", note=status.error or phase, degraded_since=since)
        return replace(out, note=status.error or "", degraded_since=since)
    out = replace(out, degraded_since=None)
    if kind in JOB_KINDS:
        if phase in JOB_READY:
            return replace(out, state="ready", note=_job_note(phase))
        return replace(out, note=status.error or "")
    if phase == "Running" and status.ready >= status.desired:
        return replace(out, state="ready", note="")
    r = status.rollout
    if r is not None and r.paused and not r.aborted:
        return replace(
            out,
            state="ready",
            note="rollout paused: `ironplane rollout promote` goes on",
        )
    return replace(out, note=status.error or "")


def _job_note(phase: str) -> str:
    return {
        "Suspended": "ready to run",
        "Pending": "created",
        "Succeeded": "done",
    }.get(phase, "")


def rollout_text(status: AppStatus) -> str | None:
    """``step 2/5 · canary 20%`` (``paused``, ``aborted``) for a canary or blue-green rollout."""
    r = status.rollout
    if r is None:
        return None
    parts = []
    if r.steps is not None:
        parts.append(f"step {'-' if r.step is None else r.step}/{r.steps}")
    if r.canary_weight is not None:
        parts.append(f"canary {r.canary_weight}%")
    if r.strategy == "blue_green" and not parts:
        parts.append("blue-green")
    if r.aborted:
        parts.append("aborted")
    elif r.paused:
        parts.append("paused")
    return " · ".join(parts) or None


def outcome(progress: Sequence[Progress], *, now: float, deadline: float) -> Outcome:
    """``failed`` as soon as one failed; ``ready`` when every one is ready (or skipped);
    ``timeout`` past the deadline; else ``waiting``."""
    if any(p.state == "failed" for p in progress):
        return "failed"
    if all(p.state in FINAL for p in progress):
        return "ready"
    if now >= deadline:
        return "timeout"
    return "waiting"


_MAX_BYTES = 2**53


def weights_text(w: WeightsStatus) -> str:
    """``12.3/40.0 GiB · 850.0 MiB/s · eta 33 s`` (``· 2 pods`` when several pull)."""
    # What the server relays came from a pod's log: clamp it so that no figure breaks the display.
    done, total = (min(max(n, 0), _MAX_BYTES) for n in (w.done, w.total))
    rate = w.rate if math.isfinite(w.rate) else 0.0
    unit, scale = "B", 1.0
    for name in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if total >= 1024 * scale:
            unit, scale = name, scale * 1024
    amount = f"{done / scale:.1f}/{total / scale:.1f} {unit}"
    if unit == "B":
        amount = f"{done}/{total} B"
    parts = [amount, f"{human_bytes(min(max(rate, 0.0), _MAX_BYTES))}/s"]
    if w.eta is not None and math.isfinite(w.eta) and 0 <= w.eta < 1e9:
        parts.append(f"eta {_duration(w.eta)}")
    if w.pods > 1:
        parts.append(f"{w.pods} pods")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
