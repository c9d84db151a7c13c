"""GPU types: which nodes carry them and which extended resource counts them.

On OCI bare metal a GPU type maps to its shape (``node.kubernetes.io/instance-type``); elsewhere
to the product label of NVIDIA GPU Feature Discovery. A cluster adds or overrides entries through
``Cluster.gpu_types`` (product strings vary with memory size and form factor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ironplane.spec.kinds.platform import GpuNodes

NVIDIA = "nvidia.com/gpu"
AMD = "amd.com/gpu"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
GFD_PRODUCT = "nvidia.com/gpu.product"


@dataclass(frozen=True, slots=True)
class GpuNodeClass:
    node_selector: Mapping[str, str]
    resource: str = NVIDIA


_OCI_SHAPES = {
    "H100": ("BM.GPU.H100.8", NVIDIA),
    "H200": ("BM.GPU.H200.8", NVIDIA),
    "B200": ("BM.GPU.B200.8", NVIDIA),
    "A100": ("BM.GPU.A100-v2.8", NVIDIA),
    "A100-40G": ("BM.GPU4.8", NVIDIA),
    "MI300X": ("BM.GPU.MI300X.8", AMD),
}
_GFD_PRODUCTS = {
    "H100": "NVIDIA-H100-80GB-HBM3",
    "H200": "NVIDIA-H200",
    "B200": "NVIDIA-B200",
    "A100": "NVIDIA-A100-SXM4-80GB",
    "A100-40G": "NVIDIA-A100-SXM4-40GB",
    "L40S": "NVIDIA-L40S",
    "L4": "NVIDIA-L4",
    "A10": "NVIDIA-A10",
}


def gpu_table(provider: str, overrides: Mapping[str, GpuNodes]) -> dict[str, GpuNodeClass]:
    if provider == "oci":
        table = {
            name: GpuNodeClass({INSTANCE_TYPE: shape}, resource)
            for name, (shape, resource) in _OCI_SHAPES.items()
        }
    else:
        table = {
            name: GpuNodeClass({GFD_PRODUCT: product}) for name, product in _GFD_PRODUCTS.items()
        }
    for name, entry in overrides.items():
        table[name] = GpuNodeClass(dict(entry.node_selector), entry.resource)
    return dict(sorted(table.items()))
