"""Converge: server-side apply of the desired objects in dependency order, then prune.

Apply: every object, sorted by ``wire.manifests.object_key`` (Namespaces and CRDs first), with
``force`` (the agent's field manager owns what it sends). An object the API refuses does not stop
the others: the converge applies the rest, prunes, then fails with the first refusal (naming how
many more there were), and the next converge tries again. After the last CRD of a converge, the
objects that follow wait (bounded) for the CRDs to be Established, so custom resources of a CRD
applied in the same converge are not refused.

Prune: for every kind the agent manages — the kinds in the desired set, a fixed list of kinds
it may have applied before, and every kind it applied in an earlier converge of this process —
list the objects labelled ``app.kubernetes.io/managed-by=ironplane`` and delete those that are
not desired, in reverse dependency order (workloads before their namespace). Objects a
controller made (a controller ownerReference: the Jobs of a CronJob carry its labels) and
objects already being deleted are left alone. An object is the same object across versions of
its API group: identity is (group, kind, namespace, name).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ironplane.agent.kube.client import KubeApi, ResourceType
from ironplane.agent.kube.errors import (
    HTTPError,
    KubeRuntimeError,
    describe,
    message,
    runtime_error,
    status_code,
)
from ironplane.agent.runtime import MANAGED_BY, MANAGER, RuntimeError_
from ironplane.wire.agent_protocol import Object
from ironplane.wire.manifests import object_key

log = logging.getLogger(__name__)

OWNED: Mapping[str, str] = {MANAGED_BY: MANAGER}

PRUNED_KINDS: tuple[ResourceType, ...] = tuple(
    ResourceType.of(api_version, kind)
    for api_version, kind in (
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("v1", "PersistentVolumeClaim"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        # The add-ons' kinds the compiler emits. A kind whose CRD is not served answers 404 and
        # is skipped.
        ("argoproj.io/v1alpha1", "Rollout"),
        ("argoproj.io/v1alpha1", "AnalysisTemplate"),
        ("argoproj.io/v1alpha1", "WorkflowTemplate"),
        ("argoproj.io/v1alpha1", "CronWorkflow"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("networking.istio.io/v1", "VirtualService"),
        ("networking.istio.io/v1", "DestinationRule"),
        ("networking.istio.io/v1", "Gateway"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("kueue.x-k8s.io/v1beta2", "LocalQueue"),
        ("kubeflow.org/v2beta1", "MPIJob"),
        ("kubeflow.org/v1", "PyTorchJob"),
        ("trainer.kubeflow.org/v1alpha1", "TrainingRuntime"),
        ("trainer.kubeflow.org/v1alpha1", "TrainJob"),
        ("ray.io/v1", "RayJob"),
        # Cluster-wide objects of the OCI profile: listed even after a restart (when nothing
        # desired names them any more), so that removing them from the profile removes them.
        ("kueue.x-k8s.io/v1beta2", "Topology"),
        ("kueue.x-k8s.io/v1beta2", "ResourceFlavor"),
        ("kueue.x-k8s.io/v1beta2", "ClusterQueue"),
        ("kyverno.io/v1", "ClusterPolicy"),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
        # The cluster bootstrap: the root Argo CD Application and the binding of the Argo CD
        # installer's ServiceAccount.
        ("argoproj.io/v1alpha1", "Application"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    )
)
"""Kinds always listed for pruning, whether or not the desired set has any: every kind the
compiler emits (a test compiles every form and checks), so that an agent restarted after the
last object of a kind left the desired state still removes it."""

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
VIRTUAL_SERVICE = ("networking.istio.io", "VirtualService")
Identity = tuple[str, str, str, str]


def identity(rt: ResourceType, obj: Mapping[str, Any]) -> Identity:
    meta = obj.get("metadata") or {}
    return rt.group, rt.kind, str(meta.get("namespace") or ""), str(meta.get("name", ""))


def _failed(failures: Sequence[KubeRuntimeError]) -> KubeRuntimeError:
    """The first refusal (its status and reason kept), naming how many others there were."""
    first = failures[0]
    if len(failures) == 1:
        return first
    others = ", ".join(f.target for f in failures[1:4]) + (", ..." if len(failures) > 4 else "")
    return KubeRuntimeError(
        f"{first} (and {len(failures) - 1} more refused: {others})",
        target=first.target,
        status=first.status,
        reason=first.reason,
    )


def _check(obj: Mapping[str, Any]) -> None:
    meta = obj.get("metadata")
    if not (obj.get("apiVersion") and obj.get("kind") and isinstance(meta, Mapping)):
        raise RuntimeError_(f"cannot apply {describe(obj)}: apiVersion, kind and metadata needed")
    if not meta.get("name"):
        raise RuntimeError_(f"cannot apply {describe(obj)}: metadata.name is empty")
    if ResourceType.of_object(obj).namespaced and not meta.get("namespace"):
        # Never the client's default namespace by accident (nor a prune of what was applied).
        raise RuntimeError_(f"cannot apply {describe(obj)}: metadata.namespace is empty")


def _destinations(route: Mapping[str, Any]) -> list[str]:
    return [json.dumps(d.get("destination"), sort_keys=True) for d in route.get("route") or []]


def with_live_weights(obj: Object, live: Mapping[str, Any]) -> Object:
    """A copy of the VirtualService ``obj`` whose http routes take the weights of the live
    route of the same name when both send to the same destinations in the same order."""
    live_routes = {
        r.get("name"): r for r in (live.get("spec") or {}).get("http") or [] if r.get("name")
    }
    out = copy.deepcopy(obj)
    for route in (out.get("spec") or {}).get("http") or []:
        current = live_routes.get(route.get("name"))
        if current is None or _destinations(current) != _destinations(route):
            continue
        for mine, theirs in zip(route.get("route") or [], current.get("route") or [], strict=True):
            if "weight" in theirs:
                mine["weight"] = theirs["weight"]
    return out


def _controlled(obj: Mapping[str, Any]) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(ref, Mapping) and ref.get("controller") for ref in refs)


def _established(crd: Mapping[str, Any] | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class Converger:
    """Applies and prunes; remembers the kinds it applied so that it prunes them later."""

    def __init__(self, api: KubeApi, *, establish_timeout_s: float = 30.0) -> None:
        self.api = api
        self.establish_timeout_s = establish_timeout_s
        self.applied_kinds: dict[tuple[str, str], ResourceType] = {}
        self._unlistable: set[tuple[str, str]] = set()
        self._lock = asyncio.Lock()

    async def converge(self, objects: Sequence[Object]) -> None:
        async with self._lock:
            for obj in objects:
                _check(obj)
            desired = sorted(objects, key=object_key)
            failures = await self._apply_all(desired)
            await self._prune(desired)
        if failures:
            raise _failed(failures)

    async def _apply_all(self, desired: Sequence[Object]) -> list[KubeRuntimeError]:
        """Apply every object; one the API refuses does not stop the others (one app's bad
        object must not hold back the rest of the cluster): the refusals are returned."""
        failures: list[KubeRuntimeError] = []
        pending_crds: list[Object] = []
        for obj in desired:
            rt = ResourceType.of_object(obj)
            if pending_crds and rt.group_kind != CRD:
                await self._wait_established(pending_crds)
                pending_crds = []
            self.applied_kinds[rt.group_kind] = rt
            try:
                if rt.group_kind == VIRTUAL_SERVICE:
                    obj = await self._keep_traffic_weights(rt, obj)
                await self.api.apply(obj)
            except HTTPError as exc:
                failures.append(runtime_error("apply", obj, exc))
                continue
            if rt.group_kind == CRD:
                pending_crds.append(obj)
        return failures

    async def _keep_traffic_weights(self, rt: ResourceType, obj: Object) -> Object:
        """``obj`` with the route weights the live VirtualService has, where its routes send
        to the same destinations: Argo Rollouts moves them during a canary, and a re-apply
        (any change in the cluster converges every object) must not reset them to the compiled
        100/0. Routes whose destinations changed take the compiled weights."""
        meta = obj["metadata"]
        live = await self.api.get(rt, str(meta["name"]), meta.get("namespace"))
        return with_live_weights(obj, live) if live is not None else obj

    async def _wait_established(self, crds: Iterable[Object]) -> None:
        rt = ResourceType.of("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.establish_timeout_s
        for crd in crds:
            name = str(crd["metadata"]["name"])
            while True:
                try:
                    if _established(await self.api.get(rt, name)):
                        break
                except HTTPError as exc:
                    log.warning("cannot read CRD %s: %s", name, message(exc))
                if loop.time() >= deadline:
                    log.warning("CRD %s is not Established yet; applying what follows", name)
                    return
                await asyncio.sleep(0.2)

    def managed_kinds(self, desired: Iterable[Object]) -> list[ResourceType]:
        kinds = {rt.group_kind: rt for rt in PRUNED_KINDS}
        kinds.update(self.applied_kinds)
        kinds.update((rt.group_kind, rt) for rt in map(ResourceType.of_object, desired))
        return list(kinds.values())

    async def _prune(self, desired: Sequence[Object]) -> None:
        keep = {identity(ResourceType.of_object(obj), obj) for obj in desired}
        wanted = {key[:2] for key in keep}  # (group, kind): the desired kinds
        doomed: list[tuple[ResourceType, Object]] = []
        for rt in self.managed_kinds(desired):
            try:
                items, _ = await self.api.list_objects(rt, labels=OWNED)
            except HTTPError as exc:
                if status_code(exc) == 404:  # the kind is not served (its CRD is gone)
                    continue
                if status_code(exc) == 403 and rt.group_kind not in wanted:
                    # Not in the agent's role (e.g. the opt-in bootstrap kinds): the agent could
                    # not have created any, so there is nothing of it to prune.
                    if rt.group_kind not in self._unlistable:
                        self._unlistable.add(rt.group_kind)
                        log.info("not pruning %s: the agent's role may not list it", rt.kind)
                    continue
                raise KubeRuntimeError(
                    f"cannot list {rt.kind} ({rt.api_version}) to prune it: {message(exc)}",
                    target=rt.kind,
                    status=status_code(exc),
                ) from exc
            for item in items:
                if (item.get("metadata") or {}).get("deletionTimestamp") or _controlled(item):
                    continue
                if identity(rt, item) not in keep:
                    doomed.append((rt, item))
        doomed.sort(key=lambda pair: object_key(pair[1]), reverse=True)
        for rt, obj in doomed:
            meta = obj["metadata"]
            try:
                await self.api.delete(rt, meta["name"], meta.get("namespace"))
            except HTTPError as exc:
                raise runtime_error("delete", obj, exc) from exc
            log.info("pruned %s", describe(obj))
