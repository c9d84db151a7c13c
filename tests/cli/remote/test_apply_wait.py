"""``apply`` waiting: the rules (a pure function of successive snapshots) and the command's
output and exit codes against a fake control plane whose answers move on with each poll."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ironplane.api.apps import AppStatus, WeightsStatus
from ironplane.api.progress import AppProgress
from ironplane.cli.commands.remote import apply_follow
from ironplane.cli.commands.remote.apply_wait import (
    Progress,
    Seen,
    Target,
    evaluate,
    outcome,
    weights_text,
)
from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli
from tests.sdk import samples as s

AT = "2025-01-01T00:00:00Z"
GIB = 1024**3
HELLO = Target("Service", "hello", "default", "update", cluster_revision=7)


def status(phase: str, ready: int = 0, desired: int = 2, **extra: Any) -> AppStatus:
    return AppStatus.model_validate(
        {"phase": phase, "ready": ready, "desired": desired, "version": "hv3", "updated_at": AT}
        | extra
    )


def seen(
    st: AppStatus | None = None,
    *,
    applied: int = 7,
    label: str = "hv3",
    active: int | None = 3,
    **extra: Any,
) -> Seen:
    app = AppProgress(
        name="hello",
        kind="Service",
        active_version=active,
        cluster_revision=7,
        version_label=label,
        status=st,
    )
    fields: dict[str, Any] = {
        "cluster": "local",
        "revision": 7,
        "applied_revision": applied,
        "agent_connected": True,
        "app": app,
    }
    return Seen(**(fields | extra))


def run(target: Target, *snapshots: Seen, step: float = 1.0, **kw: Any) -> list[Progress]:
    """Feed successive snapshots, one per ``step`` seconds; every progress on the way."""
    out: list[Progress] = []
    before = None
    for i, snap in enumerate(snapshots):
        before = evaluate(target, snap, now=i * step, before=before, **kw)
        out.append(before)
    return out


# -- the rules


def test_a_service_is_ready_once_the_applied_version_runs_every_replica() -> None:
    steps = run(
        HELLO,
        seen(status("Running", 2, 2), applied=6),  # the agent has not applied revision 7 yet
        seen(status("Running", 2, 2, version="hv2")),  # the old version's report
        seen(None),
        seen(status("Progressing", 1, 2)),
        seen(status("Running", 2, 2)),
    )
    assert [p.state for p in steps] == ["waiting"] * 4 + ["ready"]
    assert steps[0].note == "the agent is at revision 6, waiting for 7"
    assert steps[1].note == "the agent still reports version hv2"
    assert steps[2].note == "waiting for the agent's first report"
    assert (steps[3].phase, steps[3].ready, steps[3].desired) == ("Progressing", 1, 2)
    assert (steps[4].applied_revision, steps[4].needed_revision) == (7, 7)


def test_waiting_names_an_agent_that_is_not_connected() -> None:
    [p] = run(HELLO, seen(applied=5, agent_connected=False))
    assert p.note == "the agent of cluster local is not connected; " + (
        "the agent is at revision 5, waiting for 7"
    )


def test_a_failed_ack_of_the_revision_fails_with_the_agents_error() -> None:
    [p] = run(HELLO, seen(applied=6, failed_revision=7, failed_error="Service x: forbidden"))
    assert p.state == "failed"
    assert p.note == "the agent failed to apply revision 7: Service x: forbidden"
    # A failure of an older revision does not concern this version.
    [p] = run(HELLO, seen(applied=5, failed_revision=6, failed_error="old"))
    assert p.state == "waiting"


@pytest.mark.parametrize("phase", ["Failed", "NotRunnable"])
def test_failed_and_not_runnable_fail_at_once(phase: str) -> None:
    reason = "the local runtime runs commands, not images: add `command`"
    [p] = run(HELLO, seen(status(phase, error=reason)))
    assert (p.state, p.note) == ("failed", reason)


def test_degraded_fails_after_the_grace_period_and_may_recover_before() -> None:
    loop = status("Degraded", 0, 2, error="CrashLoopBackOff: pod hello-0 container main")
    steps = run(HELLO, seen(loop), seen(loop), seen(loop), step=3.0, grace_s=5.0)
    assert [p.state for p in steps] == ["waiting", "waiting", "failed"]
    assert steps[-1].note.startswith("CrashLoopBackOff")
    recovered = run(
        HELLO, seen(loop), seen(status("Progressing", 1, 2)), seen(loop), step=3.0, grace_s=5.0
    )
    assert [p.state for p in recovered] == ["waiting"] * 3  # the clock started again


def test_ready_failed_and_skipped_are_final() -> None:
    steps = run(HELLO, seen(status("Running", 2, 2)), seen(status("Failed")))
    assert [p.state for p in steps] == ["ready", "ready"]


@pytest.mark.parametrize(
    ("phase", "state", "note"),
    [
        ("Suspended", "ready", "ready to run"),
        ("Pending", "ready", "created"),
        ("Running", "ready", ""),
        ("Succeeded", "ready", "done"),
        ("Failed", "failed", "Failed"),
        ("Unknown", "waiting", ""),
    ],
)
def test_jobs_are_ready_once_created_or_admitted(phase: str, state: str, note: str) -> None:
    for kind in ("Job", "TrainingJob"):
        job = Target(kind, "hello", "default", "create", cluster_revision=7)
        [p] = run(job, seen(status(phase, 0, 1)))
        assert (p.state, p.note) == (state, note)


def test_workspaces_volumes_and_deletes_are_done_once_acknowledged() -> None:
    for target in (
        Target("Workspace", "default", None, "create", cluster_revision=7),
        Target("Volume", "data", "default", "create", cluster_revision=7),
        Target("Service", "old", "default", "delete", cluster_revision=7),
    ):
        steps = run(target, seen(None, applied=6), seen(None, applied=7))
        assert [p.state for p in steps] == ["waiting", "ready"], target


def test_clusters() -> None:
    new = Target("Cluster", "edge", None, "create", cluster_revision=0)
    [p] = run(new, Seen(cluster="edge", revision=0, applied_revision=0))
    assert (p.state, p.note) == ("skipped", "registered: start its agent with the token")
    # Objects on a cluster registered by the same apply cannot be followed yet.
    [p] = run(HELLO, seen(cluster="edge", applied=0), new_clusters={"edge"})
    assert p.state == "skipped" and "registered by this apply" in p.note
    known = Target("Cluster", "edge", None, "update", cluster_revision=4)
    steps = run(
        known,
        Seen(cluster="edge", revision=5, applied_revision=4),
        Seen(cluster="edge", revision=5, applied_revision=5),
    )
    assert [p.state for p in steps] == ["waiting", "ready"]


def test_objects_that_cannot_be_followed_are_skipped_and_blips_keep_waiting() -> None:
    [p] = run(HELLO, Seen(problem="permission denied"))
    assert (p.state, p.note) == ("skipped", "not followed: permission denied")
    steps = run(HELLO, seen(status("Progressing", 1, 2)), Seen(transient="connection refused"))
    assert steps[1].state == "waiting" and steps[1].phase == "Progressing"
    assert steps[1].note == "cannot reach the control plane: connection refused"
    [p] = run(HELLO, seen(active=None))
    assert (p.state, p.note) == ("skipped", "not followed: the app was deleted since")


def test_a_paused_rollout_is_done_with_a_hint() -> None:
    rollout = {
        "strategy": "canary",
        "phase": "Paused",
        "step": 1,
        "steps": 4,
        "canary_weight": 20,
        "stable_weight": 80,
        "paused": True,
    }
    [p] = run(HELLO, seen(status("Progressing", 2, 2, rollout=rollout)))
    assert p.state == "ready" and "rollout promote" in p.note
    assert p.rollout == "step 1/4 · canary 20% · paused"


def test_outcome() -> None:
    ready, waiting = Progress(HELLO, "ready"), Progress(HELLO, "waiting")
    failed, skipped = Progress(HELLO, "failed"), Progress(HELLO, "skipped")
    assert outcome([ready, skipped], now=0, deadline=1) == "ready"
    assert outcome([ready, waiting], now=0, deadline=1) == "waiting"
    assert outcome([ready, waiting], now=1, deadline=1) == "timeout"
    assert outcome([failed, waiting], now=0, deadline=1) == "failed"


def test_weights_text() -> None:
    w = WeightsStatus(done=int(12.3 * GIB), total=40 * GIB, rate=850 * 1024**2, eta=33.4)
    assert weights_text(w) == "12.3/40.0 GiB · 850.0 MiB/s · eta 33 s"
    w = WeightsStatus(done=10, total=100, rate=0.0, eta=None, pods=3)
    assert weights_text(w) == "10/100 B · 0 B/s · 3 pods"
    w = WeightsStatus(done=GIB, total=2 * GIB, rate=1024.0, eta=3725.0)
    assert weights_text(w).endswith("eta 1 h 02 min")


# -- the command


APPLIED: dict[str, Any] = {
    "dry_run": False,
    "changes": [
        {
            "kind": "Service",
            "name": "hello",
            "workspace": "default",
            "action": "update",
            "version": 3,
            "cluster_revision": 7,
        }
    ],
}


def progress_body(st: dict[str, Any] | None, applied: int = 7) -> dict[str, Any]:
    return {
        "workspace": "default",
        "cluster": "local",
        "revision": 7,
        "applied_revision": applied,
        "agent_connected": True,
        "apps": [
            {
                "name": "hello",
                "kind": "Service",
                "active_version": 3,
                "cluster_revision": 7,
                "version_label": "hv3",
                "status": st,
            }
        ],
    }


def answers(*bodies: dict[str, Any]) -> Any:
    """Each poll gets the next body; the last one stays."""
    it: Iterator[dict[str, Any]] = iter(bodies)
    last: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> dict[str, Any]:
        body = next(it, None)
        if body is not None:
            last[:] = [body]
        return last[0]

    return answer


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply_follow, "POLL_S", 0.0)


@pytest.fixture
def stepping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait's clock advances 30 s per reading, and it never sleeps."""
    clock = iter(range(0, 10_000, 30))
    monkeypatch.setattr(apply_follow, "CLOCK", lambda: float(next(clock)))
    monkeypatch.setattr(apply_follow, "SLEEP", lambda _s: None)


def st(phase: str, ready: int, **extra: Any) -> dict[str, Any]:
    return {
        "phase": phase,
        "ready": ready,
        "desired": 2,
        "version": "hv3",
        "updated_at": AT,
    } | extra


def test_apply_waits_and_prints_a_line_per_change(
    server: FakeServer, tmp_path: Path, fast: None
) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("kind: Service\n")
    server.on("POST", "/apply", APPLIED)
    pulling = {"done": 2 * GIB, "total": 8 * GIB, "rate": 512 * 1024**2, "eta": 12.0}
    server.on(
        "GET",
        "/workspaces/default/progress",
        answers(
            progress_body(None, applied=6),
            progress_body(st("Progressing", 0, weights=pulling)),
            progress_body(st("Progressing", 1)),
            progress_body(st("Progressing", 1)),
            progress_body(st("Running", 2)),
        ),
    )
    code, out, err = run_cli(["apply", "-f", str(spec)])
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["KIND", "WORKSPACE", "NAME"]  # the report
    lines = err.splitlines()
    assert lines == [
        "1 update",
        "Service default/hello: - · revision 6→7 · the agent is at revision 6, waiting for 7",
        "Service default/hello: Progressing 0/2 · revision 7 applied · "
        "weights 2.0/8.0 GiB · 512.0 MiB/s · eta 12 s",
        "Service default/hello: Progressing 1/2 · revision 7 applied",
        "Service default/hello: Running 2/2 · revision 7 applied · ready",
        "all ready: 1 ready",
    ]
    [request] = server.sent("GET", "/workspaces/default/progress")[:1]
    assert request.url.params["apps"] == "hello"


def test_apply_exits_3_naming_what_failed(server: FakeServer, tmp_path: Path, fast: None) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("kind: Service\n")
    server.on("POST", "/apply", APPLIED)
    server.on(
        "GET",
        "/workspaces/default/progress",
        answers(progress_body(st("NotRunnable", 0, error="no command: add `command`"))),
    )
    code, _, err = run_cli(["apply", "-f", str(spec), "-o", "json"])
    assert code == 3
    assert "failed: Service default/hello: no command: add `command`" in err
    assert err.splitlines()[-1] == "1 failed, 0 ready, 0 still pending"


def test_apply_exits_4_on_timeout_with_what_is_pending(
    server: FakeServer, tmp_path: Path, stepping: None
) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("kind: Service\n")
    server.on("POST", "/apply", APPLIED)
    server.on("GET", "/workspaces/default/progress", progress_body(st("Progressing", 1)))
    code, _, err = run_cli(["apply", "-f", str(spec), "--timeout", "1m"])
    assert code == 4
    assert "still pending: Service default/hello: Progressing 1/2" in err
    assert err.splitlines()[-1] == "timed out after 60s: 1 still pending, 0 ready"


def test_a_control_plane_out_of_reach_is_waited_for(
    server: FakeServer, tmp_path: Path, fast: None
) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("kind: Service\n")
    server.on("POST", "/apply", APPLIED)

    def down(request: httpx.Request) -> dict[str, Any]:
        server.on("GET", "/workspaces/default/progress", progress_body(st("Running", 2)))
        return s.error("rate_limited", "too many requests; retry later")

    server.on("GET", "/workspaces/default/progress", down, 429)
    code, _, err = run_cli(["apply", "-f", str(spec)])
    assert code == 0, err
    assert "cannot reach the control plane: too many requests; retry later" in err
    assert err.splitlines()[-1] == "all ready: 1 ready"


def test_an_expired_token_during_the_wait_fails_at_once(
    server: FakeServer, tmp_path: Path, stepping: None
) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("kind: Service\n")
    server.on("POST", "/apply", APPLIED)
    expired = s.error("unauthenticated", "the token has expired")
    server.on("GET", "/workspaces/default/progress", expired, 401)
    code, out, err = run_cli(["apply", "-f", str(spec), "--timeout", "1m"])
    assert code == 1, err
    assert out.splitlines()[0].split()[:3] == ["KIND", "WORKSPACE", "NAME"]  # the report
    assert "error: the token has expired" in err and "ironplane login" in err
    assert "cannot reach the control plane" not in err
    assert len(server.sent("GET", "/workspaces/default/progress")) == 1


def test_no_wait_dry_run_and_bad_timeouts(server: FakeServer, tmp_path: Path) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("kind: Service\n")
    server.on("POST", "/apply", APPLIED)
    assert run_cli(["apply", "-f", str(spec), "--no-wait"])[0] == 0
    server.on("POST", "/apply", {**APPLIED, "dry_run": True})
    assert run_cli(["apply", "-f", str(spec), "--dry-run"])[0] == 0
    assert server.sent("GET", "/workspaces/default/progress") == []
    code, _, err = run_cli(["apply", "-f", str(spec), "--timeout", "10"])
    assert code == 2 and "--timeout '10'" in err


def test_an_old_control_plane_is_not_followed(server: FakeServer, tmp_path: Path) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("kind: Service\n")
    server.on("POST", "/apply", s.APPLY_RESULT)  # no progress route: 404
    code, _, err = run_cli(["apply", "-f", str(spec)])
    assert code == 0, err
    assert "skipped · not followed: no route" in err
    assert err.splitlines()[-1] == "all ready: 0 ready, 1 not followed"


def test_describe_app_shows_a_weights_download(server: FakeServer) -> None:
    pulling = {"done": 3 * GIB, "total": 8 * GIB, "rate": 1024**3, "eta": 5.0}
    status = st("Progressing", 0, weights=pulling | {"files_done": 1, "files_total": 4})
    server.on(
        "GET",
        "/workspaces/team-a/apps/chat-api",
        {"app": {**s.APP, "status": status}, "active": None, "versions": []},
    )
    code, out, err = run_cli(["describe", "app", "team-a/chat-api"])
    assert code == 0, err
    [row] = [line for line in out.splitlines() if line.startswith("weights download")]
    assert row.split(None, 2)[2] == "3.0/8.0 GiB · 1.0 GiB/s · eta 5 s · files 1/4"


def test_on_a_terminal_one_table_is_redrawn() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    view = apply_follow.LiveTable(out)
    w = WeightsStatus(done=12 * GIB, total=40 * GIB, rate=850 * 1024**2, eta=33)
    view.update([Progress(HELLO, "waiting", "Progressing", 0, 2, 7, 7, None, w)])
    view.update([Progress(HELLO, "ready", "Running", 2, 2, 7, 7)])
    view.close()
    text = out.getvalue()
    assert "\x1b[1A" in text  # the cursor went back up: redrawn in place
    for word in ("OBJECT", "WEIGHTS", "12.0/40.0", "Running", "ready"):
        assert word in text
