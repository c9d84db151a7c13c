"""Job runs in the local runtime: manual runs with params, stop, logs by run id, the history,
scheduled runs, and what the local runtime refuses (rollout steps, kinds it cannot run)."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import pytest

from ironplane.agent.local import LocalRuntime
from ironplane.agent.local.jobs import JobWorkload
from ironplane.compiler import compile_documents
from ironplane.core.errors import ConflictError, InvalidError, NotFoundError, UnsupportedError
from ironplane.spec.loading import load_texts
from ironplane.wire.agent_protocol import RunStatus

from .helpers import PY, alive, deployment, job_template, labels, phase_is, status_of, until

pytestmark = pytest.mark.anyio

ARGV = "import sys; print(sys.argv[1:])"
SLEEP = "import sys, time; print('up', flush=True); time.sleep(60)"


async def run_of(runtime: LocalRuntime, run: str) -> RunStatus:
    return next(r for r in await runtime.runs() if r.id == run)


async def ended(runtime: LocalRuntime, run: str) -> RunStatus:
    async def check() -> RunStatus | None:
        found = await run_of(runtime, run)
        return found if found.finished_at is not None else None

    return await until(check, what=f"run {run} to end")


def argv_of(lines: list[str]) -> list[str]:
    """The argv a run printed with ``ARGV``."""
    (line,) = lines
    value = ast.literal_eval(line)
    assert isinstance(value, list)
    return [str(word) for word in value]


EVAL = job_template(
    "eval",
    [PY, "-c", ARGV, "--dataset", "{{dataset}}"],
    args=["--limit", "{{limit}}"],
    params=[("dataset", "mmlu"), ("limit", None)],
)


async def test_a_run_gets_the_command_resolved_from_its_params(runtime: LocalRuntime) -> None:
    await runtime.converge([EVAL])
    assert (await status_of(runtime, "eval")).phase == "Suspended"

    await runtime.run_job("dev", "eval", "r1", {"limit": "5"})
    first = await ended(runtime, "r1")
    assert first.phase == "Succeeded" and not first.scheduled
    assert (first.workspace, first.job) == ("dev", "eval")
    assert first.started_at is not None and first.finished_at is not None
    assert first.started_at <= first.finished_at
    assert argv_of(await runtime.run_logs("dev", "eval", "r1", 10)) == [
        "--dataset",
        "mmlu",
        "--limit",
        "5",
    ]

    await runtime.run_job("dev", "eval", "r2", {"dataset": "gsm8k", "limit": "1"})
    assert (await ended(runtime, "r2")).phase == "Succeeded"
    assert argv_of(await runtime.run_logs("dev", "eval", "r2", 10)) == [
        "--dataset",
        "gsm8k",
        "--limit",
        "1",
    ]
    # the CronJob stays suspended: the runs did not touch its schedule
    status = await status_of(runtime, "eval")
    assert status.phase == "Suspended"
    workload = next(iter(runtime._workloads.values()))
    assert isinstance(workload, JobWorkload) and workload.next_at is None


async def test_bad_params_are_rejected_and_nothing_starts(runtime: LocalRuntime) -> None:
    await runtime.converge([EVAL])
    with pytest.raises(InvalidError) as unknown:
        await runtime.run_job("dev", "eval", "r1", {"limit": "1", "datset": "x"})
    assert "unknown param 'datset'" in unknown.value.message
    assert "did you mean 'dataset'" in unknown.value.message
    with pytest.raises(InvalidError) as missing:
        await runtime.run_job("dev", "eval", "r2", {"dataset": "x"})
    assert "-p limit=VALUE" in missing.value.message
    assert await runtime.runs() == []
    assert runtime.pids("dev", "eval") == []
    assert not list((runtime.root / "dev" / "eval").glob("**/*.log"))
    # a rejected name is free for a good request
    await runtime.run_job("dev", "eval", "r1", {"limit": "1"})
    assert (await ended(runtime, "r1")).phase == "Succeeded"


async def test_a_template_without_annotations_has_no_params(runtime: LocalRuntime) -> None:
    plain = job_template("plain", [PY, "-c", ARGV, "a b"], annotate=False)
    await runtime.converge([plain])
    with pytest.raises(InvalidError, match=r"declared params: none"):
        await runtime.run_job("dev", "plain", "p1", {"x": "1"})
    await runtime.run_job("dev", "plain", "p1", {})
    assert (await ended(runtime, "p1")).phase == "Succeeded"
    assert argv_of(await runtime.run_logs("dev", "plain", "p1", 5)) == ["a b"]


async def test_run_names_unknown_jobs_and_runs(runtime: LocalRuntime) -> None:
    await runtime.converge([EVAL, deployment("web", [PY, "-c", "import time; time.sleep(60)"])])
    await runtime.run_job("dev", "eval", "same", {"limit": "1"})
    with pytest.raises(ConflictError, match="already has a run named 'same'"):
        await runtime.run_job("dev", "eval", "same", {"limit": "2"})
    assert (await ended(runtime, "same")).phase == "Succeeded"
    with pytest.raises(ConflictError):  # a finished run keeps its name
        await runtime.run_job("dev", "eval", "same", {"limit": "2"})
    assert [r.id for r in await runtime.runs()] == ["same"]
    with pytest.raises(InvalidError, match=r"run name '\.\./x' is not valid"):
        await runtime.run_job("dev", "eval", "../x", {"limit": "1"})

    with pytest.raises(NotFoundError) as job:
        await runtime.run_job("dev", "nope", "r", {})
    assert "'nope'" in job.value.message and "'dev'" in job.value.message
    with pytest.raises(NotFoundError, match="no run template"):
        await runtime.run_job("dev", "web", "r", {})
    with pytest.raises(NotFoundError, match="run 'ghost' of job dev/eval"):
        await runtime.stop_run("dev", "eval", "ghost")
    with pytest.raises(NotFoundError):
        await runtime.run_logs("dev", "eval", "ghost", 10)
    with pytest.raises(NotFoundError):
        await runtime.run_logs("other", "eval", "same", 10)


async def test_stop_ends_the_run_as_stopped_and_its_process(runtime: LocalRuntime) -> None:
    sleeper = job_template("sleeper", [PY, "-c", SLEEP])
    await runtime.converge([sleeper])
    await runtime.run_job("dev", "sleeper", "s1", {})
    pid = (await until(lambda: runtime.pids("dev", "sleeper"), what="the run's process"))[0]
    await until(lambda: runtime.run_logs("dev", "sleeper", "s1", 5), what="its output")
    running = await run_of(runtime, "s1")
    assert running.phase == "Running" and running.finished_at is None
    assert (await status_of(runtime, "sleeper")).phase == "Running"  # suspended, yet running

    await runtime.stop_run("dev", "sleeper", "s1")
    stopped = await run_of(runtime, "s1")
    assert stopped.phase == "Stopped" and stopped.finished_at is not None
    assert "stopped on request" in (stopped.message or "")
    assert not alive(pid)
    assert (await status_of(runtime, "sleeper")).phase == "Suspended"
    # stopping a finished run changes nothing
    await runtime.stop_run("dev", "sleeper", "s1")
    assert await run_of(runtime, "s1") == stopped
    assert await runtime.run_logs("dev", "sleeper", "s1", 5) == ["up"]


async def test_a_failing_run_fails_with_its_exit_code(runtime: LocalRuntime) -> None:
    failing = job_template("failing", [PY, "-c", "import sys; sys.exit(3)"], backoff_limit=1)
    await runtime.converge([failing])
    await runtime.run_job("dev", "failing", "f1", {})
    run = await ended(runtime, "f1")
    assert run.phase == "Failed"
    assert "exited with code 3" in (run.message or "")
    assert "backoffLimit 1" in (run.message or "")
    status = await status_of(runtime, "failing")
    assert [e.reason for e in status.events].count("Started") == 2  # retried once


async def test_logs_by_run_id_after_newer_runs(runtime: LocalRuntime) -> None:
    words = job_template("words", [PY, "-c", "print('{{word}}')"], params=[("word", None)])
    await runtime.converge([words])
    for number, word in enumerate(["first", "second", "third"]):
        await runtime.run_job("dev", "words", f"w{number}", {"word": word})
        await ended(runtime, f"w{number}")
    assert await runtime.run_logs("dev", "words", "w0", 10) == ["first"]
    assert await runtime.run_logs("dev", "words", "w1", 10) == ["second"]
    assert await runtime.run_logs("dev", "words", "w2", 10) == ["third"]
    # the app's log still has every run's output, in order
    assert await runtime.logs("dev", "words", 10) == ["first", "second", "third"]

    # concurrent runs: each its own log
    talk = "import sys, time; print(sys.argv[1], flush=True); time.sleep(60)"
    await runtime.converge(
        [job_template("talk", [PY, "-c", talk, "{{who}}"], params=[("who", None)])]
    )
    await runtime.run_job("dev", "talk", "a", {"who": "alice"})
    await runtime.run_job("dev", "talk", "b", {"who": "bob"})
    assert await until(lambda: runtime.run_logs("dev", "talk", "a", 5)) == ["alice"]
    assert await until(lambda: runtime.run_logs("dev", "talk", "b", 5)) == ["bob"]
    await runtime.stop_run("dev", "talk", "a")
    assert (await run_of(runtime, "b")).phase == "Running"
    await runtime.stop_run("dev", "talk", "b")


async def test_the_history_keeps_the_last_runs(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, restart_backoff=(0.05,), runs_kept=2)
    try:
        await runtime.converge(
            [job_template("h", [PY, "-c", "print('{{n}}')"], params=[("n", None)])]
        )
        for n in range(4):
            await runtime.run_job("dev", "h", f"h{n}", {"n": str(n)})
            await ended(runtime, f"h{n}")
        assert [r.id for r in await runtime.runs()] == ["h2", "h3"]
        with pytest.raises(NotFoundError, match="last 2 finished runs"):
            await runtime.run_logs("dev", "h", "h0", 5)
        assert sorted(p.name for p in (tmp_path / "dev" / "h" / "runs").iterdir()) == [
            "h2.log",
            "h3.log",
        ]
        await runtime.run_job("dev", "h", "h0", {"n": "again"})  # a forgotten name is free
        assert (await ended(runtime, "h0")).phase == "Succeeded"
    finally:
        await runtime.close()
    # a runtime that starts again starts with no history, and no stale run logs
    again = LocalRuntime(tmp_path, restart_backoff=(0.05,))
    try:
        await again.converge(
            [job_template("h", [PY, "-c", "print('{{n}}')"], params=[("n", None)])]
        )
        assert await again.runs() == []
        assert not list((tmp_path / "dev" / "h" / "runs").glob("*"))
    finally:
        await again.close()


async def test_scheduled_and_manual_runs_are_listed_apart(tmp_path: Path) -> None:
    # a clock 0.5 s before a minute boundary: the schedule fires after about 0.5 s
    boundary = (int(time.time()) // 60 + 1) * 60
    offset = boundary - 0.5 - time.time()
    runtime = LocalRuntime(tmp_path, restart_backoff=(0.05,), clock=lambda: time.time() + offset)
    try:
        tick = job_template("tick", [PY, "-c", SLEEP], schedule="* * * * *", policy="Forbid")
        await runtime.converge([tick])
        # a manual run does not count for the scheduled runs' Forbid policy
        await runtime.run_job("dev", "tick", "manual", {})
        scheduled_id = f"tick-{boundary // 60}"

        async def both() -> list[RunStatus] | None:
            found = await runtime.runs()
            return found if {r.id for r in found} == {"manual", scheduled_id} else None

        runs = {r.id: r for r in await until(both, what="a scheduled run beside the manual one")}
        assert runs[scheduled_id].scheduled and not runs["manual"].scheduled
        assert all(r.phase in ("Pending", "Running") for r in runs.values())
        await until(lambda: len(runtime.pids("dev", "tick")) == 2, what="two processes")
        await runtime.stop_run("dev", "tick", scheduled_id)
        assert (await run_of(runtime, scheduled_id)).phase == "Stopped"
        assert (await run_of(runtime, "manual")).phase == "Running"
    finally:
        await runtime.close()
    # closing the runtime stops the rest (and forgets them)
    assert await runtime.runs() == []


async def test_restart_and_close_end_runs_as_stopped(runtime: LocalRuntime) -> None:
    await runtime.converge([job_template("r", [PY, "-c", SLEEP])])
    await runtime.run_job("dev", "r", "before", {})
    await until(lambda: runtime.pids("dev", "r"), what="the run's process")
    await runtime.restart("dev", "r")
    before = await run_of(runtime, "before")
    assert before.phase == "Stopped" and "stopped by a restart" in (before.message or "")
    restarted = [r for r in await runtime.runs() if r.id != "before"]
    # A restart is not the schedule: the run is not reported as scheduled.
    assert len(restarted) == 1 and not restarted[0].scheduled
    assert restarted[0].id.startswith("r-")
    # removing the job stops its runs
    pids = await until(lambda: runtime.pids("dev", "r"), what="the restarted run")
    await runtime.converge([])
    assert not any(alive(pid) for pid in pids)


async def test_a_malformed_run_template_is_reported(runtime: LocalRuntime) -> None:
    bad = job_template("bad", [PY, "-c", "pass"])
    bad["metadata"]["annotations"]["ironplane.dev/params"] = '[{"name": 3}]'
    await runtime.converge([bad])
    status = await status_of(runtime, "bad")
    assert status.phase == "Failed"
    assert "annotation ironplane.dev/params[0]" in (status.error or "")
    with pytest.raises(InvalidError, match=r"annotation ironplane\.dev/params"):
        await runtime.run_job("dev", "bad", "b1", {})
    assert await runtime.runs() == []


async def test_a_template_without_command_cannot_run(runtime: LocalRuntime) -> None:
    image_only = job_template("img", [PY])
    del image_only["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    await runtime.converge([image_only])
    with pytest.raises(UnsupportedError, match="runs commands, not images"):
        await runtime.run_job("dev", "img", "i1", {})


async def test_promote_and_abort_are_not_supported(runtime: LocalRuntime) -> None:
    await runtime.converge([deployment("web", [PY, "-c", "import time; time.sleep(60)"])])
    for call in (runtime.promote("dev", "web", full=False), runtime.abort("dev", "web")):
        with pytest.raises(UnsupportedError) as refused:
            await call
        assert "one version of an app at a time" in refused.value.message
        assert "use restart" in refused.value.message


def _owned(api_version: str, kind: str, app: str) -> dict[str, object]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": app,
            "namespace": "dev",
            "labels": labels(app, "dev", "service", "v1"),
        },
        "spec": {},
    }


async def test_kinds_that_cannot_run_locally_are_not_runnable(runtime: LocalRuntime) -> None:
    scaled = deployment("scaled", [PY, "-c", "import time; time.sleep(60)"])
    await runtime.converge(
        [
            _owned("argoproj.io/v1alpha1", "Rollout", "canary"),
            _owned("argoproj.io/v1alpha1", "WorkflowTemplate", "flow"),
            _owned("kubeflow.org/v1", "PyTorchJob", "train"),
            _owned("example.com/v1", "Gadget", "gadget"),
            scaled,
            _owned("keda.sh/v1alpha1", "ScaledObject", "scaled"),
            _owned("rbac.authorization.k8s.io/v1", "Role", "rbac"),
            _owned("monitoring.coreos.com/v1", "ServiceMonitor", "scraped"),
        ]
    )
    statuses = {s.app: s for s in await runtime.statuses()}
    assert statuses["rbac"].phase == "Running"  # kept: nothing of it needs to run
    assert statuses["scraped"].phase == "Running"
    expected = {
        "canary": ["Rollout dev/canary (argoproj.io/v1alpha1)", "Argo Rollouts", "argo-rollouts"],
        "flow": ["WorkflowTemplate dev/flow", "Argo Workflows", "argo-workflows"],
        "train": ["PyTorchJob dev/train", "training operator"],
        "gadget": ["Gadget dev/gadget", "does not know this kind"],
        "scaled": ["ScaledObject dev/scaled", "KEDA", "`keda`"],
    }
    for app, parts in expected.items():
        status = statuses[app]
        assert status.phase == "NotRunnable", app
        assert all(part in (status.error or "") for part in parts), (app, status.error)
        assert any(c.reason == "NotRunLocally" for c in status.conditions)
        assert any(e.reason == "NotRunLocally" and e.type == "Warning" for e in status.events)
    # the Deployment beside the ScaledObject still runs its declared replica
    await until(lambda: runtime.pids("dev", "scaled"), what="the Deployment's process")
    # removing the add-on object makes the app runnable again
    await runtime.converge([scaled])
    await phase_is(runtime, "scaled", "Running")


def compiled(text: str, addons: str = "[]") -> list[dict[str, Any]]:
    """What the compiler makes of ``text`` for a generic cluster with ``addons``."""
    platform = (
        f"kind: Cluster\nname: local\naddons: {addons}\n---\n"
        "kind: Workspace\nname: dev\ncluster: local\n---\n"
    )
    docs = load_texts([("spec.yaml", platform + text)])
    return [dict(obj) for obj in compile_documents(docs).bundle.objects]


async def test_a_compiled_job_runs_with_params(runtime: LocalRuntime) -> None:
    objects = compiled(
        f"""\
kind: Job
name: evaluate
workspace: dev
image: example.com/eval:1
command: [{PY}, -c, "{ARGV}", --dataset, "{{{{dataset}}}}"]
args: [--shots, "{{{{shots}}}}"]
params:
  - {{name: dataset, default: mmlu}}
  - {{name: shots}}
"""
    )
    await runtime.converge(objects)
    assert (await status_of(runtime, "evaluate")).phase == "Suspended"
    with pytest.raises(InvalidError, match="-p shots=VALUE"):
        await runtime.run_job("dev", "evaluate", "e0", {})
    await runtime.run_job("dev", "evaluate", "e1", {"shots": "5"})
    assert (await ended(runtime, "e1")).phase == "Succeeded"
    assert argv_of(await runtime.run_logs("dev", "evaluate", "e1", 5)) == [
        "--dataset",
        "mmlu",
        "--shots",
        "5",
    ]


async def test_a_compiled_blue_green_on_a_local_cluster_with_argo_is_not_runnable(
    runtime: LocalRuntime,
) -> None:
    objects = compiled(
        f"""\
kind: Service
name: web
workspace: dev
image: example.com/web:1
command: [{PY}, -c, "import time; time.sleep(60)"]
ports: [{{port: 8000}}]
rollout: {{strategy: blue_green}}
""",
        addons="[argo-rollouts]",
    )
    assert "Rollout" in {obj["kind"] for obj in objects}
    await runtime.converge(objects)
    status = await status_of(runtime, "web")
    assert status.phase == "NotRunnable"
    assert "Argo Rollouts" in (status.error or "") and "argo-rollouts" in (status.error or "")
