"""The embedded default: control plane, local cluster, agent and local runtime in one process."""
