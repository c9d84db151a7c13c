"""The local runtime: runs compiled workloads as processes on this machine (no Kubernetes)."""

from ironplane.agent.local.runtime import LocalRuntime

__all__ = ["LocalRuntime"]
