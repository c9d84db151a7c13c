"""Apply refuses what the cluster would refuse, over the API, and stores nothing when it does.

The compiler's context checks (RDMA and block:// weights only in a privileged workspace, workload
identity only on an Enhanced OKE cluster) answer 400 with a located diagnostic, and neither the
app, a version nor a new cluster revision is left behind. A workspace cannot drop
``privileged: true`` under an active app that still needs it: the agent's admission policy would
refuse that app's pods from then on.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, apply_yaml, error_of

pytestmark = pytest.mark.anyio


def _workspace(*, privileged: bool) -> str:
    return (
        "kind: Workspace\nname: prod\ncluster: oke-prod\ngpu: true\n"
        f"privileged: {str(privileged).lower()}\nqueue: gpu-queue\n"
    )


VOLUME = "kind: Volume\nname: weights-disk\nworkspace: prod\ntype: block\nsize: 500Gi\n"


def _job(name: str = "llama-ft", *, rdma: bool = False, extra: str = "") -> str:
    return (
        f"kind: TrainingJob\nname: {name}\nworkspace: prod\nframework: pytorch\n"
        "image: registry.example.com/train:1\ncommand: [torchrun, train.py]\nnodes: 2\n"
        "resources: {gpu: {count: 8, type: H100}, cpu: 100, memory: 1800Gi}\n"
        f"network:\n  rdma: {str(rdma).lower()}\n{extra}"
    )


BLOCK_WEIGHTS = "weights:\n  source: block://weights-disk/llama-70b\n"

MODEL = """kind: Model
name: llama-8b
workspace: prod
engine: vllm
model: meta-llama/Llama-3.1-8B-Instruct
resources: {gpu: {count: 2, type: H100}, cpu: 8, memory: 64Gi}
identity: {service_account: llama-8b}
"""


def _line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` that holds ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


async def _revision(api: httpx.AsyncClient) -> int:
    r = await api.get("/clusters/oke-prod")
    assert r.status_code == 200, r.text
    revision: int = r.json()["revision"]
    return revision


async def _absent(api: httpx.AsyncClient, name: str) -> None:
    """No trace of app ``name`` in workspace prod: no app, no version, not in the list."""
    r = await api.get(f"/workspaces/prod/apps/{name}")
    assert r.status_code == 404, r.text
    r = await api.get(f"/workspaces/prod/apps/{name}/versions")
    assert r.status_code == 404, r.text
    r = await api.get("/apps")
    assert r.status_code == 200, r.text
    assert name not in {a["name"] for a in r.json()}


async def _refused(
    api: httpx.AsyncClient, text: str, *, source: str, path: list[str], line: int
) -> dict[str, Any]:
    """Apply ``text`` alone, expect 400 with one diagnostic at ``path``; return it."""
    r = await apply_yaml(api, text, source=source, expect=400)
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    [diag] = err["diagnostics"]
    assert diag["path"] == path
    assert (diag["source"], diag["line"]) == (source, line)
    return diag


async def test_rdma_in_a_workspace_that_is_not_privileged_is_refused(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=False))
    before = await _revision(api)
    job = _job(rdma=True)
    diag = await _refused(
        api, job, source="job.yaml", path=["network", "rdma"], line=_line_of(job, "rdma:")
    )
    assert diag["message"].startswith("RDMA needs a privileged workspace")
    assert "'prod'" in diag["message"]
    assert diag["subject"] == "TrainingJob 'llama-ft'"
    await _absent(api, "llama-ft")
    assert await _revision(api) == before
    # The same job without RDMA is accepted: the refusal was about RDMA alone.
    r = await apply_yaml(api, _job(rdma=False))
    assert r.json()["changes"][0]["action"] == "create"


@pytest.mark.parametrize("kind", ["Model", "TrainingJob"])
async def test_identity_on_a_cluster_that_is_not_enhanced_is_refused(
    server: Server, kind: str
) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=False))
    before = await _revision(api)
    text = MODEL if kind == "Model" else _job(extra="identity: {service_account: llama-ft}\n")
    name = "llama-8b" if kind == "Model" else "llama-ft"
    diag = await _refused(
        api, text, source="app.yaml", path=["identity"], line=_line_of(text, "identity:")
    )
    assert "OKE Workload Identity needs an Enhanced cluster" in diag["message"]
    assert "'oke-prod'" in diag["message"]
    assert diag["allowed"] == "identity only on a Cluster with enhanced: true"
    await _absent(api, name)
    assert await _revision(api) == before
    # An Enhanced cluster takes it.
    await apply_yaml(api, CLUSTER + "enhanced: true\n")
    r = await apply_yaml(api, text)
    assert r.json()["changes"][0]["action"] == "create"


async def test_block_weights_in_a_workspace_that_is_not_privileged_are_refused(
    server: Server,
) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=False), VOLUME)
    before = await _revision(api)
    job = _job(extra=BLOCK_WEIGHTS)
    diag = await _refused(
        api, job, source="job.yaml", path=["weights", "source"], line=_line_of(job, "source:")
    )
    assert diag["message"].startswith("block:// weights are mounted by each training node")
    assert "privileged" in diag["message"]
    await _absent(api, "llama-ft")
    assert await _revision(api) == before


# A workspace dropping privileged: true under apps that need it.


async def _workspace_state(api: httpx.AsyncClient) -> dict[str, Any]:
    r = await api.get("/workspaces/prod")
    assert r.status_code == 200, r.text
    state: dict[str, Any] = r.json()
    return state


async def _active_version(api: httpx.AsyncClient, name: str) -> int | None:
    r = await api.get(f"/workspaces/prod/apps/{name}")
    assert r.status_code == 200, r.text
    version: int | None = r.json()["app"]["active_version"]
    return version


async def test_a_workspace_keeps_privileged_while_an_active_app_needs_it(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=True), VOLUME)
    await apply_yaml(api, _job("rdma-job", rdma=True))
    await apply_yaml(api, _job("block-job", extra=BLOCK_WEIGHTS))
    await apply_yaml(api, _job("plain-job"))
    before = await _revision(api)

    text = _workspace(privileged=False)
    for dry_run in (True, False):
        r = await api.post(
            "/apply",
            json={"documents": [{"source": "ws.yaml", "content": text}], "dry_run": dry_run},
        )
        assert r.status_code == 400, r.text
        err = error_of(r)
        assert err["code"] == "invalid_spec"
        diags = err["diagnostics"]
        # One per app that needs privilege, in name order; the plain job is not named.
        assert [d["message"] for d in diags] == [
            "TrainingJob prod/block-job (active version 1) needs a privileged workspace for "
            "weights.source",
            "TrainingJob prod/rdma-job (active version 1) needs a privileged workspace for "
            "network.rdma",
        ]
        for d in diags:
            assert d["path"] == ["privileged"]
            assert (d["source"], d["line"]) == ("ws.yaml", _line_of(text, "privileged:"))
            assert d["subject"] == "Workspace 'prod'"
            assert d["given"] == "false"
            assert "delete" in d["hint"] and "keep privileged: true" in d["hint"]
        assert "ironplane delete app prod/rdma-job" in diags[1]["hint"]

    # Nothing was written: the workspace is still privileged, the apps still active.
    ws = await _workspace_state(api)
    assert ws["privileged"] is True and ws["spec"]["privileged"] is True
    assert await _revision(api) == before
    for name in ("rdma-job", "block-job", "plain-job"):
        assert await _active_version(api, name) == 1


async def test_a_workspace_may_drop_privileged_when_no_app_needs_it(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=True))
    await apply_yaml(api, _job("plain-job"))
    await apply_yaml(api, _job("rdma-job", rdma=True))
    # Deleted first, as the refusal's hint says: a deleted app needs nothing.
    r = await api.delete("/workspaces/prod/apps/rdma-job")
    assert r.status_code == 200, r.text

    r = await apply_yaml(api, _workspace(privileged=False))
    assert r.json()["changes"][0]["action"] == "update"
    assert (await _workspace_state(api))["privileged"] is False
    assert await _active_version(api, "plain-job") == 1


async def test_the_same_apply_may_make_the_apps_not_need_privilege(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=True))
    await apply_yaml(api, _job("rdma-a", rdma=True))
    await apply_yaml(api, _job("rdma-b", rdma=True))
    before = await _revision(api)

    # Changing one of them is not enough: the other is named.
    r = await apply_yaml(api, _workspace(privileged=False), _job("rdma-a"), expect=400)
    [diag] = error_of(r)["diagnostics"]
    assert diag["path"] == ["privileged"] and "prod/rdma-b" in diag["message"]
    # Keeping RDMA on a replaced app is the compiler's own refusal, on the app's field.
    r = await apply_yaml(
        api, _workspace(privileged=False), _job("rdma-a"), _job("rdma-b", rdma=True), expect=400
    )
    [diag] = error_of(r)["diagnostics"]
    assert diag["path"] == ["network", "rdma"] and diag["subject"] == "TrainingJob 'rdma-b'"
    assert await _revision(api) == before
    assert (await _workspace_state(api))["privileged"] is True

    r = await apply_yaml(api, _workspace(privileged=False), _job("rdma-a"), _job("rdma-b"))
    actions = {c["name"]: c["action"] for c in r.json()["changes"]}
    assert actions == {"prod": "update", "rdma-a": "update", "rdma-b": "update"}
    assert (await _workspace_state(api))["privileged"] is False
    assert await _active_version(api, "rdma-a") == 2
    assert await _active_version(api, "rdma-b") == 2


async def test_a_sync_that_removes_the_app_may_drop_privileged(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER)

    async def sync(*texts: str) -> httpx.Response:
        content = "\n---\n".join(t.strip("\n") for t in texts) + "\n"
        return await api.post(
            "/apply",
            json={"documents": [{"source": "repo.yaml", "content": content}], "sync": "repo"},
        )

    r = await sync(_workspace(privileged=True), _job("rdma-job", rdma=True))
    assert r.status_code == 200, r.text
    r = await sync(_workspace(privileged=False))
    assert r.status_code == 200, r.text
    actions = {c["name"]: c["action"] for c in r.json()["changes"]}
    assert actions == {"prod": "update", "rdma-job": "delete"}
    assert (await _workspace_state(api))["privileged"] is False
    assert await _active_version(api, "rdma-job") is None


async def test_a_rollback_to_a_version_the_workspace_no_longer_allows_is_refused(
    server: Server,
) -> None:
    """Version 1 (RDMA) was allowed when stored; the workspace has since dropped privileged, so
    restoring it as it was would hand the agent pods its admission policy refuses."""
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=True))
    await apply_yaml(api, _job("llama-ft", rdma=True))
    await apply_yaml(api, _job("llama-ft"))
    await apply_yaml(api, _workspace(privileged=False))
    before = await _revision(api)

    r = await api.post("/workspaces/prod/apps/llama-ft/rollback", json={"to": 1})
    assert r.status_code == 400, r.text
    err = error_of(r)
    assert err["code"] == "invalid_spec"
    assert "version 1 of prod/llama-ft cannot be restored" in err["message"]
    [diag] = err["diagnostics"]
    assert diag["path"] == ["network", "rdma"]
    assert await _active_version(api, "llama-ft") == 2
    assert await _revision(api) == before

    # Back in a privileged workspace, the same rollback goes through.
    await apply_yaml(api, _workspace(privileged=True))
    r = await api.post("/workspaces/prod/apps/llama-ft/rollback", json={"to": 1})
    assert r.status_code == 200, r.text
    assert await _active_version(api, "llama-ft") == 3


CACHED_MODEL = """kind: Model
name: llama-cached
workspace: prod
engine: vllm
model: meta-llama/Llama-3.1-8B-Instruct
resources: {gpu: {count: 1, type: H100}, cpu: 8, memory: 64Gi}
weights: {source: oci://ns/bucket/llama, credentials: s3-keys}
"""


async def test_manifests_that_hold_a_host_path_keep_the_workspace_privileged(
    server: Server,
) -> None:
    """The node-shared weights cache (a host path, filled as root) is no spec field the compiler
    refuses elsewhere: the stored manifests say that the app needs the privilege."""
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=True))
    r = await api.put(
        "/workspaces/prod/secrets/s3-keys",
        json={"values": {"aws_access_key_id": "AK", "aws_secret_access_key": "SK"}},
    )
    assert r.status_code in (200, 201), r.text
    await apply_yaml(api, CACHED_MODEL)
    r = await apply_yaml(api, _workspace(privileged=False), expect=400)
    [diag] = error_of(r)["diagnostics"]
    assert diag["path"] == ["privileged"]
    assert "Model prod/llama-cached" in diag["message"]
    assert "host path /mnt/localdisk/ironplane/weights" in diag["message"]
    assert (await _workspace_state(api))["privileged"] is True

    # Applied again, the Model compiles for the workspace it gets (its pod's own cache).
    r = await apply_yaml(api, _workspace(privileged=False), CACHED_MODEL)
    assert r.status_code == 200, r.text
    assert await _active_version(api, "llama-cached") == 2
    r = await api.post("/workspaces/prod/apps/llama-cached/rollback", json={"to": 1})
    assert r.status_code == 400, r.text
    [diag] = error_of(r)["diagnostics"]
    assert "manifests need a privileged workspace" in diag["message"]
    assert await _active_version(api, "llama-cached") == 2


async def test_a_workspace_keeps_gpus_while_an_active_app_asks_for_them(server: Server) -> None:
    """Not only privilege: any change that would leave an active app invalid is refused, on the
    changed field, with what would break."""
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=False))
    await apply_yaml(api, _job("gpu-job"))
    before = await _revision(api)
    text = _workspace(privileged=False).replace("gpu: true", "gpu: false")
    r = await apply_yaml(api, text, source="ws.yaml", expect=400)
    [diag] = error_of(r)["diagnostics"]
    assert diag["path"] == ["gpu"] and diag["subject"] == "Workspace 'prod'"
    assert diag["message"].startswith(
        "TrainingJob prod/gpu-job (active version 1) would no longer be valid: resources.gpu:"
    )
    assert (await _workspace_state(api))["spec"]["gpu"] is True
    assert await _revision(api) == before
    # Changed in the same apply (no GPUs asked for), the workspace may go.
    cpu_job = _job("gpu-job").replace("resources: {gpu: {count: 8, type: H100}, ", "resources: {")
    r = await apply_yaml(api, text, cpu_job)
    assert r.status_code == 200, r.text
    assert (await _workspace_state(api))["spec"]["gpu"] is False


async def test_a_cluster_stays_enhanced_while_an_active_app_uses_workload_identity(
    server: Server,
) -> None:
    api = server.admin
    enhanced = CLUSTER + "enhanced: true\n"
    await apply_yaml(api, enhanced, _workspace(privileged=False))
    await apply_yaml(api, MODEL)
    r = await apply_yaml(api, CLUSTER, source="cluster.yaml", expect=400)
    [diag] = error_of(r)["diagnostics"]
    assert diag["subject"] == "Cluster 'oke-prod'" and diag["path"] == ["enhanced"]
    assert (
        "Model prod/llama-8b (active version 1) would no longer be valid: identity:"
        in (diag["message"])
    )
    # Unrelated cluster changes go through.
    r = await apply_yaml(api, enhanced + "addons: [kueue]\n")
    assert r.status_code == 200, r.text


async def test_a_workspace_queue_moves_only_with_the_jobs_that_take_it(server: Server) -> None:
    """A TrainingJob without a queue of its own was compiled with the workspace's: moved under
    it, its objects would wait on a LocalQueue that is gone. Applied together, it follows."""
    api = server.admin
    await apply_yaml(api, CLUSTER, _workspace(privileged=False))
    await apply_yaml(api, _job("queued-job"))
    await apply_yaml(api, _job("own-queue", extra="queue: special\n"))
    moved = _workspace(privileged=False).replace("queue: gpu-queue", "queue: new-queue")
    r = await apply_yaml(api, moved, expect=400)
    [diag] = error_of(r)["diagnostics"]  # not the job with a queue of its own
    assert diag["path"] == ["queue"]
    assert "TrainingJob prod/queued-job" in diag["message"]
    assert "queued on 'gpu-queue', where it would now be on 'new-queue'" in diag["message"]
    r = await apply_yaml(api, moved, _job("queued-job"))
    assert r.status_code == 200, r.text
    assert await _active_version(api, "queued-job") == 2
    # Version 1, restored as it was, would wait on the old LocalQueue.
    r = await api.post("/workspaces/prod/apps/queued-job/rollback", json={"to": 1})
    assert r.status_code == 400, r.text
    [diag] = error_of(r)["diagnostics"]
    assert "queued on 'gpu-queue', where it would now be on 'new-queue'" in diag["message"]
    assert await _active_version(api, "queued-job") == 2


async def test_without_kueue_a_workspace_queue_is_no_label_and_may_move(server: Server) -> None:
    """On a cluster without Kueue a job carries no queue label: the workspace's queue may move
    under it (nothing of the stored objects names it)."""
    api = server.admin
    generic = "kind: Cluster\nname: oke-prod\nprovider: generic\n"
    await apply_yaml(api, generic, _workspace(privileged=False))
    await apply_yaml(api, _job("plain-job"))
    moved = _workspace(privileged=False).replace("queue: gpu-queue", "queue: new-queue")
    r = await apply_yaml(api, moved)
    assert r.status_code == 200, r.text


async def test_a_problem_the_app_already_had_is_not_blamed_on_the_change(server: Server) -> None:
    """An app mounting a Volume deleted since: a later cluster change (listing other volumes
    in the diagnostic's `allowed`) is not refused for it."""
    api = server.admin
    data = "kind: Volume\nname: data\nworkspace: prod\ntype: fss\nsize: 1Ti\n"
    await apply_yaml(api, CLUSTER, _workspace(privileged=False), data)
    await apply_yaml(api, _job("reader", extra="mounts: [{volume: data, path: /data}]\n"))
    r = await api.delete("/workspaces/prod/apps/data")
    assert r.status_code == 200, r.text
    other = data.replace("name: data", "name: other")
    r = await apply_yaml(api, CLUSTER + "addons: [kueue]\n", other)
    assert r.status_code == 200, r.text
