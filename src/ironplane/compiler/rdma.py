"""OCI bare-metal RDMA (RoCE v2): the per-shape NCCL environment and the topology node labels.

Every value here is sourced from oracle-quickstart/oci-hpc-oke (the platform research,
``shared/research/platform.md``, read part of it; the rest was read from the repository):

- 3.1 (``docs/using-host-rdma-network-interfaces-in-manifests.md``): the host-network pod
  pattern that ``compiler/kinds/training_pods.py`` builds.
- ``manifests/nccl-tests/host-network/kueue/<shape>.yaml``: the NCCL/UCX variables of the NCCL
  test MPIJob on each shape (launcher ``mpirun -x``), copied value for value. The shape table
  ``docs/recommended-nccl-rccl-parameters-by-shape.md`` lists the same ``NCCL_*`` values (it is
  what oci-hpc-oke's Terraform turns into ``oci-nccl-parameters-<shape>`` ConfigMaps).
- 3.2 / 3.3 / 4.1: the RDMA topology node labels OKE sets, which Kueue topology-aware scheduling
  uses as levels.

A shape missing here has no entry: nothing is guessed. The compiler warns when it meets one, and
the user sets the variables through the spec's ``env`` (which also overrides any value here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ironplane.compiler.context import CompileContext
from ironplane.compiler.gpus import INSTANCE_TYPE
from ironplane.spec.fields import Resources


@dataclass(frozen=True, slots=True)
class ShapeNetwork:
    """What NCCL needs to know about one bare-metal shape's RDMA network."""

    shape: str
    env: Mapping[str, str] = field(default_factory=dict)
    """NCCL/UCX variables; empty when no sourced values are known for the shape."""
    rdma_vfs: int | None = None
    """SR-IOV virtual functions the node advertises (one per RDMA PF; platform.md 3.1)."""


# What every shape's manifest sets alike: the RoCE v2 GID, traffic class, service level and IB
# timeout; no data split across queue pairs; the MPI launcher's own traffic (UCX, HCOLL) over TCP
# on the host's primary NIC. NCCL_IB_HCA starts with "=": NCCL then matches the listed device
# names exactly (no prefix match).
_ROCE = {
    "NCCL_DEBUG": "WARN",
    "NCCL_IB_GID_INDEX": "3",
    "NCCL_IB_TC": "41",
    "NCCL_IB_SL": "0",
    "NCCL_IB_TIMEOUT": "22",
    "NCCL_IB_SPLIT_DATA_ON_QPS": "0",
    "UCX_TLS": "tcp",
    "UCX_NET_DEVICES": "eth0",
    "HCOLL_ENABLE_MCAST_ALL": "0",
}
# H100, H200 and B200 add: no cuMem allocations, bootstrap traffic on eth0, NCCL's own CPU
# affinity ignored, and deeper receive queues.
_H_B = {
    **_ROCE,
    "NCCL_CUMEM_ENABLE": "0",
    "NCCL_SOCKET_IFNAME": "eth0",
    "NCCL_IGNORE_CPU_AFFINITY": "1",
    "RX_QUEUE_LEN": "8192",
    "IB_RX_QUEUE_LEN": "8192",
}
# The Ampere shapes: four queue pairs per connection instead.
_AMPERE = {**_ROCE, "NCCL_IB_QPS_PER_CONNECTION": "4"}


def _hcas(*numbers: int) -> str:
    return "=" + ",".join(f"mlx5_{n}" for n in numbers)


SHAPES: Mapping[str, ShapeNetwork] = {
    s.shape: s
    for s in (
        # 16 RDMA interfaces (8 x 2 x 200 Gbps).
        ShapeNetwork(
            "BM.GPU.H100.8",
            {
                **_H_B,
                "NCCL_IB_HCA": _hcas(0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17),
            },
            rdma_vfs=16,
        ),
        # 8 x 400 Gbps single-port NICs; H200 and B200 list the same eight devices.
        ShapeNetwork(
            "BM.GPU.H200.8", {**_H_B, "NCCL_IB_HCA": _hcas(0, 3, 4, 5, 6, 9, 10, 11)}, rdma_vfs=8
        ),
        ShapeNetwork(
            "BM.GPU.B200.8", {**_H_B, "NCCL_IB_HCA": _hcas(0, 3, 4, 5, 6, 9, 10, 11)}, rdma_vfs=8
        ),
        # 16 x 100 Gbps, dual-port NICs (the manifest's device order is kept).
        ShapeNetwork(
            "BM.GPU.A100-v2.8",
            {
                **_AMPERE,
                "NCCL_IB_HCA": _hcas(1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 9, 10, 11, 12),
            },
            rdma_vfs=16,
        ),
        # 8 x 200 Gbps, dual-port NICs: 16 devices.
        ShapeNetwork(
            "BM.GPU4.8",
            {
                **_AMPERE,
                "NCCL_IB_HCA": _hcas(0, 2, 6, 8, 10, 12, 14, 16, 1, 3, 7, 9, 11, 13, 15, 17),
            },
            rdma_vfs=16,
        ),
    )
}

TOPOLOGY_LEVELS: Mapping[str, str] = {
    "local_block": "oci.oraclecloud.com/rdma.local_block_id",
    "network_block": "oci.oraclecloud.com/rdma.network_block_id",
    "hpc_island": "oci.oraclecloud.com/rdma.hpc_island_id",
}
"""``topology.within`` → the OKE node label of that level (platform.md 3.2, 3.3)."""


def shape_of(resources: Resources | None, ctx: CompileContext) -> str | None:
    """The bare-metal shape the GPU type selects (its instance-type node selector), if any."""
    if resources is None or resources.gpu is None or resources.gpu.type is None:
        return None
    node_class = ctx.cluster.gpu_types.get(resources.gpu.type)
    if node_class is None:
        return None
    return node_class.node_selector.get(INSTANCE_TYPE)


def nccl_env(shape: str | None) -> dict[str, str]:
    """The sourced NCCL/UCX variables for a shape; empty when none are known."""
    if shape is None or shape not in SHAPES:
        return {}
    return dict(SHAPES[shape].env)
