"""OCI bare-metal RDMA (RoCE v2): the per-shape NCCL environment and the topology node labels.

Every value here is sourced from the platform research (``shared/research/platform.md``), which
read it from oracle-quickstart/oci-hpc-oke:

- 3.1 (``docs/using-host-rdma-network-interfaces-in-manifests.md``): the host-network pod
  pattern that ``compiler/kinds/training.py`` builds.
- 3.4 (``manifests/nccl-tests/host-network/kueue/BM.GPU.H100.8.yaml``): the NCCL/UCX variables
  of the NCCL test MPIJob on BM.GPU.H100.8, copied value for value into ``_H100``.
- 3.2 / 3.3 / 4.1: the RDMA topology node labels OKE sets, which Kueue topology-aware scheduling
  uses as levels.

For the other RDMA shapes the research records only the RDMA NIC layout (3.1, 3.8), not their
NCCL values (oci-hpc-oke keeps them in ``docs/recommended-nccl-rccl-parameters-by-shape.md``,
which was not read). Their entries are therefore empty: nothing is guessed. The compiler warns
when it meets one, and the user sets the variables through the spec's ``env``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ironplane.compiler.context import CompileContext
from ironplane.compiler.gpus import INSTANCE_TYPE
from ironplane.spec.fields import Resources

SOURCE = "oracle-quickstart/oci-hpc-oke manifests/nccl-tests/host-network/kueue/BM.GPU.H100.8.yaml"


@dataclass(frozen=True, slots=True)
class ShapeNetwork:
    """What NCCL needs to know about one bare-metal shape's RDMA network."""

    shape: str
    env: Mapping[str, str] = field(default_factory=dict)
    """NCCL/UCX variables; empty when the research holds no sourced values for the shape."""
    rdma_vfs: int | None = None
    """SR-IOV virtual functions the node advertises (one per RDMA PF; platform.md 3.1)."""
    note: str = ""


# BM.GPU.H100.8: 16 RDMA interfaces (8 x 2 x 200 Gbps). platform.md 3.4, exact values.
# NCCL_IB_HCA starts with "=": NCCL matches the listed device names exactly (no prefix match).
# NCCL_IB_QPS_PER_CONNECTION is not set: the sourced manifest does not set it (not sourced).
_H100 = {
    "NCCL_IB_HCA": "=mlx5_0,mlx5_1,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_7,mlx5_8,mlx5_9,mlx5_10,"
    "mlx5_12,mlx5_13,mlx5_14,mlx5_15,mlx5_16,mlx5_17",
    "NCCL_IB_GID_INDEX": "3",  # the RoCE v2 GID
    "NCCL_IB_TC": "41",  # traffic class
    "NCCL_IB_SL": "0",  # service level
    "NCCL_IB_TIMEOUT": "22",
    "NCCL_IB_SPLIT_DATA_ON_QPS": "0",
    "NCCL_CUMEM_ENABLE": "0",
    "NCCL_SOCKET_IFNAME": "eth0",  # bootstrap / out-of-band traffic on the host's primary NIC
    "NCCL_IGNORE_CPU_AFFINITY": "1",
    "UCX_TLS": "tcp",
    "UCX_NET_DEVICES": "eth0",
    "HCOLL_ENABLE_MCAST_ALL": "0",
}

_UNSOURCED = "NCCL values not sourced yet (platform.md has them for BM.GPU.H100.8 only)"

SHAPES: Mapping[str, ShapeNetwork] = {
    s.shape: s
    for s in (
        ShapeNetwork("BM.GPU.H100.8", _H100, rdma_vfs=16, note=SOURCE),
        # 8 x 400 Gbps RDMA, single-port NICs (platform.md 3.1, 3.8). NCCL values: not sourced.
        ShapeNetwork("BM.GPU.H200.8", rdma_vfs=8, note=_UNSOURCED),
        # Single-port NICs, 8 VFs (platform.md 3.1). NCCL values: not sourced.
        ShapeNetwork("BM.GPU.B200.8", rdma_vfs=8, note=_UNSOURCED),
        # 16 x 100 Gbps RDMA, dual-port (platform.md 3.1, 3.8). NCCL values: not sourced.
        ShapeNetwork("BM.GPU.A100-v2.8", rdma_vfs=16, note=_UNSOURCED),
        # 8 x 200 Gbps RDMA, dual-port: 16 VFs (platform.md 3.1, 3.8). NCCL values: not sourced.
        ShapeNetwork("BM.GPU4.8", rdma_vfs=16, note=_UNSOURCED),
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
