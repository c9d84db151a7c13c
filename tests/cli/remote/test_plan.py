"""``ironplane plan``: the placement preview of TrainingJobs against the reported nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli
from tests.sdk.samples import CLUSTER, WORKSPACE

H100 = "BM.GPU.H100.8"


def _node(name: str, block: str, used: int = 0, shape: str = H100) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {
            "node.kubernetes.io/instance-type": shape,
            "oci.oraclecloud.com/rdma.hpc_island_id": "i1",
            "oci.oraclecloud.com/rdma.network_block_id": "n1",
            "oci.oraclecloud.com/rdma.local_block_id": block,
        },
        "ready": True,
        "allocatable_gpus": 8,
        "gpu_resource": "nvidia.com/gpu",
        "used_gpus": used,
    }


def _job(tmp_path: Path, nodes: int, mode: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(
        f"""kind: TrainingJob
name: llama-ft
workspace: team-a
framework: pytorch
image: registry.example.com/train:3.1
command: [torchrun, train.py]
nodes: {nodes}
resources: {{gpu: {{count: 8, type: H100}}}}
topology: {{within: local_block, mode: {mode}}}
"""
    )
    return path


def _cluster(server: FakeServer) -> None:
    nodes = [_node(f"a{i}", "lb-a") for i in range(3)] + [
        _node("b0", "lb-b"),
        _node("b1", "lb-b", used=8),  # busy: no room
        _node("c0", "lb-c", shape="BM.GPU.A100-v2.8"),  # another shape: not a candidate
    ]
    server.on("GET", "/workspaces/team-a", WORKSPACE)
    server.on("GET", "/clusters/oke-prod", {**CLUSTER, "nodes": nodes})


def test_plan_finds_the_local_block(server: FakeServer, tmp_path: Path) -> None:
    _cluster(server)
    code, out, err = run_cli(["plan", "-f", str(_job(tmp_path, 3, "required"))])
    assert code == 0, err
    assert out.startswith("team-a/llama-ft on cluster oke-prod:\n")
    assert "lb-a" in out and "fits" in out


def test_plan_says_why_not_and_exits_1(server: FakeServer, tmp_path: Path) -> None:
    _cluster(server)
    code, out, _ = run_cli(["plan", "-f", str(_job(tmp_path, 4, "required"))])
    assert code == 1
    assert "lb-a" in out  # the largest local block, named in the reason
    # Preferred climbs to the network block, where the 4 free nodes are.
    code, out, _ = run_cli(["plan", "-f", str(_job(tmp_path, 4, "preferred"))])
    assert code == 0


def test_plan_needs_a_training_job(server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "ws.yaml"
    path.write_text("kind: Workspace\nname: team-a\n")
    code, _, err = run_cli(["plan", "-f", str(path)])
    assert code == 2 and "no TrainingJob" in err


def test_plan_needs_an_oci_cluster(server: FakeServer, tmp_path: Path) -> None:
    server.on("GET", "/workspaces/team-a", WORKSPACE)
    server.on("GET", "/clusters/oke-prod", {**CLUSTER, "provider": "generic", "nodes": []})
    code, _, err = run_cli(["plan", "-f", str(_job(tmp_path, 1, "required"))])
    assert code == 2 and "not an OCI cluster" in err


def test_plan_on_a_named_cluster(server: FakeServer, tmp_path: Path) -> None:
    """`--cluster` plans on that cluster's nodes, whatever the workspace's cluster is: its busy
    local block leaves no room where the workspace's cluster would have had some."""
    _cluster(server)
    busy = [_node(f"s{i}", "lb-s", used=8) for i in range(3)]
    server.on("GET", "/clusters/oke-staging", {**CLUSTER, "name": "oke-staging", "nodes": busy})
    job = str(_job(tmp_path, 3, "required"))
    code, out, _ = run_cli(["plan", "-f", job, "--cluster", "oke-staging"])
    assert code == 1
    assert out.startswith("team-a/llama-ft on cluster oke-staging:\n")
    code, out, _ = run_cli(["plan", "-f", job])
    assert code == 0 and "on cluster oke-prod" in out
