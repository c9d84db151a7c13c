"""A cluster's desired state holds its profile's cluster-wide objects, and follows its spec."""

from __future__ import annotations

import pytest

from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml

pytestmark = pytest.mark.anyio


async def test_desired_state_carries_kueue_and_the_policy(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, WORKSPACE)
    desired = (await api.get("/clusters/oke-prod/desired")).json()
    kinds = {o["kind"] for o in desired["objects"]}
    assert {"Topology", "ResourceFlavor", "ClusterQueue"} <= kinds
    assert {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= kinds
    revision = desired["revision"]

    # Kyverno installed: the policy becomes a ClusterPolicy, in a new revision.
    r = await apply_yaml(api, CLUSTER + "addons: [kyverno]\n")
    assert r.json()["changes"][0]["action"] == "update"
    desired = (await api.get("/clusters/oke-prod/desired")).json()
    assert desired["revision"] == revision + 1
    kinds = {o["kind"] for o in desired["objects"]}
    assert "ClusterPolicy" in kinds and "ValidatingAdmissionPolicy" not in kinds

    # The same spec again changes nothing.
    await apply_yaml(api, CLUSTER + "addons: [kyverno]\n")
    assert (await api.get("/clusters/oke-prod/desired")).json()["revision"] == revision + 1


async def test_workspaces_follow_their_cluster_profile(server: Server) -> None:
    api = server.admin
    generic = "kind: Cluster\nname: lab\nprovider: generic\n"
    space = "kind: Workspace\nname: team\ncluster: lab\ngpu: true\nqueue: team-q\n"
    await apply_yaml(api, generic, space)

    async def kinds() -> set[str]:
        desired = (await api.get("/clusters/lab/desired")).json()
        return {o["kind"] for o in desired["objects"]}

    assert "LocalQueue" not in await kinds()  # no Kueue on that cluster
    await apply_yaml(api, generic + "addons: [kueue]\n")
    assert {"LocalQueue", "ClusterQueue", "ResourceFlavor"} <= await kinds()
    assert "Topology" not in await kinds()


async def test_missing_puller_credentials_are_warned(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, WORKSPACE + "gpu: true\n")
    model = (
        "kind: Model\nname: llama\nworkspace: prod\nengine: vllm\n"
        "model: meta-llama/Llama-3.1-8B-Instruct\nresources: {gpu: {count: 1, type: H100}}\n"
        "weights: {source: oci://ns/bucket/llama, credentials: s3-keys}\n"
    )
    r = await apply_yaml(api, model)
    messages = [w["message"] for w in r.json()["warnings"]]
    assert any("secret group 's3-keys' does not exist" in m for m in messages), messages
