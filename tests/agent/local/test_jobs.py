"""Jobs and CronJobs: runs to completion, retries, deadlines, schedules and suspension."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from ironplane.agent.local import LocalRuntime
from ironplane.agent.local.jobs import JobWorkload

from .helpers import PY, alive, cronjob, job, phase_is, status_of, until

pytestmark = pytest.mark.anyio


async def test_job_runs_to_completion_once(runtime: LocalRuntime) -> None:
    objects = [job("once", [PY, "-c", "print('done')"])]
    await runtime.converge(objects)
    status = await phase_is(runtime, "once", "Succeeded")
    assert status.kind == "job"
    reasons = [e.reason for e in status.events]
    assert reasons.count("Started") == 1 and "Completed" in reasons
    assert any("exit code 0" in e.message for e in status.events)
    assert any(c.type == "Complete" and c.status == "True" for c in status.conditions)
    assert await runtime.logs("dev", "once", 5) == ["done"]

    # converging the same Job again does not run it again
    await runtime.converge(objects)
    assert (await status_of(runtime, "once")).phase == "Succeeded"
    assert [e.reason for e in (await status_of(runtime, "once")).events].count("Started") == 1


async def test_failing_job_retries_backoff_limit_times(runtime: LocalRuntime) -> None:
    await runtime.converge([job("bad", [PY, "-c", "import sys; sys.exit(2)"], backoff_limit=2)])
    status = await phase_is(runtime, "bad", "Failed")
    started = [e for e in status.events if e.reason == "Started"]
    assert len(started) == 3  # the first attempt and two retries
    retried = [e for e in status.events if e.reason == "AttemptFailed"]
    assert len(retried) == 2 and all("exited with code 2" in e.message for e in retried)
    assert "backoffLimit 2" in (status.error or "")
    assert any(e.reason == "BackoffLimitExceeded" for e in status.events)


async def test_active_deadline_kills_a_long_job(runtime: LocalRuntime) -> None:
    await runtime.converge([job("slow", [PY, "-c", "import time; time.sleep(60)"], deadline=1)])
    pid = (await until(lambda: runtime.pids("dev", "slow"), what="a process"))[0]
    assert (await status_of(runtime, "slow")).phase == "Running"
    status = await phase_is(runtime, "slow", "Failed")
    assert "activeDeadlineSeconds=1" in (status.error or "")
    assert any(e.reason == "DeadlineExceeded" for e in status.events)
    assert not alive(pid)


async def test_suspended_cronjob_runs_nothing(runtime: LocalRuntime) -> None:
    await runtime.converge([cronjob("nightly", [PY, "-c", "pass"], suspend=True)])
    status = await status_of(runtime, "nightly")
    assert status.phase == "Suspended" and status.ready == status.desired == 0
    assert runtime.pids("dev", "nightly") == []


async def test_cronjob_fires_at_the_minute(tmp_path: Path) -> None:
    # a clock 0.3 s before a minute boundary: the schedule fires after about 0.3 s
    boundary = (int(time.time()) // 60 + 1) * 60
    offset = boundary - 0.3 - time.time()
    runtime = LocalRuntime(tmp_path, restart_backoff=(0.05,), clock=lambda: time.time() + offset)
    try:
        await runtime.converge([cronjob("tick", [PY, "-c", "print('tick')"])])
        status = await status_of(runtime, "tick")
        assert status.phase in ("Pending", "Running", "Succeeded")  # it fires soon
        assert any(c.type == "Scheduled" for c in status.conditions)
        status = await phase_is(runtime, "tick", "Succeeded")
        assert await runtime.logs("dev", "tick", 5) == ["tick"]
        # suspending it in place: no scheduler, state kept
        await runtime.converge([cronjob("tick", [PY, "-c", "print('tick')"], suspend=True)])
        status = await status_of(runtime, "tick")
        assert status.phase == "Suspended"
        assert any(e.reason == "Suspended" for e in status.events)
    finally:
        await runtime.close()


async def test_concurrency_policies(runtime: LocalRuntime) -> None:
    sleeper = [PY, "-c", "import time; time.sleep(30)"]
    for policy, expected in (("Forbid", 1), ("Allow", 2), ("Replace", 1)):
        app = f"c-{policy.lower()}"
        await runtime.converge([cronjob(app, sleeper, schedule="0 0 1 1 *", policy=policy)])
        workload = next(w for w in runtime._workloads.values() if w.app.app == app)
        assert isinstance(workload, JobWorkload)
        await workload.fire()
        first = await until(lambda app=app: runtime.pids("dev", app), what="a run")
        await workload.fire()
        await until(
            lambda app=app, n=expected: len(runtime.pids("dev", app)) == n, what=f"{policy} runs"
        )
        pids = runtime.pids("dev", app)
        status = await status_of(runtime, app)
        assert status.phase == "Running" and status.desired == expected
        if policy == "Forbid":
            assert pids == first
            assert any(e.reason == "JobAlreadyActive" for e in status.events)
        if policy == "Replace":
            assert pids != first and not alive(first[0])
        if policy == "Allow":
            assert (runtime.root / "dev" / app / "1.log").exists()  # a second log slot
        await runtime.converge([])
        for pid in pids:
            assert not alive(pid)


async def test_cronjob_in_time_zone_next_run(runtime: LocalRuntime) -> None:
    obj = cronjob("tz", [PY, "-c", "pass"], schedule="30 2 * * *")
    obj["spec"]["timeZone"] = "Europe/Berlin"
    await runtime.converge([obj])
    workload = next(iter(runtime._workloads.values()))
    assert isinstance(workload, JobWorkload)
    await until(lambda: workload.next_at, what="a next run")
    from zoneinfo import ZoneInfo

    at = datetime.fromtimestamp(workload.next_at or 0, ZoneInfo("Europe/Berlin"))
    assert (at.hour, at.minute, at.second) == (2, 30, 0)


async def test_restart_runs_a_job_again(runtime: LocalRuntime) -> None:
    await runtime.converge([job("again", [PY, "-c", "print('run')"])])
    await phase_is(runtime, "again", "Succeeded")
    await runtime.restart("dev", "again")

    async def ran_twice() -> bool:
        status = await status_of(runtime, "again")
        started = [e for e in status.events if e.reason == "Started"]
        return status.phase == "Succeeded" and len(started) == 2

    await until(ran_twice, what="a second run")
    assert await runtime.logs("dev", "again", 5) == ["run", "run"]
