"""Ironplane: run AI workloads on bare-metal GPU Kubernetes."""

__version__ = "0.1.0"
