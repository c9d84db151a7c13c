"""Objects shaped like the compiler's output (ownership labels included), for the kube tests."""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]
MANAGED = {"app.kubernetes.io/managed-by": "ironplane"}


def labels(ws: str, app: str, kind: str = "service", version: str = "h1") -> dict[str, str]:
    return {
        **MANAGED,
        "app.kubernetes.io/name": app,
        "ironplane.dev/app": app,
        "ironplane.dev/kind": kind,
        "ironplane.dev/version": version,
        "ironplane.dev/workspace": ws,
    }


def pod_labels(ws: str, app: str, kind: str = "service") -> dict[str, str]:
    out = labels(ws, app, kind)
    del out["ironplane.dev/version"]
    return out


def namespace(ws: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ws, "labels": labels(ws, ws, "workspace")},
    }


def service_account(ws: str, app: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app)},
    }


def config_map(ws: str, app: str, data: dict[str, str], *, owned: bool = True) -> Object:
    meta: Object = {"name": app, "namespace": ws}
    if owned:
        meta["labels"] = labels(ws, app)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def deployment(
    ws: str,
    app: str,
    *,
    replicas: int = 1,
    image: str = "registry.example.com/web:1",
    version: str = "h1",
    env: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Object:
    container: Object = {"name": "main", "image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    template_meta: Object = {"labels": pod_labels(ws, app)}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app, version=version)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"ironplane.dev/app": app}},
            "template": {"metadata": template_meta, "spec": {"containers": [container]}},
        },
    }


def service(ws: str, app: str, port: int = 8000) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app)},
        "spec": {
            "selector": {"ironplane.dev/app": app},
            "ports": [{"name": "http", "port": port, "targetPort": port}],
        },
    }


def pvc(ws: str, app: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app, "volume")},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def job_spec(ws: str, app: str) -> Object:
    return {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": pod_labels(ws, app, "job")},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
            },
        },
    }


def cronjob(ws: str, app: str, *, suspend: bool = False) -> Object:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app, "job")},
        "spec": {
            "schedule": "0 2 * * *",
            "suspend": suspend,
            "jobTemplate": {
                "metadata": {"labels": labels(ws, app, "job")},
                "spec": job_spec(ws, app),
            },
        },
    }


def job(ws: str, app: str, *, name: str | None = None, owner: Object | None = None) -> Object:
    meta: Object = {"name": name or app, "namespace": ws, "labels": labels(ws, app, "job")}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job_spec(ws, app)}


def rollout(ws: str, app: str, replicas: int = 2) -> Object:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app, "model")},
        "spec": {
            "replicas": replicas,
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
        },
    }


WIDGET_GROUP = "ironplane-test.example.com"


def widget_crd() -> Object:
    """A namespaced test CRD, ``Widget`` in ``ironplane-test.example.com/v1``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"widgets.{WIDGET_GROUP}",
            "labels": {**MANAGED, "ironplane.dev/app": "widgets"},
        },
        "spec": {
            "group": WIDGET_GROUP,
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def widget(ws: str, app: str, size: int = 1) -> Object:
    return {
        "apiVersion": f"{WIDGET_GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app, "model")},
        "spec": {"size": size},
    }


def app_objects(ws: str, app: str, **kwargs: Any) -> list[Object]:
    """What the compiler makes of a small service: account, Service, Deployment."""
    return [service_account(ws, app), service(ws, app), deployment(ws, app, **kwargs)]
