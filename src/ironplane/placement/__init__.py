"""Placement preview: will a job's pod set fit on the cluster's nodes, and where (Kueue TAS)."""

from ironplane.placement.preview import (
    HOSTNAME,
    HPC_ISLAND,
    LEVELS,
    LOCAL_BLOCK,
    MODES,
    NETWORK_BLOCK,
    WITHIN,
    DomainSummary,
    Node,
    Plan,
    PodSet,
    preview,
)

__all__ = [
    "HOSTNAME",
    "HPC_ISLAND",
    "LEVELS",
    "LOCAL_BLOCK",
    "MODES",
    "NETWORK_BLOCK",
    "WITHIN",
    "DomainSummary",
    "Node",
    "Plan",
    "PodSet",
    "preview",
]
