"""Fixtures for the validation tests: fresh copies of valid objects (crd_dir is in tests/)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def deployment() -> dict[str, Any]:
    labels = {"app": "chat-api"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "chat-api", "namespace": "prod", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "ghcr.io/example/chat-api:1.0",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "1Gi"},
                                "limits": {"nvidia.com/gpu": 1},
                            },
                        }
                    ]
                },
            },
        },
    }


@pytest.fixture
def virtual_service() -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "chat-api", "namespace": "prod"},
        "spec": {
            "hosts": ["chat.example.com"],
            "gateways": ["istio-system/public"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/v1"}}],
                    "route": [
                        {
                            "destination": {
                                "host": "chat-api.prod.svc.cluster.local",
                                "port": {"number": 8080},
                            },
                            "weight": 100,
                        }
                    ],
                    "timeout": "30s",
                    "retries": {"attempts": 3, "perTryTimeout": "10s"},
                }
            ],
        },
    }
