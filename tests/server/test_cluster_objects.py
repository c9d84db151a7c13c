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
