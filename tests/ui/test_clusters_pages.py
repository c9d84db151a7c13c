"""The cluster pages (agents, nodes, RDMA blocks, GPU charts) and the workspaces page."""

from __future__ import annotations

import re

import pytest

from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server
from tests.ui.agent_fakes import WEB, add_samples, platform, set_nodes, sign_in, user
from tests.ui.conftest import signed_in

pytestmark = pytest.mark.anyio

RDMA = "oci.oraclecloud.com/rdma."
NODES = [
    {
        "name": "gpu-a",
        "labels": {
            "node.kubernetes.io/instance-type": "BM.GPU.H100.8",
            RDMA + "local_block_id": "lb-1",
            RDMA + "network_block_id": "nb-1",
            RDMA + "hpc_island_id": "island-1",
        },
        "ready": True,
        "allocatable_gpus": 8,
        "gpu_resource": "nvidia.com/gpu",
        "used_gpus": 3,
    },
    {
        "name": "gpu-b",
        "labels": {
            "beta.kubernetes.io/instance-type": "BM.GPU.H100.8",
            RDMA + "local_block_id": "lb-1",
            RDMA + "network_block_id": "nb-1",
            RDMA + "hpc_island_id": "island-1",
        },
        "ready": False,
        "allocatable_gpus": 8,
        "gpu_resource": "nvidia.com/gpu",
        "used_gpus": 2,
    },
    {
        "name": "gpu-c",
        "labels": {"nvidia.com/gpu.product": "NVIDIA-L4", RDMA + "local_block_id": "lb-2"},
        "ready": True,
        "allocatable_gpus": 1,
        "gpu_resource": "nvidia.com/gpu",
        "used_gpus": 0,
    },
    {"name": "cpu-1", "labels": {}, "ready": True},
]


def row_of(html: str, header: str) -> str:
    """The table row whose header cell reads ``header``."""
    match = re.search(
        r"<tr[^>]*>\s*<th scope=\"row\">(?:<a [^>]*>)?"
        + re.escape(header)
        + r"(?:</a>)?</th>(.*?)</tr>",
        html,
        re.S,
    )
    assert match, f"no row {header!r}"
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()
    return cells.replace("\u2013", "-")  # the pages' dash for "none"


async def test_clusters_list_shows_agents_and_gpus(server: Server) -> None:
    await platform(server)
    await set_nodes(server, NODES)
    client = await signed_in(server)
    r = await client.get("/ui/clusters")
    assert r.status_code == 200
    row = row_of(r.text, "oke-prod")
    assert "oci us-ashburn-1" in row and "disconnected" in row
    # applied / desired revision, ready nodes, GPUs used / allocatable
    assert "0 / 1 (behind)" in row
    assert "3 / 4" in row and "5 / 17" in row
    assert 'aria-label="29% of GPUs used"' in r.text


async def test_cluster_page_nodes_blocks_workspaces_and_charts(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    await set_nodes(server, NODES)
    client = await signed_in(server)
    r = await client.get("/ui/clusters/oke-prod")
    assert r.status_code == 200, r.text
    html = r.text
    # shape from either instance-type label; the GPU type read back from the OCI GPU table
    assert row_of(html, "gpu-a") == "ready BM.GPU.H100.8 H100 3 / 8 lb-1 nb-1 island-1"
    assert row_of(html, "gpu-b") == "not ready BM.GPU.H100.8 H100 2 / 8 lb-1 nb-1 island-1"
    assert row_of(html, "gpu-c") == "ready - NVIDIA-L4 0 / 1 lb-2 - -"
    assert row_of(html, "cpu-1") == "ready - - 0 / 0 - - -"
    # one summary per local block: nodes ready, GPUs free, used / allocatable
    assert row_of(html, "lb-1") == "nb-1 island-1 1 / 2 11 5 / 16"
    assert row_of(html, "lb-2") == "- - 1 / 1 1 0 / 1"
    assert 'aria-label="31% of the block\'s GPUs used"' in html
    # both workspaces of the cluster, with their policy
    assert row_of(html, "prod") == "yes no team-a"
    assert row_of(html, "lab") == "no no -"
    assert 'data-src="/ui/clusters/oke-prod/series.json?name=gpu_utilization"' in html
    assert 'data-src="/ui/clusters/oke-prod/series.json?name=gpu_memory_used_bytes"' in html
    assert "No telemetry in the last 15 minutes" in html


async def test_node_charts_come_from_the_agents_telemetry(server: Server) -> None:
    await platform(server)
    await add_samples(
        server,
        [
            proto.Sample(scope="node", name="gpu_utilization", value=87.5, node="gpu-a"),
            proto.Sample(scope="node", name="gpu_utilization", value=12.0, node="gpu-b"),
            proto.Sample(scope="node", name="gpu_memory_used_bytes", value=3 * 2**30, node="gpu-a"),
        ],
    )
    client = await signed_in(server)
    r = await client.get("/ui/clusters/oke-prod/series.json?name=gpu_utilization")
    assert r.status_code == 200
    series = {s["label"]: s["points"] for s in r.json()["series"]}
    assert set(series) == {"gpu-a", "gpu-b"}
    assert series["gpu-a"][0][1] == 87.5 and series["gpu-b"][0][1] == 12.0
    r = await client.get("/ui/clusters/oke-prod/series.json?name=gpu_memory_used_bytes")
    (memory,) = r.json()["series"]
    assert memory["points"][0][1] == 3.0, "bytes are charted in GiB"
    r = await client.get("/ui/clusters/oke-prod/series.json?name=x&since=forever")
    assert r.status_code == 400
    # the page's text alternative holds the latest values
    html = (await client.get("/ui/clusters/oke-prod")).text
    assert re.search(r"<td>gpu utilization</td><td>gpu-a</td><td>87.5</td>", html)
    assert re.search(r"<td>gpu memory used</td><td>gpu-a</td><td>3 GiB</td>", html)


async def test_clusters_out_of_reach_are_not_found(server: Server) -> None:
    await platform(server)
    await server.admin.post("/clusters", json={"kind": "Cluster", "name": "other"})
    await user(server, "olga", "viewer", ("cluster", "other"))
    client = await sign_in(server, "olga")
    r = await client.get("/ui/clusters")
    assert "/ui/clusters/other" in r.text and "oke-prod" not in r.text
    assert (await client.get("/ui/clusters/oke-prod")).status_code == 404
    r = await client.get("/ui/clusters/oke-prod/series.json?name=gpu_utilization")
    assert r.status_code == 404
    assert (await client.get("/ui/clusters/other")).status_code == 200


async def test_workspaces_page(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    client = await signed_in(server)
    r = await client.get("/ui/workspaces")
    assert r.status_code == 200
    assert row_of(r.text, "prod").startswith("oke-prod yes no team-a 1 ")
    assert row_of(r.text, "lab").startswith("oke-prod no no - 0 ")
    await user(server, "wendy", "viewer", ("workspace", "lab"))
    viewer = await sign_in(server, "wendy")
    r = await viewer.get("/ui/workspaces")
    assert "lab" in r.text and 'href="/ui/apps?workspace=prod"' not in r.text
