"""The Kubernetes runtime: server-side apply and prune with lightkube, statuses from watches.

``KubeRuntime`` implements ``ironplane.agent.runtime.Runtime``; ``make_client`` builds the
lightkube client it talks through (in-cluster, a kubeconfig, or a plain base URL for tests).
"""

from ironplane.agent.kube.client import KubeApi, ResourceType, make_client
from ironplane.agent.kube.errors import KubeRuntimeError
from ironplane.agent.kube.runtime import KubeRuntime

__all__ = ["KubeApi", "KubeRuntime", "KubeRuntimeError", "ResourceType", "make_client"]
