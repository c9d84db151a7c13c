"""What the cluster pages show of a cluster's nodes: each node's shape, GPU type and RDMA
topology, and a summary per OCI local block (the nodes one RDMA switch joins).

Everything comes from the node labels the agent reports in its inventory: the shape
(``node.kubernetes.io/instance-type``), GPU Feature Discovery's product, and OCI's
``oci.oraclecloud.com/rdma.*`` topology labels. The GPU type is the cluster's own GPU table read
backwards (the same table the compiler selects nodes with), so a node's type is exactly the name a
spec would ask for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ironplane.api.clusters import Cluster, Node
from ironplane.compiler.gpus import GFD_PRODUCT, INSTANCE_TYPE, gpu_table
from ironplane.placement.preview import HPC_ISLAND, LOCAL_BLOCK, NETWORK_BLOCK
from ironplane.spec.kinds import ClusterSpec

BETA_INSTANCE_TYPE = "beta.kubernetes.io/instance-type"


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    ready: bool
    shape: str | None
    gpu_type: str | None
    """The cluster's GPU type name (``H100``), else GPU Feature Discovery's product string."""
    product: str | None
    allocatable: int
    used: int
    local_block: str | None
    network_block: str | None
    island: str | None

    @property
    def free(self) -> int:
        return max(self.allocatable - self.used, 0)


@dataclass(frozen=True, slots=True)
class BlockView:
    """The nodes of one local block, and their GPUs."""

    local_block: str
    network_blocks: tuple[str, ...]
    islands: tuple[str, ...]
    nodes: int
    ready: int
    allocatable: int
    used: int

    @property
    def free(self) -> int:
        return max(self.allocatable - self.used, 0)

    @property
    def percent_used(self) -> int:
        return percent(self.used, self.allocatable)


def percent(part: float, whole: float) -> int:
    """``part`` of ``whole`` in whole percent, within 0..100 (0 for an empty whole)."""
    if whole <= 0:
        return 0
    return max(0, min(100, round(100 * part / whole)))


def _gpu_types(cluster: Cluster) -> list[tuple[str, dict[str, str]]]:
    try:
        spec = ClusterSpec.model_validate(cluster.spec)
    except ValueError:
        return []
    table = gpu_table(spec.provider, spec.gpu_types)
    return [(name, dict(entry.node_selector)) for name, entry in table.items()]


def _gpu_type(labels: dict[str, str], types: Sequence[tuple[str, dict[str, str]]]) -> str | None:
    for name, selector in types:
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            return name
    return labels.get(GFD_PRODUCT)


def node_views(cluster: Cluster) -> list[NodeView]:
    types = _gpu_types(cluster)
    return [_node_view(n, types) for n in sorted(cluster.nodes, key=lambda n: n.name)]


def _node_view(node: Node, types: Sequence[tuple[str, dict[str, str]]]) -> NodeView:
    labels = dict(node.labels)
    shape = labels.get(INSTANCE_TYPE) or labels.get(BETA_INSTANCE_TYPE)
    if shape:
        labels[INSTANCE_TYPE] = shape  # older nodes carry only the beta label
    return NodeView(
        name=node.name,
        ready=node.ready,
        shape=shape,
        gpu_type=_gpu_type(labels, types),
        product=labels.get(GFD_PRODUCT),
        allocatable=node.allocatable_gpus,
        used=node.used_gpus,
        local_block=labels.get(LOCAL_BLOCK),
        network_block=labels.get(NETWORK_BLOCK),
        island=labels.get(HPC_ISLAND),
    )


def blocks(nodes: Sequence[NodeView]) -> list[BlockView]:
    """One summary per local block, in name order; nodes without the label are left out."""
    groups: dict[str, list[NodeView]] = {}
    for node in nodes:
        if node.local_block:
            groups.setdefault(node.local_block, []).append(node)
    return [
        BlockView(
            local_block=block,
            network_blocks=tuple(sorted({n.network_block for n in members if n.network_block})),
            islands=tuple(sorted({n.island for n in members if n.island})),
            nodes=len(members),
            ready=sum(1 for n in members if n.ready),
            allocatable=sum(n.allocatable for n in members),
            used=sum(n.used for n in members),
        )
        for block, members in sorted(groups.items())
    ]
