"""Operator objects for the kube tests, with status bodies as their controllers write them.

Shapes follow the CRDs in the shared schema folder (argo-rollouts ``rollout-crd.yaml``, KEDA
``keda.sh_scaledobjects.yaml``, Argo Workflows ``argoproj.io_workflows.yaml`` /
``_workflowtemplates`` / ``_cronworkflows``), ``autoscaling/v2`` for the HPA, and Argo Rollouts'
``analysis-run-crd.yaml`` (not in the shared folder) for AnalysisRuns. The labels are what the
compiler puts on its objects (``objects.labels``) and what the controllers put on theirs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.agent.kube.objects import labels, pod_labels

Object = dict[str, Any]
ARGO = "argoproj.io/v1alpha1"
STABLE, CANARY = "6f8d4c9b7", "b7c9d5f4d"  # pod template hashes of two revisions


def canary_rollout(
    ws: str,
    app: str,
    *,
    replicas: int = 4,
    traffic_routing: bool = True,
    steps: list[Object] | None = None,
) -> Object:
    """A Rollout as the compiler emits it for ``rollout: canary`` (steps and analysis)."""
    canary: Object = {
        "canaryService": f"{app}-canary",
        "stableService": app,
        "steps": steps
        if steps is not None
        else [
            {"setWeight": 20},
            {"pause": {"duration": "10m"}},
            {"analysis": {"templates": [{"templateName": app}]}},
            {"setWeight": 50},
            {"pause": {}},
        ],
    }
    if traffic_routing:
        canary["trafficRouting"] = {
            "istio": {"virtualService": {"name": app, "routes": ["primary"]}}
        }
    return {
        "apiVersion": ARGO,
        "kind": "Rollout",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app, "model")},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"ironplane.dev/app": app}},
            "template": {
                "metadata": {"labels": pod_labels(ws, app, "model")},
                "spec": {"containers": [{"name": "main", "image": "vllm/vllm-openai:v0.6"}]},
            },
            "strategy": {"canary": canary},
        },
    }


def blue_green_rollout(ws: str, app: str, *, replicas: int = 2) -> Object:
    rollout = canary_rollout(ws, app, replicas=replicas)
    rollout["spec"]["strategy"] = {
        "blueGreen": {
            "activeService": app,
            "previewService": f"{app}-preview",
            "autoPromotionEnabled": False,
            "prePromotionAnalysis": {"templates": [{"templateName": app}]},
        }
    }
    return rollout


def rollout_status(
    *,
    phase: str,
    step: int | None = None,
    generation: int = 3,
    replicas: int = 4,
    ready: int = 4,
    current: str = CANARY,
    stable: str = STABLE,
    message: str | None = None,
    **extra: Any,
) -> Object:
    """``status`` as the Argo Rollouts controller writes it."""
    status: Object = {
        "phase": phase,
        "observedGeneration": str(generation),  # a string in Argo's schema
        "replicas": replicas,
        "updatedReplicas": 1 if current != stable else replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "HPAReplicas": replicas,
        "currentPodHash": current,
        "stableRS": stable,
        "selector": "ironplane.dev/app=web",
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "AvailableReason",
                "message": "Rollout has minimum availability",
                "lastTransitionTime": "2025-06-01T10:00:00Z",
                "lastUpdateTime": "2025-06-01T10:00:00Z",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated" if phase != "Healthy" else "NewReplicaSetAvailable",
                "message": f'ReplicaSet "web-{current}" is progressing.',
                "lastTransitionTime": "2025-06-01T10:02:00Z",
                "lastUpdateTime": "2025-06-01T10:02:00Z",
            },
        ],
    }
    if step is not None:
        status["currentStepIndex"] = step
        status["currentStepHash"] = "5d9c7f8b6"
    if message is not None:
        status["message"] = message
    status.update(extra)
    return status


def weights(canary: int, *, current: str = CANARY, stable: str = STABLE) -> Object:
    """``status.canary.weights`` as written with traffic routing."""
    return {
        "canary": {"weight": canary, "podTemplateHash": current, "serviceName": "web-canary"},
        "stable": {"weight": 100 - canary, "podTemplateHash": stable, "serviceName": "web"},
    }


def analysis_run(
    rollout: Object,
    name: str,
    *,
    pod_hash: str = CANARY,
    phase: str = "Running",
    metrics: list[Object] | None = None,
    message: str | None = None,
    created: str = "2025-06-01T10:05:00Z",
) -> Object:
    """An AnalysisRun as Argo Rollouts creates it: owned by the Rollout, labelled with the pod
    hash and the kind of analysis, plus the labels of the compiled ``analysisRunMetadata`` (the
    app's workspace and app, ``ironplane.dev/kind: analysis-run``; no managed-by)."""
    meta = rollout["metadata"]
    status: Object = {
        "phase": phase,
        "startedAt": "2025-06-01T10:05:00Z",
        "metricResults": metrics if metrics is not None else [],
        "runSummary": {"count": len(metrics or []), "successful": 0},
    }
    if message:
        status["message"] = message
    return {
        "apiVersion": ARGO,
        "kind": "AnalysisRun",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "creationTimestamp": created,
            "labels": {
                "rollouts-pod-template-hash": pod_hash,
                "rollout-type": "Step",
                "step-index": "2",
                **{
                    k: v
                    for k, v in (meta.get("labels") or {}).items()
                    if k in ("ironplane.dev/workspace", "ironplane.dev/app")
                },
                "ironplane.dev/kind": "analysis-run",
            },
            "ownerReferences": [
                {
                    "apiVersion": ARGO,
                    "kind": "Rollout",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "metrics": [
                {
                    "name": "success-rate",
                    "interval": "1m",
                    "successCondition": "result[0] >= 0.95",
                    "provider": {
                        "prometheus": {"address": "http://prometheus:9090", "query": "..."}
                    },
                }
            ]
        },
        "status": status,
    }


def metric(
    name: str, phase: str, values: list[tuple[str, str]], message: str | None = None
) -> Object:
    """One ``status.metricResults`` entry; ``values``: (phase, value) of each measurement."""
    result: Object = {
        "name": name,
        "phase": phase,
        "count": len(values),
        "successful": sum(1 for p, _ in values if p == "Successful"),
        "failed": sum(1 for p, _ in values if p == "Failed"),
        "measurements": [
            {
                "phase": p,
                "value": v,
                "startedAt": f"2025-06-01T10:0{5 + i}:00Z",
                "finishedAt": f"2025-06-01T10:0{5 + i}:01Z",
            }
            for i, (p, v) in enumerate(values)
        ],
    }
    if message:
        result["message"] = message
    return result


def scaled_object(
    ws: str,
    app: str,
    *,
    min_replicas: int | None = 1,
    max_replicas: int | None = 8,
    conditions: list[Object] | None = None,
    hpa_name: str | None = "default",
) -> Object:
    spec: Object = {
        "scaleTargetRef": {"name": app},
        "pollingInterval": 15,
        "cooldownPeriod": 300,
        "triggers": [
            {
                "type": "prometheus",
                "metadata": {
                    "serverAddress": "http://prometheus.monitoring:9090",
                    "query": f'sum(vllm:num_requests_waiting{{app="{app}"}})',
                    "threshold": "10",
                },
            }
        ],
    }
    if min_replicas is not None:
        spec["minReplicaCount"] = min_replicas
    if max_replicas is not None:
        spec["maxReplicaCount"] = max_replicas
    status: Object = {
        "scaleTargetKind": "apps/v1.Deployment",
        "scaleTargetGVKR": {
            "group": "apps",
            "kind": "Deployment",
            "resource": "deployments",
            "version": "v1",
        },
        "originalReplicaCount": 1,
        "externalMetricNames": ["s0-prometheus"],
        "lastActiveTime": "2025-06-01T10:00:00Z",
        "conditions": conditions if conditions is not None else keda_conditions(),
    }
    if hpa_name is not None:
        status["hpaName"] = f"keda-hpa-{app}" if hpa_name == "default" else hpa_name
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": app, "namespace": ws, "labels": labels(ws, app, "model")},
        "spec": spec,
        "status": status,
    }


def keda_conditions(
    *, ready: str = "True", active: str = "True", paused: str = "False", fallback: str = "False"
) -> list[Object]:
    messages = {
        ("Ready", "True"): ("ScaledObjectReady", "ScaledObject is defined correctly and is ready for scaling"),
        ("Ready", "False"): ("ScaledObjectCheckFailed", "ScaledObject doesn't have correct scaleTargetRef specification"),
        ("Active", "True"): ("ScalerActive", "Scaling is performed because triggers are active"),
        ("Active", "False"): ("ScalerNotActive", "Scaling is not performed because triggers are not active"),
        ("Paused", "True"): ("ScaledObjectPaused", "ScaledObject is paused"),
        ("Paused", "False"): ("ScaledObjectUnpaused", "pause annotation removed for ScaledObject"),
        ("Fallback", "True"): ("FallbackExists", "At least one trigger is falling back on this scaled object"),
        ("Fallback", "False"): ("NoFallbackFound", "No fallbacks are active on this scaled object"),
    }  # fmt: skip
    out = []
    for kind, status in (
        ("Ready", ready),
        ("Active", active),
        ("Fallback", fallback),
        ("Paused", paused),
    ):
        reason, message = messages[(kind, status)]
        out.append({"type": kind, "status": status, "reason": reason, "message": message})
    return out


def keda_hpa(scaled: Object, *, current: int, desired: int, name: str | None = None) -> Object:
    """The HPA KEDA makes: the ScaledObject's labels over KEDA's own, owned by it."""
    meta = scaled["metadata"]
    hpa_labels = {
        "app.kubernetes.io/name": f"keda-hpa-{meta['name']}",
        "app.kubernetes.io/version": "2.16.0",
        "app.kubernetes.io/part-of": meta["name"],
        "app.kubernetes.io/managed-by": "keda-operator",
        **meta["labels"],
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name or f"keda-hpa-{meta['name']}",
            "namespace": meta["namespace"],
            "labels": hpa_labels,
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"]},
            "minReplicas": scaled["spec"].get("minReplicaCount", 1),
            "maxReplicas": scaled["spec"].get("maxReplicaCount", 100),
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": "s0-prometheus",
                            "selector": {
                                "matchLabels": {"scaledobject.keda.sh/name": meta["name"]}
                            },
                        },
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                }
            ],
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "lastScaleTime": "2025-06-01T10:03:00Z",
            "currentMetrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "s0-prometheus"},
                        "current": {"averageValue": "14"},
                    },
                }
            ],
            "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
                {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"},
            ],
        },
    }


def workflow_template(
    ws: str, job: str, params: list[Object] | None = None, *, owned: bool = True
) -> Object:
    """The compiler's run template for a Job on a cluster with Argo Workflows."""
    meta: Object = {"name": job, "namespace": ws}
    if owned:
        meta["labels"] = labels(ws, job, "job")
    return {
        "apiVersion": ARGO,
        "kind": "WorkflowTemplate",
        "metadata": meta,
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": params if params is not None else []},
            "workflowMetadata": {
                "labels": {
                    "ironplane.dev/workspace": ws,
                    "ironplane.dev/app": job,
                    "ironplane.dev/kind": "job-run",
                }
            },
            "templates": [
                {
                    "name": "main",
                    "container": {
                        "image": "registry.example.com/train:1",
                        "command": ["python", "train.py"],
                        "args": ["--lr", "{{workflow.parameters.lr}}"],
                    },
                }
            ],
        },
    }


def cron_workflow(ws: str, job: str, *, suspend: bool = False) -> Object:
    return {
        "apiVersion": ARGO,
        "kind": "CronWorkflow",
        "metadata": {"name": job, "namespace": ws, "labels": labels(ws, job, "job")},
        "spec": {
            "schedules": ["0 2 * * *"],
            "suspend": suspend,
            "concurrencyPolicy": "Forbid",
            "workflowSpec": {"workflowTemplateRef": {"name": job}},
        },
        "status": {"active": [], "succeeded": 0, "failed": 0, "phase": "Active"},
    }


def workflow(
    ws: str,
    job: str,
    name: str,
    *,
    phase: str | None = None,
    started: str | None = None,
    finished: str | None = None,
    message: str | None = None,
    shutdown: str | None = None,
    cron: Object | None = None,
    created: str = "2025-06-01T10:00:00Z",
) -> Object:
    """A Workflow run as the Argo controller has written it (``phase`` None: not yet)."""
    wf_labels = {
        "ironplane.dev/workspace": ws,
        "ironplane.dev/app": job,
        "ironplane.dev/kind": "job-run",
    }
    meta: Object = {"name": name, "namespace": ws, "creationTimestamp": created}
    if cron is not None:
        wf_labels["workflows.argoproj.io/cron-workflow"] = cron["metadata"]["name"]
        meta["ownerReferences"] = [
            {
                "apiVersion": ARGO,
                "kind": "CronWorkflow",
                "name": cron["metadata"]["name"],
                "uid": cron["metadata"].get("uid", "c0ffee"),
                "controller": True,
            }
        ]
    else:
        wf_labels["ironplane.dev/run"] = name
    if phase in ("Succeeded", "Failed", "Error"):
        wf_labels["workflows.argoproj.io/completed"] = "true"
    if phase is not None:
        wf_labels["workflows.argoproj.io/phase"] = phase
    meta["labels"] = wf_labels
    spec: Object = {"workflowTemplateRef": {"name": job}, "arguments": {"parameters": []}}
    if shutdown:
        spec["shutdown"] = shutdown
    status: Object = {}
    if phase is not None:
        # The API server drops the nulls Argo writes for unset times (non-nullable fields).
        times = {"startedAt": started, "finishedAt": finished}
        status = {"phase": phase, "progress": "0/1", **{k: v for k, v in times.items() if v}}
        if message:
            status["message"] = message
    return {
        "apiVersion": ARGO,
        "kind": "Workflow",
        "metadata": meta,
        "spec": spec,
        "status": status,
    }


def run_cronjob(
    ws: str,
    job: str,
    *,
    params: list[Object] | None = None,
    command: Object | None = None,
    queue: str | None = None,
) -> Object:
    """The compiler's run template for a Job without Argo Workflows: a suspended CronJob with
    the params and raw command in annotations, defaults filled into the container."""
    params = params if params is not None else []
    command = command if command is not None else {"command": ["python", "train.py"], "args": None}
    template_labels = labels(ws, job, "job")
    if queue:
        template_labels["kueue.x-k8s.io/queue-name"] = queue
    defaults = {p["name"]: p["default"] or "" for p in params}

    def filled(words: list[str] | None) -> list[str] | None:
        if words is None:
            return None
        out = []
        for word in words:
            for name, value in defaults.items():
                word = word.replace("{{" + name + "}}", value)
            out.append(word)
        return out

    container: Object = {"name": "main", "image": "registry.example.com/train:1"}
    container["command"] = filled(command["command"])
    if command.get("args") is not None:
        container["args"] = filled(command["args"])
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": job,
            "namespace": ws,
            "labels": labels(ws, job, "job"),
            "annotations": {
                "ironplane.dev/params": json.dumps(params, sort_keys=True),
                "ironplane.dev/command": json.dumps(command, sort_keys=True),
            },
        },
        "spec": {
            "schedule": "0 0 31 2 *",
            "suspend": True,
            "jobTemplate": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 3600,
                    "template": {
                        "metadata": {"labels": pod_labels(ws, job, "job")},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [container, {"name": "sidecar", "image": "busybox"}],
                        },
                    },
                },
            },
        },
    }


def batch_job_run(
    ws: str,
    job: str,
    name: str,
    *,
    status: Object | None = None,
    annotations: dict[str, str] | None = None,
    owner: Object | None = None,
    suspend: bool = False,
    created: str = "2025-06-01T10:00:00Z",
) -> Object:
    """A batch Job run (``owner``: the CronJob that made it, carrying its template's labels)."""
    meta: Object = {"name": name, "namespace": ws, "creationTimestamp": created}
    if owner is not None:
        meta["labels"] = copy.deepcopy(owner["spec"]["jobTemplate"]["metadata"]["labels"])
        meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"].get("uid", "cafe"),
                "controller": True,
            }
        ]
    else:
        meta["labels"] = {
            "ironplane.dev/workspace": ws,
            "ironplane.dev/app": job,
            "ironplane.dev/kind": "job-run",
            "ironplane.dev/run": name,
        }
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {"suspend": suspend, "backoffLimit": 2, "template": {"spec": {"containers": []}}},
        "status": status or {},
    }
