"""The agent's view of the Kubernetes API: plain dicts in and out, for any apiVersion and kind.

lightkube does the transport (configuration, authentication, TLS, Status errors, watch
streams); every resource, built-in or custom, is addressed through a *generic* lightkube
resource class built here from (group, version, kind, plural, scope), so objects travel as the
JSON the compiler produced — never through lightkube's typed models, which would drop fields
they do not know.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lightkube import ALL_NS, AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.resource import ApiInfo
from lightkube.generic_resource import (
    GenericGlobalResource,
    GenericGlobalStatus,
    GenericNamespacedResource,
    GenericNamespacedStatus,
    create_api_info,
)
from lightkube.operators import BinaryOperator, SequenceOperator
from lightkube.types import CascadeType, PatchType

from ironplane.agent.kube.errors import is_not_found
from ironplane.wire.agent_protocol import Object

Fields = Mapping[str, str | BinaryOperator | SequenceOperator]
"""A field selector, as lightkube takes it: ``{"spec.nodeName": not_equal("")}``."""
Transform = Callable[[Object], Object | None]
"""What is kept of an object (None: nothing)."""

# (group, kind) -> (plural, namespaced) for what the agent handles; other kinds get the
# conventional plural and the scope their object says (a namespace or none).
KNOWN: Mapping[tuple[str, str], tuple[str, bool]] = {
    ("", "Namespace"): ("namespaces", False),
    ("", "Node"): ("nodes", False),
    ("", "PersistentVolume"): ("persistentvolumes", False),
    ("", "Pod"): ("pods", True),
    ("", "Service"): ("services", True),
    ("", "ServiceAccount"): ("serviceaccounts", True),
    ("", "Secret"): ("secrets", True),
    ("", "ConfigMap"): ("configmaps", True),
    ("", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("", "Endpoints"): ("endpoints", True),
    ("", "LimitRange"): ("limitranges", True),
    ("", "ResourceQuota"): ("resourcequotas", True),
    ("apps", "Deployment"): ("deployments", True),
    ("apps", "StatefulSet"): ("statefulsets", True),
    ("apps", "DaemonSet"): ("daemonsets", True),
    ("apps", "ReplicaSet"): ("replicasets", True),
    ("batch", "Job"): ("jobs", True),
    ("batch", "CronJob"): ("cronjobs", True),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): ("customresourcedefinitions", False),
    ("rbac.authorization.k8s.io", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("scheduling.k8s.io", "PriorityClass"): ("priorityclasses", False),
    ("storage.k8s.io", "StorageClass"): ("storageclasses", False),
    ("networking.k8s.io", "NetworkPolicy"): ("networkpolicies", True),
    ("networking.k8s.io", "Ingress"): ("ingresses", True),
    ("policy", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("autoscaling", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
    ("argoproj.io", "Rollout"): ("rollouts", True),
    ("argoproj.io", "AnalysisRun"): ("analysisruns", True),
    ("argoproj.io", "AnalysisTemplate"): ("analysistemplates", True),
    ("argoproj.io", "Workflow"): ("workflows", True),
    ("argoproj.io", "WorkflowTemplate"): ("workflowtemplates", True),
    ("argoproj.io", "CronWorkflow"): ("cronworkflows", True),
    ("keda.sh", "ScaledObject"): ("scaledobjects", True),
    ("keda.sh", "ScaledJob"): ("scaledjobs", True),
    ("keda.sh", "TriggerAuthentication"): ("triggerauthentications", True),
    ("keda.sh", "ClusterTriggerAuthentication"): ("clustertriggerauthentications", False),
    ("kueue.x-k8s.io", "Workload"): ("workloads", True),
    ("kueue.x-k8s.io", "LocalQueue"): ("localqueues", True),
    ("kueue.x-k8s.io", "ClusterQueue"): ("clusterqueues", False),
    ("kueue.x-k8s.io", "ResourceFlavor"): ("resourceflavors", False),
    ("kueue.x-k8s.io", "WorkloadPriorityClass"): ("workloadpriorityclasses", False),
    ("kueue.x-k8s.io", "Topology"): ("topologies", False),
    ("trainer.kubeflow.org", "TrainJob"): ("trainjobs", True),
    ("trainer.kubeflow.org", "TrainingRuntime"): ("trainingruntimes", True),
    ("kyverno.io", "ClusterPolicy"): ("clusterpolicies", False),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): (
        "validatingadmissionpolicies",
        False,
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): (
        "validatingadmissionpolicybindings",
        False,
    ),
    ("kubeflow.org", "MPIJob"): ("mpijobs", True),
    ("kubeflow.org", "PyTorchJob"): ("pytorchjobs", True),
    ("ray.io", "RayJob"): ("rayjobs", True),
    ("ray.io", "RayCluster"): ("rayclusters", True),
    ("ray.io", "RayService"): ("rayservices", True),
}


def plural_of(kind: str) -> str:
    """The conventional plural (what CRD generators produce): lowercase, English ``s``/``es``/
    ``ies``."""
    word = kind.lower()
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


@dataclass(frozen=True)
class ResourceType:
    """Where the API serves one kind: ``/apis/{group}/{version}[/namespaces/{ns}]/{plural}``."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def of(cls, api_version: str, kind: str, *, namespaced: bool | None = None) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        known = KNOWN.get((group, kind))
        if known:
            return cls(group, version, kind, known[0], known[1])
        return cls(group, version, kind, plural_of(kind), bool(namespaced))

    @classmethod
    def of_object(cls, obj: Mapping[str, Any]) -> ResourceType:
        namespace = (obj.get("metadata") or {}).get("namespace")
        return cls.of(
            str(obj.get("apiVersion", "")), str(obj.get("kind", "")), namespaced=bool(namespace)
        )

    @property
    def group_kind(self) -> tuple[str, str]:
        return self.group, self.kind


@functools.cache
def _lightkube_class(rt: ResourceType) -> Any:
    """A lightkube generic resource class for ``rt``, not registered in lightkube's registry (so
    built-in kinds, too, stay plain dicts and never meet lightkube's typed models)."""
    base = GenericNamespacedResource if rt.namespaced else GenericGlobalResource
    info = create_api_info(rt.group, rt.version, rt.kind, rt.plural)
    return type(rt.kind, (base,), {"_api_info": info})


@functools.cache
def _lightkube_status_class(rt: ResourceType) -> Any:
    """The ``/status`` subresource of ``rt``, as lightkube addresses subresources."""
    parent = _lightkube_class(rt)._api_info
    base = GenericNamespacedStatus if rt.namespaced else GenericGlobalStatus
    info = ApiInfo(
        resource=parent.resource,
        parent=parent.resource,
        plural=parent.plural,
        verbs=["get", "patch", "put"],
        action="status",
    )
    return type(f"{rt.kind}Status", (base,), {"_api_info": info})


def make_client(
    *,
    base_url: str | None = None,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    trust_env: bool = True,
) -> AsyncClient:
    """A lightkube client: ``base_url`` (plain HTTP, no credentials: tests), a kubeconfig file,
    else lightkube's discovery (in-cluster service account, ``KUBECONFIG``, ``~/.kube/config``)."""
    if base_url is not None:
        # An explicit, empty user: some lightkube versions insist on one.
        config = KubeConfig.from_one(cluster=Cluster(server=base_url), user=User())
        return AsyncClient(config, trust_env=False)
    if kubeconfig is not None:
        config = KubeConfig.from_file(kubeconfig)
        return AsyncClient(config.get(context) if context else config, trust_env=trust_env)
    return AsyncClient(trust_env=trust_env)


def _plain(obj: Any, rt: ResourceType) -> Object:
    """A plain dict, with the apiVersion and kind that list items of built-in types lack."""
    out = dict(obj)
    out.setdefault("apiVersion", rt.api_version)
    out.setdefault("kind", rt.kind)
    return out


class KubeApi:
    """The few API calls the runtime makes, on plain dicts."""

    def __init__(self, client: AsyncClient, field_manager: str) -> None:
        self.client = client
        self.field_manager = field_manager

    async def apply(self, obj: Object, *, force: bool = True) -> Object:
        """Server-side apply (create or update what this field manager owns)."""
        rt = ResourceType.of_object(obj)
        meta = obj.get("metadata") or {}
        res = _lightkube_class(rt)
        kwargs: dict[str, Any] = {"namespace": meta.get("namespace")} if rt.namespaced else {}
        result = await self.client.patch(
            res,
            str(meta.get("name", "")),
            obj,
            patch_type=PatchType.APPLY,
            field_manager=self.field_manager,
            force=force,
            **kwargs,
        )
        return _plain(result, rt)

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> Object | None:
        """The object, or None when it does not exist."""
        kwargs: dict[str, Any] = {"namespace": namespace} if rt.namespaced else {}
        try:
            result = await self.client.get(_lightkube_class(rt), name, **kwargs)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return _plain(result, rt)

    async def list_objects(
        self,
        rt: ResourceType,
        *,
        labels: Mapping[str, str] | None = None,
        namespace: str | None = None,
        fields: Fields | None = None,
        chunk_size: int | None = None,
        transform: Transform | None = None,
    ) -> tuple[list[Object], str]:
        """Every object of ``rt`` (in every namespace unless ``namespace``) matching ``labels``
        (each key equal to its value) and ``fields`` (a field selector: a value, or lightkube's
        ``operators.not_equal`` / ``not_in``), and the list's resourceVersion.

        ``chunk_size``: list in pages of that many objects (``limit`` and ``continue``), so that
        one answer never holds the whole collection. ``transform``: applied to each object as
        its page arrives, None dropping it, so only what it returns is kept."""
        kwargs: dict[str, Any] = {}
        if rt.namespaced:
            kwargs["namespace"] = namespace or ALL_NS
        if labels:
            kwargs["labels"] = dict(labels)
        if fields:
            kwargs["fields"] = dict(fields)
        if chunk_size:
            kwargs["chunk_size"] = chunk_size
        listing = self.client.list(_lightkube_class(rt), **kwargs)
        items: list[Object] = []
        async for item in listing:
            obj = _plain(item, rt)
            kept = obj if transform is None else transform(obj)
            if kept is not None:
                items.append(kept)
        try:
            version = str(listing.resourceVersion)
        except Exception:  # an empty answer without metadata: nothing to resume from
            version = ""
        return items, version

    async def watch(
        self,
        rt: ResourceType,
        *,
        labels: Mapping[str, str] | None = None,
        fields: Fields | None = None,
        resource_version: str | None = None,
    ) -> AsyncIterator[tuple[str, Object]]:
        """(type, object) events from ``resource_version`` on, of the objects matching
        ``labels`` and ``fields`` (as ``list_objects``: an object that stops matching comes as
        DELETED); raises on any error, 410 Gone included (the caller lists again)."""
        kwargs: dict[str, Any] = {"namespace": ALL_NS} if rt.namespaced else {}
        if labels:
            kwargs["labels"] = dict(labels)
        if fields:
            kwargs["fields"] = dict(fields)
        stream = self.client.watch(
            _lightkube_class(rt), resource_version=resource_version or None, **kwargs
        )
        async with aclosing(cast(AsyncGenerator[tuple[str, Any], None], stream)) as events:
            async for event_type, obj in events:
                yield str(event_type), _plain(obj, rt)

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None) -> bool:
        """Delete in the background (dependents too); False when it was already gone."""
        kwargs: dict[str, Any] = {"namespace": namespace} if rt.namespaced else {}
        try:
            await self.client.delete(
                _lightkube_class(rt), name, cascade=CascadeType.BACKGROUND, **kwargs
            )
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    async def create(self, obj: Object, *, field_manager: str) -> Object:
        """Create the object (POST); the API answers 409 AlreadyExists when it exists."""
        rt = ResourceType.of_object(obj)
        meta = obj.get("metadata") or {}
        kwargs: dict[str, Any] = {"namespace": meta.get("namespace")} if rt.namespaced else {}
        result = await self.client.create(
            _lightkube_class(rt)(obj), field_manager=field_manager, **kwargs
        )
        return _plain(result, rt)

    async def merge_patch(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        patch: Object,
        *,
        field_manager: str,
        status: bool = False,
    ) -> Object:
        """A JSON merge patch (``null`` removes a field); ``status``: of the ``/status``
        subresource, the only way to change the status of a kind that has one."""
        kwargs: dict[str, Any] = {"namespace": namespace} if rt.namespaced else {}
        result = await self.client.patch(
            _lightkube_status_class(rt) if status else _lightkube_class(rt),
            name,
            patch,
            patch_type=PatchType.MERGE,
            field_manager=field_manager,
            **kwargs,
        )
        return _plain(result, rt)

    async def log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None,
        tail_lines: int,
        timestamps: bool = False,
    ) -> list[str]:
        """The last ``tail_lines`` lines of one container's log."""
        lines = self.client.log(
            pod,
            namespace=namespace,
            container=container,
            tail_lines=tail_lines,
            timestamps=timestamps,
            newlines=False,
        )
        return [line async for line in lines]

    async def close(self) -> None:
        await self.client.close()
