"""Applying a TrainingJob that would not fit on its cluster's reported nodes warns (never refuses)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ironplane.server.db.tables import ClusterRow
from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, apply_yaml

pytestmark = pytest.mark.anyio

WORKSPACE = "kind: Workspace\nname: prod\ncluster: oke-prod\ngpu: true\nqueue: gpu-queue\n"


def _job(nodes: int) -> str:
    return f"""kind: TrainingJob
name: llama-ft
workspace: prod
framework: pytorch
image: registry.example.com/train:3.1
command: [torchrun, train.py]
nodes: {nodes}
resources: {{gpu: {{count: 8, type: H100}}}}
topology: {{within: local_block, mode: required}}
"""


def _node(name: str, block: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {
            "node.kubernetes.io/instance-type": "BM.GPU.H100.8",
            "oci.oraclecloud.com/rdma.hpc_island_id": "i1",
            "oci.oraclecloud.com/rdma.network_block_id": "n1",
            "oci.oraclecloud.com/rdma.local_block_id": block,
        },
        "ready": True,
        "allocatable_gpus": 8,
        "used_gpus": 0,
    }


async def _report(server: Server, nodes: list[dict[str, Any]]) -> None:
    async with server.app.state.services.db.session() as s:
        row = (await s.scalars(select(ClusterRow).where(ClusterRow.name == "oke-prod"))).one()
        row.nodes = nodes


async def test_a_job_that_does_not_fit_is_stored_with_a_warning(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, WORKSPACE)
    # No nodes reported yet: nothing to judge.
    r = await apply_yaml(api, _job(2))
    assert not [w for w in r.json()["warnings"] if "does not fit" in w["message"]]

    await _report(server, [_node("a0", "lb-a"), _node("a1", "lb-a"), _node("b0", "lb-b")])
    r = await apply_yaml(api, _job(3))
    warnings = [w for w in r.json()["warnings"] if "does not fit" in w["message"]]
    assert len(warnings) == 1
    assert "cluster 'oke-prod'" in warnings[0]["message"] and "lb-a" in warnings[0]["message"]
    assert r.json()["changes"][0]["action"] == "update"  # stored all the same

    r = await apply_yaml(api, _job(2))
    assert not [w for w in r.json()["warnings"] if "does not fit" in w["message"]]
