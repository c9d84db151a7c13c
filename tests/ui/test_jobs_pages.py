"""The jobs pages: the job list, a job's params and run form, its runs (polled while active),
stopping a run and reading its logs through the (fake) agent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ironplane.server.services import runs as runs_service
from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server
from tests.server.helpers import apply_yaml
from tests.ui.agent_fakes import fake_hub, ok, sign_in, user
from tests.ui.conftest import csrf_of, signed_in

pytestmark = pytest.mark.anyio

PLATFORM = (
    "kind: Cluster\nname: oke-prod\nprovider: oci\nregion: us-ashburn-1\n---\n"
    "kind: Workspace\nname: prod\ncluster: oke-prod\n"
)
JOB = """kind: Job
name: nightly
workspace: prod
image: example.com/eval:1
command: [python, eval.py, "--dataset={{dataset}}", "--n={{n}}"]
params:
  - {name: dataset, description: which benchmark to run}
  - {name: n, default: "10"}
"""
SERVICE = "kind: Service\nname: web\nworkspace: prod\nimage: example.com/web:1\n"


async def setup(server: Server) -> None:
    await apply_yaml(server.admin, PLATFORM, JOB, SERVICE)


async def agent_ok(call: dict[str, Any]) -> proto.CommandResult:
    if call["op"] == "run_logs":
        return ok(["epoch 1 <loss=0.5>", "done"])
    return ok()


async def report(server: Server, run: str, phase: str) -> None:
    """What the agent's status report would say about the run."""
    from tests.ui.agent_fakes import cluster_id

    async with server.app.state.services.db.session() as s:
        await runs_service.record_reported(
            s,
            await cluster_id(server),
            {"prod"},
            [proto.RunStatus(id=run, workspace="prod", job="nightly", phase=phase)],  # type: ignore[arg-type]
            complete=False,
        )


async def test_job_list_and_page_show_params_and_a_labelled_run_form(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    r = await client.get("/ui/jobs")
    assert r.status_code == 200
    assert 'href="/ui/jobs/prod/nightly"' in r.text and "no runs yet" in r.text
    assert "/ui/jobs/prod/web" not in r.text, "a Service is not a job"

    r = await client.get("/ui/jobs/prod/nightly")
    assert r.status_code == 200
    html = r.text
    assert 'for="param-dataset"' in html and 'id="param-dataset" name="param.dataset"' in html
    assert re.search(r'id="param-n" name="param.n" value="10"', html), "defaults are filled in"
    assert "(required)" in html and "aria-required" in html
    assert "which benchmark to run" in html
    assert "Run nightly" in html
    r = await client.get("/ui/jobs/prod/web")
    assert r.status_code == 404


async def test_run_form_errors_are_shown_and_nothing_starts(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup(server)
    calls = fake_hub(monkeypatch, server, agent_ok)
    client = await signed_in(server)
    csrf = csrf_of((await client.get("/ui/jobs/prod/nightly")).text)

    r = await client.post(
        "/ui/jobs/prod/nightly/runs", data={"csrf": csrf, "param.dataset": "", "param.n": "5"}
    )
    assert r.status_code == 400
    assert 'role="alert"' in r.text and "dataset have no default" in r.text
    assert 'name="param.n" value="5"' in r.text, "what was typed is kept"

    r = await client.post(
        "/ui/jobs/prod/nightly/runs",
        data={"csrf": csrf, "param.dataset": "gsm8k", "param.datset": "x"},
    )
    assert r.status_code == 400 and "unknown param" in r.text and "did you mean" in r.text

    r = await client.post("/ui/jobs/prod/nightly/runs", data={"csrf": csrf, "param.bad name": "x"})
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert calls == [], "refused before the agent is asked"
    assert (await server.admin.get("/workspaces/prod/jobs/nightly/runs")).json() == []


async def test_run_stop_and_logs_through_the_agent(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup(server)
    calls = fake_hub(monkeypatch, server, agent_ok)
    client = await signed_in(server)
    csrf = csrf_of((await client.get("/ui/jobs/prod/nightly")).text)

    r = await client.post(
        "/ui/jobs/prod/nightly/runs", data={"csrf": csrf, "param.dataset": "gsm8k", "param.n": ""}
    )
    assert r.status_code == 303, r.text
    run = r.headers["location"].split("started=")[1]
    assert r.headers["location"].startswith("/ui/jobs/prod/nightly?")
    assert calls[-1]["op"] == "run" and calls[-1]["params"] == {"dataset": "gsm8k"}
    runs = (await server.admin.get("/workspaces/prod/jobs/nightly/runs")).json()
    assert [x["name"] for x in runs] == [run] and runs[0]["started_by"] == "user:admin"

    html = (await client.get(r.headers["location"])).text
    assert f'Started run <a href="/ui/runs/prod/{run}">' in html
    assert "phase-pending" in html and "dataset=gsm8k" in html and "user:admin" in html
    assert 'hx-get="/ui/jobs/prod/nightly/runs" hx-trigger="every 3s"' in html
    assert f"Stop {run}" in html

    fragment = await client.get("/ui/jobs/prod/nightly/runs", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and run in fragment.text

    r = await client.post(f"/ui/runs/prod/{run}/stop", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/ui/jobs/prod/nightly?done=stopping"
    assert calls[-1] == {
        "cluster": "oke-prod",
        "op": "stop",
        "workspace": "prod",
        "app": "nightly",
        "run": run,
    }

    r = await client.get(f"/ui/runs/prod/{run}?lines=20")
    assert r.status_code == 200
    assert "epoch 1 &lt;loss=0.5&gt;" in r.text, "log lines are escaped"
    assert calls[-1]["op"] == "run_logs" and calls[-1]["lines"] == 20
    logs = await client.get(f"/ui/runs/prod/{run}/logs?lines=5")
    assert logs.status_code == 200 and "done" in logs.text and "<html" not in logs.text

    # once the agent reports the run finished, the table stops polling and Stop disappears
    await report(server, run, "Succeeded")
    html = (await client.get("/ui/jobs/prod/nightly")).text
    assert "phase-succeeded" in html and "hx-trigger" not in html and f"Stop {run}" not in html
    assert f">{run}</a>" in (await client.get("/ui/jobs")).text, "the list shows the last run"


async def test_without_an_agent_the_refusal_is_shown(server: Server) -> None:
    await setup(server)
    client = await signed_in(server)
    csrf = csrf_of((await client.get("/ui/jobs/prod/nightly")).text)
    r = await client.post(
        "/ui/jobs/prod/nightly/runs", data={"csrf": csrf, "param.dataset": "gsm8k"}
    )
    assert r.status_code == 503 and "is not connected" in r.text and 'role="alert"' in r.text
    assert (await server.admin.get("/workspaces/prod/jobs/nightly/runs")).json() == []


async def test_a_viewer_sees_no_run_or_stop_and_posting_is_refused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup(server)
    fake_hub(monkeypatch, server, agent_ok)
    r = await server.admin.post(
        "/workspaces/prod/jobs/nightly/runs", json={"params": {"dataset": "a"}}
    )
    assert r.status_code == 201, r.text
    run = r.json()["name"]
    await user(server, "vic", "viewer", ("workspace", "prod"))
    viewer = await sign_in(server, "vic")
    html = (await viewer.get("/ui/jobs/prod/nightly")).text
    assert run in html
    assert "Run nightly" not in html and "Stop " not in html and "/stop" not in html
    assert '/ui/jobs/prod/nightly/runs" class' not in html
    csrf = csrf_of(html)
    r = await viewer.post("/ui/jobs/prod/nightly/runs", data={"csrf": csrf, "param.dataset": "b"})
    assert r.status_code == 403
    r = await viewer.post(f"/ui/runs/prod/{run}/stop", data={"csrf": csrf})
    assert r.status_code == 403
    assert (await viewer.get(f"/ui/runs/prod/{run}")).status_code == 200

    await user(server, "otto", None, None)
    outsider = await sign_in(server, "otto")
    assert (await outsider.get("/ui/jobs/prod/nightly")).status_code == 404
    assert "nightly" not in (await outsider.get("/ui/jobs")).text


async def test_posts_need_the_csrf_token(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    await setup(server)
    calls = fake_hub(monkeypatch, server, agent_ok)
    client = await signed_in(server)
    r = await client.post("/ui/jobs/prod/nightly/runs", data={"param.dataset": "x"})
    assert r.status_code == 403 and "security token" in r.text
    r = await client.post("/ui/runs/prod/nightly-1/stop", data={"csrf": "0" * 40})
    assert r.status_code == 403
    assert calls == []
