"""Render a Cluster's bootstrap: the Argo CD app-of-apps and what gets it going.

Objects, with Ironplane's ownership labels (the agent prunes them once they leave the desired
state) unless said otherwise:

- With Argo CD to install: its namespace (created, never pruned: no ownership label), the
  installer's ServiceAccount, a ClusterRoleBinding of it to ``cluster-admin`` (installing Argo
  CD creates cluster-wide roles), a ConfigMap with the argo-cd chart's values and a one-shot
  Job running ``helm upgrade --install`` of the pinned chart. The Job skips the install when
  the release is already deployed; its name carries a digest of what it installs, so a new pin
  makes a new Job.
- A repository Secret per OCI Helm registry (Argo CD needs ``enableOCI`` for those).
- The root Application ``ironplane-addons``: its source is argoproj/argo-helm's ``argocd-apps``
  chart, whose values hold every child Application, so the app-of-apps needs no Git repository.
  Argo CD creates the children in sync-wave order and, with the Application health check in
  argocd-cm, waits for each wave to be Healthy. The children carry no ownership label: the root
  owns and prunes them.
- The Istio Gateway ``ironplane-ingress`` exposed ports bind to (with Istio installed or
  existing and ``ingress_gateway`` naming it).

The agent applies what it can; objects of a kind not served yet (the Applications before Argo
CD's CRDs exist, the Gateway before Istio's) fail their converge, which the agent retries with
backoff until they are.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ironplane.compiler.bootstrap.catalog import (
    ARGO_CD_CHART,
    ARGO_CD_RELEASE,
    ARGOCD_APPS_CHART,
    COMPONENTS,
    HELM_IMAGE,
    Component,
    Source,
)
from ironplane.compiler.bootstrap.values import Context, argo_cd_values, values_of
from ironplane.compiler.labels import KIND, MANAGED_BY, MANAGER, NAME
from ironplane.compiler.pods import NONROOT_IMAGE_USER, container_security, pod_security
from ironplane.spec.kinds import ClusterSpec
from ironplane.spec.kinds.bootstrap import INGRESS_GATEWAY, BootstrapSpec, profile_of

APPLICATION = "argoproj.io/v1alpha1"
ROOT = "ironplane-addons"
INSTALLER = "ironplane-argocd-installer"
WAVE = "argocd.argoproj.io/sync-wave"
IN_CLUSTER = "https://kubernetes.default.svc"
PART_OF = "app.kubernetes.io/part-of"
ADDON = "ironplane.dev/addon"
BOOTSTRAP = "ironplane-bootstrap"
RETRY = {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}
PRIVILEGED_NAMESPACE = {
    f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")
}


@dataclass(frozen=True, slots=True)
class Plan:
    """A rendered bootstrap: the objects the agent applies, the children the root creates."""

    argocd_namespace: str
    installs_argo_cd: bool
    objects: tuple[dict[str, Any], ...]
    """What goes into the cluster's desired state (installer, repositories, root, Gateway)."""
    applications: tuple[dict[str, Any], ...]
    """The child Applications, as the root creates them (for review and ``-o``)."""


def _labels(name: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGER, KIND: "cluster", NAME: name, PART_OF: BOOTSTRAP}


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = _labels(name)
    return meta


def _source(src: Source, values: dict[str, Any] | None, release: str) -> dict[str, Any]:
    out: dict[str, Any] = {"repoURL": src.repo_url, "targetRevision": src.revision}
    if src.chart is not None:
        out["chart"] = src.chart
        helm: dict[str, Any] = {"releaseName": release}
        if values:
            helm["valuesObject"] = values
        out["helm"] = helm
    else:
        out["path"] = src.path
    return out


def _sync_policy(
    component: Component | None, namespace_labels: dict[str, str] | None
) -> dict[str, Any]:
    options = ["CreateNamespace=true", "ServerSideApply=true"]
    if component is not None:
        options += list(component.sync_options)
    policy: dict[str, Any] = {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": options,
        "retry": RETRY,
    }
    if namespace_labels:
        policy["managedNamespaceMetadata"] = {"labels": dict(namespace_labels)}
    return policy


_WEBHOOK_DRIFT = [
    {
        # istiod rewrites its webhooks' failurePolicy at run time (Istio's Argo CD guidance):
        # ignored, or the Applications never settle.
        "group": "admissionregistration.k8s.io",
        "kind": "ValidatingWebhookConfiguration",
        "jqPathExpressions": [".webhooks[]?.failurePolicy"],
    }
]


def application(
    component: Component, ctx: Context, boot: BootstrapSpec, argocd: str
) -> dict[str, Any]:
    """One child Application."""
    namespace = boot.namespace(component.addon)
    values = values_of(component, ctx)
    # The Application takes over the release the installer Job made: same release name.
    release = ARGO_CD_RELEASE if component.addon == "argo-cd" else component.name
    sources = [_source(s, values, release) for s in component.sources]
    spec: dict[str, Any] = {"project": "default"}
    if len(sources) == 1:
        spec["source"] = sources[0]
    else:
        spec["sources"] = sources
    spec["destination"] = {"server": IN_CLUSTER, "namespace": namespace}
    spec["syncPolicy"] = _sync_policy(
        component, PRIVILEGED_NAMESPACE if component.privileged else None
    )
    if component.addon == "istio" and component.name != "istio-ingressgateway":
        spec["ignoreDifferences"] = _WEBHOOK_DRIFT
    # Argo CD's root owns the children: no Ironplane ownership label, or the agent would prune
    # them (they are not in its desired set, only the root is).
    labels = {KIND: "addon", NAME: component.name, ADDON: component.addon, PART_OF: BOOTSTRAP}
    meta = {"name": component.name, "namespace": argocd, "labels": labels}
    meta["annotations"] = {WAVE: str(component.wave)}
    # No resources finalizer: a child the root prunes (an add-on now skipped or existing) leaves
    # its workloads and CRDs running; uninstalling is a separate, deliberate step.
    return {"apiVersion": APPLICATION, "kind": "Application", "metadata": meta, "spec": spec}


def _as_argocd_apps_entry(app: dict[str, Any]) -> dict[str, Any]:
    """An Application in the form of the argocd-apps chart's ``applications`` map."""
    meta = app["metadata"]
    entry: dict[str, Any] = {
        "namespace": meta["namespace"],
        "additionalLabels": dict(meta["labels"]),
        "additionalAnnotations": dict(meta["annotations"]),
    }
    entry.update(app["spec"])
    return entry


def root_application(apps: list[dict[str, Any]], argocd: str) -> dict[str, Any]:
    values = {"applications": {a["metadata"]["name"]: _as_argocd_apps_entry(a) for a in apps}}
    return {
        "apiVersion": APPLICATION,
        "kind": "Application",
        "metadata": _meta(ROOT, argocd),
        "spec": {
            "project": "default",
            "source": _source(ARGOCD_APPS_CHART, values, ROOT),
            "destination": {"server": IN_CLUSTER, "namespace": argocd},
            "syncPolicy": _sync_policy(None, None),
        },
    }


INSTALL_SCRIPT = """\
set -eu
if helm status {release} --namespace {namespace} 2>/dev/null | grep -q '^STATUS: deployed'; then
  echo "Argo CD release {release} is deployed; its argo-cd Application manages it now"
  exit 0
fi
helm upgrade --install {release} {chart} --repo {repo} --version {version} \\
  --namespace {namespace} --values /values/values.yaml --wait --timeout 15m
"""


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


def installer_objects(argocd: str) -> list[dict[str, Any]]:
    """What installs Argo CD before any Application can be applied."""
    values_text = json.dumps(argo_cd_values(), indent=2, sort_keys=True) + "\n"
    script = INSTALL_SCRIPT.format(
        release=ARGO_CD_RELEASE,
        chart=ARGO_CD_CHART.chart,
        repo=ARGO_CD_CHART.repo_url,
        version=ARGO_CD_CHART.revision,
        namespace=argocd,
    )
    job_name = f"{INSTALLER}-{_digest([script, values_text, HELM_IMAGE])}"
    env = [{"name": "HOME", "value": "/tmp"}] + [
        {"name": f"HELM_{kind}_HOME", "value": f"/tmp/helm/{kind.lower()}"}
        for kind in ("CACHE", "CONFIG", "DATA")
    ]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(job_name, argocd),
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": {NAME: INSTALLER}},
                "spec": {
                    "serviceAccountName": INSTALLER,
                    "restartPolicy": "Never",
                    "securityContext": {**pod_security(), **NONROOT_IMAGE_USER},
                    "containers": [
                        {
                            "name": "helm",
                            "image": HELM_IMAGE,
                            "command": ["/bin/sh", "-c", script],
                            "env": env,
                            "securityContext": {
                                **container_security(),
                                "readOnlyRootFilesystem": True,
                            },
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "volumeMounts": [
                                {"name": "values", "mountPath": "/values", "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "values", "configMap": {"name": INSTALLER}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }
    return [
        # Created, never pruned: no ownership label (removing the bootstrap must not delete
        # Argo CD and every Application with its namespace).
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": argocd, "labels": {PART_OF: BOOTSTRAP}},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(INSTALLER, argocd)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(INSTALLER),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": INSTALLER, "namespace": argocd}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(INSTALLER, argocd),
            "data": {"values.yaml": values_text},
        },
        job,
    ]


def repository_secrets(components: list[Component], argocd: str) -> list[dict[str, Any]]:
    """One Argo CD repository Secret per OCI Helm registry the components use."""
    seen: dict[str, Source] = {}
    for component in components:
        for src in component.sources:
            if src.oci:
                seen.setdefault(src.repo_url, src)
    out = []
    for url, src in sorted(seen.items()):
        name = f"ironplane-repo-{src.chart}"
        data = {"name": src.chart or url, "type": "helm", "url": url, "enableOCI": "true"}
        meta = _meta(name, argocd)
        meta["labels"]["argocd.argoproj.io/secret-type"] = "repository"
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())},
            }
        )
    return out


def ingress_gateway(spec: ClusterSpec) -> dict[str, Any] | None:
    """The Istio Gateway ``ingress_gateway`` names, when it is Ironplane's own."""
    namespace, _, name = spec.ingress_gateway.partition("/")
    if name != INGRESS_GATEWAY:
        return None  # the user's own Gateway: theirs to manage
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": _meta(name, namespace),
        "spec": {
            "selector": dict(spec.ingress_selector),
            "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}
            ],
        },
    }


def plan(spec: ClusterSpec) -> Plan | None:
    """The bootstrap of a Cluster spec; None when it has no ``bootstrap`` section."""
    boot = spec.bootstrap
    if boot is None:
        return None
    installed = boot.installed()
    present = set(boot.present())
    ctx = Context(
        profile=profile_of(boot, spec.provider),
        monitoring="prometheus" in present,
        prometheus_namespace=boot.namespace("prometheus"),
        victoria_logs_namespace=boot.namespace("victoria-logs"),
    )
    argocd = boot.namespace("argo-cd")
    components = [c for c in COMPONENTS if c.addon in installed]
    apps = [application(c, ctx, boot, argocd) for c in components]
    objects: list[dict[str, Any]] = []
    installs_argo_cd = "argo-cd" in installed
    if installs_argo_cd:
        objects += installer_objects(argocd)
    objects += repository_secrets(components, argocd)
    if apps:
        objects.append(root_application(apps, argocd))
    if "istio" in present:
        gateway = ingress_gateway(spec)
        if gateway is not None:
            objects.append(gateway)
    return Plan(
        argocd_namespace=argocd,
        installs_argo_cd=installs_argo_cd,
        objects=tuple(objects),
        applications=tuple(apps),
    )


def bootstrap_objects(spec: ClusterSpec) -> list[dict[str, Any]]:
    """What a Cluster's bootstrap puts into its desired state (empty without one)."""
    found = plan(spec)
    return list(found.objects) if found else []
