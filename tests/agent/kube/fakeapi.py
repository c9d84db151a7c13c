"""A FAKE Kubernetes API server, for tests only.

No real Kubernetes API server can be installed where these tests run, so the Kubernetes runtime
(``ironplane.agent.kube``) is tested against this fake: a Starlette app served by uvicorn on
127.0.0.1 (a free port) in the test's own event loop, which the real lightkube client talks to
over HTTP. It implements only what the agent relies on, modelled on the real server's behaviour:

* paths ``/api/v1/...`` and ``/apis/{group}/{version}/...`` for any group and version,
  namespaced (``.../namespaces/{ns}/{plural}[/{name}]``) and cluster-scoped; a small table of
  built-in resources (kind, scope, irregular plurals), CRDs registered when a
  CustomResourceDefinition is applied, and any other plural accepted (kind from the body,
  scope from the path, plural = lowercase kind + "s");
* server-side apply (``PATCH`` with ``application/apply-patch+yaml``, ``fieldManager``,
  ``force``): create or merge, ownership per manager (see ``fakessa``: a field a manager stops
  sending is removed when nobody else owns it; 409 on conflicts unless forced), ``status``
  ignored (a subresource), a no-op apply keeps the resourceVersion, ``generation`` bumped on
  changes outside metadata, ``managedFields`` rendered as FieldsV1;
* merge patches (``application/merge-patch+json``; strategic merge patches are treated as merge
  patches) as operation Update;
* merge patches of the ``/status`` subresource (``PATCH .../{name}/status``): only ``status``
  changes (``null`` removes a field), the resourceVersion moves, the generation does not; 404
  for a CRD registered without ``subresources.status``, as from the real server; status fields
  are not tracked in ``managedFields``;
* POST (create) on a collection: 201 with the stored object, 409 AlreadyExists when the name is
  taken, ``metadata.generateName`` (a random 5-character suffix) when no name is given, 422 when
  neither is; ``status`` in the body ignored (as for kinds with a status subresource); the
  creator recorded as an Update manager;
* GET, LIST (in pages with ``limit`` and ``continue``, a snapshot of the first page; an
  unknown token is 410 Expired; ``labelSelector``: ``k=v``, ``k!=v``, ``k``, ``!k``, ``in``, ``notin``;
  ``fieldSelector``: ``f=v``, ``f==v``, ``f!=v``, comma-joined, on metadata.name and
  metadata.namespace, and for pods the string fields the real server selects on, among them
  ``spec.nodeName`` and ``status.phase`` (an absent field is ``""``, so ``spec.nodeName!=``
  selects the scheduled pods); any other field is a 400) with the list's ``resourceVersion``;
  items of built-in groups carry no apiVersion/kind, as from the real server;
* WATCH (``watch=true``, ``resourceVersion``, ``timeoutSeconds``, both selectors): JSON lines
  ADDED / MODIFIED / DELETED (objects entering or leaving a selector appear as ADDED / DELETED,
  as a pod that finishes leaves a ``status.phase!=Succeeded`` watch), replayed from a
  bounded history (``history_window`` events); a resourceVersion older than the history is
  answered like the real server: HTTP 200 and an ERROR event holding a 410 Expired Status;
* DELETE (404 when absent); deleting a Namespace deletes what it holds, deleting an object
  deletes the objects whose ownerReferences name it (unless propagationPolicy=Orphan), both
  at once (the real server does it asynchronously, with finalizers and Terminating);
* pod logs at ``/api/v1/namespaces/{ns}/pods/{name}/log`` (``container``, ``tailLines``,
  ``timestamps``), 400 when a multi-container pod's container is not named;
* Status bodies for every error (400, 404, 405, 409, 410, 415, 422 ...), a global monotonic
  resourceVersion, ``uid``, ``creationTimestamp``, ``generation``.

It does not implement: authentication or authorization (RBAC is never checked), discovery,
admission, validation beyond names and versions, defaulting, PUT, JSON patch, list paging,
bookmarks, version conversion (every version of a group sees the same objects), controllers
(nothing creates pods or fills in status: tests do, through the hooks), finalizers.

Kinds not served: ``unserve(group, plural)`` answers every request for that resource like a
real server without its CRD (a 404 Status), ``unserve(group)`` like one without the whole API
group (a plain-text ``404 page not found``); ``reinstate`` undoes it (the CRD was installed).

Test hooks (plain methods, called from the test's event loop): ``put``, ``set_status``,
``remove``, ``get``, ``add_node``, ``add_pod``, ``set_logs``, ``fail_next``, ``unserve``,
``reinstate``, ``disconnect_watches``, ``compact``, the ``calls`` log (each with the request body of
writes) and ``applied()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import json
import random
import socket
import string
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.agent.kube import fakessa as ssa

Object = dict[str, Any]

# (group, plural) -> (kind, namespaced): built-ins and the few CRDs tests use without their CRD.
RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("", "namespaces"): ("Namespace", False),
    ("", "nodes"): ("Node", False),
    ("", "persistentvolumes"): ("PersistentVolume", False),
    ("", "pods"): ("Pod", True),
    ("", "services"): ("Service", True),
    ("", "serviceaccounts"): ("ServiceAccount", True),
    ("", "secrets"): ("Secret", True),
    ("", "configmaps"): ("ConfigMap", True),
    ("", "persistentvolumeclaims"): ("PersistentVolumeClaim", True),
    ("", "endpoints"): ("Endpoints", True),
    ("", "events"): ("Event", True),
    ("apps", "deployments"): ("Deployment", True),
    ("apps", "statefulsets"): ("StatefulSet", True),
    ("apps", "daemonsets"): ("DaemonSet", True),
    ("apps", "replicasets"): ("ReplicaSet", True),
    ("batch", "jobs"): ("Job", True),
    ("batch", "cronjobs"): ("CronJob", True),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("CustomResourceDefinition", False),
    ("rbac.authorization.k8s.io", "roles"): ("Role", True),
    ("rbac.authorization.k8s.io", "rolebindings"): ("RoleBinding", True),
    ("rbac.authorization.k8s.io", "clusterroles"): ("ClusterRole", False),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): ("ClusterRoleBinding", False),
    ("scheduling.k8s.io", "priorityclasses"): ("PriorityClass", False),
    ("storage.k8s.io", "storageclasses"): ("StorageClass", False),
    ("networking.k8s.io", "networkpolicies"): ("NetworkPolicy", True),
    ("networking.k8s.io", "ingresses"): ("Ingress", True),
    ("policy", "poddisruptionbudgets"): ("PodDisruptionBudget", True),
    ("autoscaling", "horizontalpodautoscalers"): ("HorizontalPodAutoscaler", True),
    ("argoproj.io", "rollouts"): ("Rollout", True),
    ("argoproj.io", "analysisruns"): ("AnalysisRun", True),
    ("argoproj.io", "analysistemplates"): ("AnalysisTemplate", True),
    ("argoproj.io", "workflows"): ("Workflow", True),
    ("argoproj.io", "workflowtemplates"): ("WorkflowTemplate", True),
    ("argoproj.io", "cronworkflows"): ("CronWorkflow", True),
    ("keda.sh", "scaledobjects"): ("ScaledObject", True),
    ("kueue.x-k8s.io", "clusterqueues"): ("ClusterQueue", False),
    ("kueue.x-k8s.io", "resourceflavors"): ("ResourceFlavor", False),
}
# Groups whose list items the real server sends without apiVersion/kind (typed lists).
BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "apiextensions.k8s.io",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "networking.k8s.io",
    "policy",
    "autoscaling",
}
# (group, plural) -> the fields a fieldSelector may name besides metadata.name and
# metadata.namespace: the string fields of the real server's pkg/registry/core/pod
# PodToSelectableFields (spec.hostNetwork and status.podIPs left out).
SELECTABLE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
}
FieldRequirement = tuple[str, bool, str]
"""(field, equal: ``=``/``==`` True, ``!=`` False, value)."""
_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Fail(Exception):
    def __init__(self, code: int, message: str, reason: str | None = None, **details: Any):
        super().__init__(message)
        self.code, self.message = code, message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details


def status_body(code: int, message: str, reason: str | None = None, **details: Any) -> Object:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "details": details,
        "code": code,
    }


@dataclass(frozen=True)
class Target:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass(frozen=True)
class Call:
    """One request the fake answered (``verb``: apply, patch, create, get, list, watch, delete,
    log, or ``<method>-<subresource>`` such as patch-status); ``body``: what a write sent."""

    verb: str
    group: str
    plural: str
    namespace: str | None
    name: str | None
    kind: str | None
    code: int
    query: Mapping[str, str]
    body: Any = None


@dataclass
class Change:
    rv: int
    type: str
    group: str
    plural: str
    namespace: str
    old: Object | None
    new: Object


def parse_fields(text: str | None, group: str, plural: str) -> list[FieldRequirement]:
    """A fieldSelector's requirements, as the real server parses them: comma-joined terms, each
    ``field!=value``, ``field==value`` or ``field=value`` (the value may be empty); 400 for a
    term without an operator or a field the resource cannot be selected on."""
    known = ("metadata.name", "metadata.namespace", *SELECTABLE_FIELDS.get((group, plural), ()))
    reqs: list[FieldRequirement] = []
    for term in filter(None, (text or "").split(",")):
        op = next((op for op in ("!=", "==", "=") if op in term), None)
        if op is None:
            raise Fail(400, f"invalid selector: '{text}'; can't understand '{term}'")
        name, _, value = term.partition(op)
        if name not in known:
            raise Fail(400, f'field label not supported: "{name}"')
        reqs.append((name, op != "!=", value))
    return reqs


def field_value(obj: Object, name: str) -> str:
    """The value a field selector compares: the field as a string, ``""`` when absent."""
    value: Any = obj
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def fields_match(reqs: list[FieldRequirement], obj: Object) -> bool:
    return all((field_value(obj, name) == value) == equal for name, equal, value in reqs)


@dataclass(eq=False)
class Watcher:
    group: str
    plural: str
    namespace: str | None
    selector: list[tuple[str, str, set[str]]]
    fields: list[FieldRequirement] = field(default_factory=list)
    queue: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)

    def view(self, change: Change) -> tuple[str, Object] | None:
        """The event this watcher sees for ``change``, if any."""
        if (change.group, change.plural) != (self.group, self.plural):
            return None
        if self.namespace is not None and change.namespace != self.namespace:
            return None
        now_in = self.matches(change.new)
        if change.type != "MODIFIED":
            return (change.type, change.new) if now_in else None
        was_in = change.old is not None and self.matches(change.old)
        if was_in and now_in:
            return "MODIFIED", change.new
        if now_in:
            return "ADDED", change.new
        return ("DELETED", change.new) if was_in else None

    def matches(self, obj: Object) -> bool:
        labels = obj["metadata"].get("labels") or {}
        return ssa.selector_matches(self.selector, labels) and fields_match(self.fields, obj)


@dataclass
class Failure:
    verb: str
    kind: str | None
    name: str | None
    namespace: str | None
    code: int
    reason: str | None
    message: str | None
    times: int


@dataclass
class Stored:
    obj: Object
    managers: ssa.Managers = field(default_factory=dict)
    times: dict[ssa.Owner, str] = field(default_factory=dict)


Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name


class FakeKube:
    """The fake API server's state, its HTTP app and its test hooks (see the module docstring)."""

    def __init__(self, *, history_window: int = 1000, require_namespaces: bool = True) -> None:
        self.history_window = history_window
        """How many change events a watch can resume from; older resourceVersions get 410."""
        self.require_namespaces = require_namespaces
        self.calls: list[Call] = []
        self.url = ""
        self._rv = 100
        self._objects: dict[Key, Stored] = {}
        self._crds: dict[tuple[str, str], tuple[str, bool]] = {}
        self._no_status: set[tuple[str, str]] = set()  # CRDs without a status subresource
        self._unserved: set[tuple[str, str | None]] = set()
        self._history: deque[Change] = deque()
        self._pages: dict[str, tuple[tuple[str, str, str | None], int, list[Object]]] = {}
        """The rest of paged lists, by continue token: (resource, resourceVersion, objects)."""
        self._pages_made = 0
        self._compacted = 0
        self._watchers: set[Watcher] = set()
        self._failures: list[Failure] = []
        self._logs: dict[tuple[str, str, str | None], list[tuple[str, str]]] = {}
        self._log_clock = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}", self._handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                )
            ]
        )

    # --- serving ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[FakeKube]:
        """Serve on 127.0.0.1 (a free port) in the running event loop; ``self.url`` is set."""
        server = FakeServer()
        async with server.running():
            server.use(self)
            yield self

    # --- test hooks ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def put(self, obj: Object) -> Object:
        """Create or replace a whole object (status included), as a controller would."""
        group, _ = _split_api_version(obj["apiVersion"])
        plural = self._plural_of(group, obj["kind"])
        meta = obj["metadata"]
        key = (
            group,
            plural,
            meta.get("namespace", "") if self._namespaced(group, plural, meta) else "",
            meta["name"],
        )
        old = self._objects.get(key)
        new = copy.deepcopy(obj)
        new_meta = new["metadata"]
        if old:
            for k in ("uid", "creationTimestamp", "generation"):
                new_meta.setdefault(k, old.obj["metadata"].get(k))
        else:
            new_meta.setdefault("uid", str(uuid.uuid4()))
            new_meta.setdefault("creationTimestamp", now())
            new_meta.setdefault("generation", 1)
        return self._write(key, new, old.managers if old else {}, old.times if old else {})

    def set_status(self, kind: str, namespace: str | None, name: str, status: Object) -> Object:
        """Replace an object's ``status`` (what its controller would report)."""
        key = self._key_of_kind(kind, namespace, name)
        stored = self._objects[key]
        obj = copy.deepcopy(stored.obj)
        obj["status"] = copy.deepcopy(status)
        return self._write(key, obj, stored.managers, stored.times)

    def remove(self, kind: str, namespace: str | None, name: str) -> None:
        self._delete(self._key_of_kind(kind, namespace, name), "Background")

    def get(self, kind: str, namespace: str | None, name: str) -> Object | None:
        key = self._key_of_kind(kind, namespace, name)
        stored = self._objects.get(key)
        return copy.deepcopy(stored.obj) if stored else None

    def add_node(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        gpus: int = 0,
        gpu_resource: str = "nvidia.com/gpu",
        ready: bool = True,
    ) -> Object:
        allocatable = {"cpu": "128", "memory": "2Ti", "pods": "110"}
        if gpus:
            allocatable[gpu_resource] = str(gpus)
        return self.put(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": dict(labels or {})},
                "status": {
                    "allocatable": allocatable,
                    "capacity": dict(allocatable),
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                },
            }
        )

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str],
        containers: Iterable[str] = ("main",),
        phase: str = "Running",
        ready: bool = True,
        restarts: int = 0,
        waiting: tuple[str, str] | None = None,
        owner: Object | None = None,
    ) -> Object:
        """A pod with one status per container; ``waiting`` is (reason, message) for all."""
        names = list(containers)
        statuses = []
        for container in names:
            state: Object = {"running": {"startedAt": now()}}
            if waiting:
                state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
            statuses.append(
                {
                    "name": container,
                    "ready": ready and not waiting,
                    "restartCount": restarts,
                    "state": state,
                    "image": f"example/{container}:1",
                }
            )
        meta: Object = {"name": name, "namespace": namespace, "labels": dict(labels)}
        if owner:
            meta["ownerReferences"] = [_owner_ref(owner)]
        return self.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": {"containers": [{"name": c, "image": f"example/{c}:1"} for c in names]},
                "status": {"phase": phase, "containerStatuses": statuses},
            }
        )

    def set_logs(
        self, namespace: str, pod: str, text: str, *, container: str | None = None
    ) -> None:
        """The pod's log (every container's unless ``container``); each line gets a timestamp
        1 ms after the previous line set on this fake, so logs of several pods interleave."""
        lines = []
        for line in text.splitlines():
            self._log_clock += dt.timedelta(milliseconds=1)
            stamp = self._log_clock.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
            lines.append((stamp, line))
        self._logs[(namespace, pod, container)] = lines

    def fail_next(
        self,
        verb: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        code: int = 422,
        reason: str | None = None,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests (verb: apply, patch, get, list, watch,
        delete, log; kind: the kind or the plural) with a ``code`` Status."""
        self._failures.append(Failure(verb, kind, name, namespace, code, reason, message, times))

    def disconnect_watches(self) -> None:
        """Close every open watch now: changes made before the client reconnects are only in
        the history (and lost to it once ``history_window`` is exceeded, or after ``compact``)."""
        for watcher in list(self._watchers):
            self._watchers.discard(watcher)
            watcher.queue.put_nowait(None)

    def compact(self) -> None:
        """Forget the whole change history: a watch resuming from an older version gets 410."""
        self._history.clear()
        self._pages.clear()  # a paged list's snapshot is compacted away too (410 Expired)
        self._compacted = self._rv

    def unserve(self, group: str, plural: str | None = None) -> None:
        """Answer requests for ``group``/``plural`` (every resource of ``group`` when ``plural``
        is None) with 404, as a cluster without that CRD (or API group) does."""
        self._unserved.add((group, plural))

    def reinstate(self, group: str, plural: str | None = None) -> None:
        """Undo ``unserve``: the CRD is installed now."""
        self._unserved.discard((group, plural))

    def applied(self, kind: str | None = None) -> list[str]:
        """``Kind namespace/name`` (``Kind name`` when cluster-scoped) of each successful apply,
        in order."""
        out = []
        for call in self.calls:
            if call.verb == "apply" and call.code < 300 and kind in (None, call.kind):
                where = f"{call.namespace}/{call.name}" if call.namespace else call.name
                out.append(f"{call.kind} {where}")
        return out

    def count(self, verb: str, plural: str | None = None, code: int | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if c.verb == verb and plural in (None, c.plural) and code in (None, c.code)
        )

    # --- resources -------------------------------------------------------------------------

    def _resource(self, group: str, plural: str) -> tuple[str, bool] | None:
        return RESOURCES.get((group, plural)) or self._crds.get((group, plural))

    def _plural_of(self, group: str, kind: str) -> str:
        for (g, plural), (k, _) in (RESOURCES | self._crds).items():
            if g == group and k == kind:
                return plural
        return kind.lower() + "s"

    def _namespaced(self, group: str, plural: str, meta: Mapping[str, Any]) -> bool:
        known = self._resource(group, plural)
        return known[1] if known else bool(meta.get("namespace"))

    def _key_of_kind(self, kind: str, namespace: str | None, name: str) -> Key:
        for key, stored in self._objects.items():
            if stored.obj["kind"] == kind and key[2] == (namespace or "") and key[3] == name:
                return key
        for (group, plural), (k, namespaced) in (RESOURCES | self._crds).items():
            if k == kind:
                return (group, plural, namespace or "" if namespaced else "", name)
        raise KeyError(f"unknown kind {kind}")

    # --- storage and change events ---------------------------------------------------------

    def _write(
        self, key: Key, obj: Object, managers: ssa.Managers, times: dict[ssa.Owner, str]
    ) -> Object:
        old = self._objects.get(key)
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        if managers:
            meta["managedFields"] = [
                {
                    "manager": manager,
                    "operation": operation,
                    "apiVersion": obj["apiVersion"],
                    "time": times.get((manager, operation), now()),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": ssa.fields_v1(paths),
                }
                for (manager, operation), paths in sorted(managers.items())
            ]
        else:
            meta.pop("managedFields", None)
        self._objects[key] = Stored(obj, managers, times)
        change_type = "MODIFIED" if old else "ADDED"
        self._emit(
            Change(self._rv, change_type, key[0], key[1], key[2], old.obj if old else None, obj)
        )
        return copy.deepcopy(obj)

    def _delete(self, key: Key, propagation: str) -> Object:
        stored = self._objects.pop(key)
        self._rv += 1
        final = copy.deepcopy(stored.obj)
        final["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(Change(self._rv, "DELETED", key[0], key[1], key[2], stored.obj, final))
        group, plural, _, name = key
        dependents: list[Key] = []
        if (group, plural) == ("", "namespaces"):
            dependents += [k for k in self._objects if k[2] == name]
        if (group, plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            spec = stored.obj.get("spec", {})
            crd = (spec.get("group", ""), spec.get("names", {}).get("plural", ""))
            self._crds.pop(crd, None)
            dependents += [k for k in self._objects if k[:2] == crd]
        if propagation != "Orphan":
            uid = stored.obj["metadata"].get("uid")
            for k, other in self._objects.items():
                refs = other.obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    dependents.append(k)
        for dependent in dependents:
            if dependent in self._objects:
                self._delete(dependent, propagation)
        return final

    def _emit(self, change: Change) -> None:
        self._history.append(change)
        while len(self._history) > max(self.history_window, 0):
            self._compacted = self._history.popleft().rv
        for watcher in list(self._watchers):
            if watcher.view(change):
                watcher.queue.put_nowait(change)

    # --- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        query = dict(request.query_params)
        try:
            target = _parse_path(request.url.path)
        except Fail as fail:
            return JSONResponse(status_body(fail.code, fail.message, fail.reason), fail.code)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        verb = _verb(request.method, target, query, content_type)
        kind = self._resource(target.group, target.plural)
        kind_name = kind[0] if kind else None
        body: Object | None = None
        if request.method in ("PATCH", "PUT", "POST"):
            body = _parse_body(await request.body())
            if isinstance(body, dict) and body.get("kind"):
                kind_name = kind_name or str(body["kind"])
        code = 200
        try:
            if (target.group, None) in self._unserved:
                code = 404
                return PlainTextResponse("404 page not found\n", 404)
            if (target.group, target.plural) in self._unserved:
                raise Fail(404, "the server could not find the requested resource")
            self._check_scope(target, kind)
            self._inject(verb, target, kind_name)
            response = await self._dispatch(verb, target, query, body, request)
            code = response.status_code
            return response
        except Fail as fail:
            code = fail.code
            return JSONResponse(
                status_body(fail.code, fail.message, fail.reason, **fail.details), fail.code
            )
        finally:
            self.calls.append(
                Call(
                    verb,
                    target.group,
                    target.plural,
                    target.namespace,
                    target.name,
                    kind_name,
                    code,
                    query,
                    copy.deepcopy(body),
                )
            )

    def _check_scope(self, target: Target, kind: tuple[str, bool] | None) -> None:
        if kind is None or target.plural == "namespaces":
            return
        if (target.namespace is not None and not kind[1]) or (
            target.namespace is None and target.name is not None and kind[1]
        ):
            raise Fail(404, "the server could not find the requested resource")

    def _inject(self, verb: str, target: Target, kind: str | None) -> None:
        for failure in self._failures:
            if (
                failure.times > 0
                and failure.verb == verb
                and failure.kind in (None, kind, target.plural)
                and failure.name in (None, target.name)
                and failure.namespace in (None, target.namespace)
            ):
                failure.times -= 1
                what = f'{kind or target.plural}.{target.group or "core"} "{target.name}"'
                message = failure.message or f"{what} is invalid: injected failure"
                raise Fail(
                    failure.code, message, failure.reason, name=target.name, kind=target.plural
                )

    async def _dispatch(
        self,
        verb: str,
        target: Target,
        query: dict[str, str],
        body: Object | None,
        request: Request,
    ) -> Response:
        if verb == "log":
            return self._log(target, query)
        if verb == "create":
            if not isinstance(body, dict):
                raise Fail(400, "the request body is not an object")
            return self._create(target, query, body)
        if verb == "patch-status":
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            if content_type not in (
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            ):
                raise Fail(415, "this fake takes only merge patches of /status")
            if not isinstance(body, dict):
                raise Fail(400, "the request body is not an object")
            return self._patch_status(target, query, body)
        if verb == "watch":
            return self._watch(target, query)
        if verb == "list":
            return self._list(target, query)
        if verb == "get":
            return JSONResponse(self._present(self._require(target).obj, target))
        if verb == "delete":
            stored = self._require(target)
            propagation = query.get("propagationPolicy", "Background")
            key = self._key(target)
            self._delete(key, propagation)
            details = {
                "name": target.name,
                "group": target.group,
                "kind": target.plural,
                "uid": stored.obj["metadata"]["uid"],
            }
            return JSONResponse(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            )
        if verb in ("apply", "patch"):
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            merge = ("application/merge-patch+json", "application/strategic-merge-patch+json")
            if content_type != "application/apply-patch+yaml" and content_type not in merge:
                raise Fail(
                    415,
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: application/apply-patch+yaml, {', '.join(merge)}",
                )
            if not isinstance(body, dict):
                raise Fail(400, "the request body is not an object")
            if content_type in merge:
                return self._merge_patch(target, query, body)
            return self._apply(target, query, body)
        raise Fail(405, f"the server does not allow this method on the requested resource ({verb})")

    def _require_namespace(self, target: Target) -> None:
        """404 for an object in a namespace that does not exist (when namespaces are required),
        as the real server answers a write there."""
        if (
            target.namespace is not None
            and self.require_namespaces
            and ("", "namespaces", "", target.namespace) not in self._objects
        ):
            raise Fail(
                404,
                f'namespaces "{target.namespace}" not found',
                name=target.namespace,
                kind="namespaces",
            )

    def _key(self, target: Target) -> Key:
        return (target.group, target.plural, target.namespace or "", target.name or "")

    def _require(self, target: Target) -> Stored:
        stored = self._objects.get(self._key(target))
        if stored is None:
            raise Fail(
                404,
                f'{target.resource} "{target.name}" not found',
                name=target.name,
                group=target.group,
                kind=target.plural,
            )
        return stored

    def _present(self, obj: Object, target: Target, *, item: bool = False) -> Object:
        out = copy.deepcopy(obj)
        out["apiVersion"] = target.api_version
        if item and target.group in BUILTIN_GROUPS:
            out.pop("apiVersion", None)
            out.pop("kind", None)
        return out

    def _selected(self, target: Target, query: Mapping[str, str]) -> list[Object]:
        try:
            selector = ssa.parse_selector(query.get("labelSelector"))
        except ssa.SelectorError as exc:
            raise Fail(400, str(exc)) from exc
        fields = parse_fields(query.get("fieldSelector"), target.group, target.plural)
        out = []
        for (group, plural, namespace, _), stored in sorted(self._objects.items()):
            if (group, plural) != (target.group, target.plural):
                continue
            if target.namespace is not None and namespace != target.namespace:
                continue
            if not fields_match(fields, stored.obj):
                continue
            if ssa.selector_matches(selector, stored.obj["metadata"].get("labels") or {}):
                out.append(stored.obj)
        return out

    def _list(self, target: Target, query: Mapping[str, str]) -> Response:
        """A list, in pages of ``limit`` when asked: ``metadata.continue`` names the rest, a
        snapshot taken with the first page (a consistent list, as from the real server, whose
        pages all carry the first page's resourceVersion); an unknown token is 410 Expired."""
        token = query.get("continue")
        if token:
            page = self._pages.get(token)
            if page is None or page[0] != (target.group, target.plural, target.namespace):
                raise Fail(410, "the provided continue parameter is too old", "Expired")
            _, version, rest = page  # a token may be asked again, as from the real server
        else:
            version = self._rv
            rest = [self._present(obj, target, item=True) for obj in self._selected(target, query)]
        limit_text = query.get("limit") or "0"
        if not limit_text.isdigit():
            raise Fail(400, f"invalid limit {limit_text!r}")
        limit = int(limit_text)
        items, rest = (rest[:limit], rest[limit:]) if limit > 0 else (rest, [])
        meta: dict[str, Any] = {"resourceVersion": str(version)}
        if rest:
            token = f"page-{self._pages_made}"
            self._pages_made += 1
            self._pages[token] = ((target.group, target.plural, target.namespace), version, rest)
            meta |= {"continue": token, "remainingItemCount": len(rest)}
        kind = self._resource(target.group, target.plural)
        return JSONResponse(
            {
                "kind": f"{kind[0] if kind else target.plural}List",
                "apiVersion": target.api_version,
                "metadata": meta,
                "items": items,
            }
        )

    def _watch(self, target: Target, query: Mapping[str, str]) -> Response:
        try:
            selector = ssa.parse_selector(query.get("labelSelector"))
        except ssa.SelectorError as exc:
            raise Fail(400, str(exc)) from exc
        fields = parse_fields(query.get("fieldSelector"), target.group, target.plural)
        watcher = Watcher(target.group, target.plural, target.namespace, selector, fields)
        since = query.get("resourceVersion") or "0"
        if not since.isdigit():
            raise Fail(400, f"invalid resourceVersion {since!r}")
        first: list[tuple[str, Object]] = []
        if since == "0":
            first = [("ADDED", obj) for obj in self._selected(target, query)]
        elif int(since) < self._compacted:
            gone = status_body(
                410, f"too old resource version: {since} ({self._compacted + 1})", "Expired"
            )
            return _stream_lines([{"type": "ERROR", "object": gone}])
        else:
            first = [v for c in self._history if c.rv > int(since) and (v := watcher.view(c))]
        self._watchers.add(watcher)  # no await since the snapshot: nothing can slip between
        timeout = float(query.get("timeoutSeconds") or 0) or None

        async def lines() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout else None
            try:
                for event_type, obj in first:
                    yield _line(event_type, self._present(obj, target))
                while True:
                    remaining = None if deadline is None else deadline - loop.time()
                    if remaining is not None and remaining <= 0:
                        return
                    try:
                        change = await asyncio.wait_for(watcher.queue.get(), remaining)
                    except TimeoutError:
                        return
                    if change is None:
                        return
                    if view := watcher.view(change):
                        yield _line(view[0], self._present(view[1], target))
            finally:
                self._watchers.discard(watcher)

        return StreamingResponse(lines(), media_type="application/json")

    def _apply(self, target: Target, query: Mapping[str, str], body: Object) -> Response:
        manager = query.get("fieldManager")
        if not manager:
            raise Fail(400, "PATCH /apply requires fieldManager")
        kind = self._resource(target.group, target.plural)
        meta = body.get("metadata") or {}
        if body.get("apiVersion") != target.api_version:
            raise Fail(
                400,
                f"the API version in the data ({body.get('apiVersion')}) does not match the expected API version ({target.api_version})",
            )
        if kind and body.get("kind") != kind[0]:
            raise Fail(
                400,
                f"the kind in the data ({body.get('kind')}) does not match the expected kind ({kind[0]})",
            )
        if meta.get("name") != target.name:
            raise Fail(
                400,
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({target.name})",
            )
        if (
            target.namespace is not None
            and meta.get("namespace", target.namespace) != target.namespace
        ):
            raise Fail(
                400,
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        self._require_namespace(target)
        stored = self._objects.get(self._key(target))
        try:
            user, managers = ssa.apply(
                stored.obj if stored else None,
                body,
                stored.managers if stored else {},
                manager,
                force=query.get("force") == "true",
            )
        except ssa.ApplyConflict as conflict:
            raise Fail(
                409,
                str(conflict),
                "Conflict",
                causes=[
                    {
                        "reason": "FieldManagerConflict",
                        "message": f'conflict with "{m}"',
                        "field": "." + ".".join(p),
                    }
                    for m, p in conflict.conflicts
                ],
            ) from conflict
        obj = self._compose(target, str(body["kind"]), stored, user)
        if target.group == "apiextensions.k8s.io" and target.plural == "customresourcedefinitions":
            self._register_crd(obj)
        return self._store(target, stored, obj, managers, (manager, "Apply"))

    def _merge_patch(self, target: Target, query: Mapping[str, str], body: Object) -> Response:
        stored = self._require(target)
        manager = query.get("fieldManager") or "unknown"
        user, managers = ssa.update(stored.obj, body, stored.managers, manager)
        obj = self._compose(target, stored.obj["kind"], stored, user)
        return self._store(target, stored, obj, managers, (manager, "Update"))

    def _create(self, target: Target, query: Mapping[str, str], body: Object) -> Response:
        if target.name is not None:
            raise Fail(405, "POST is allowed on collections only")
        kind = self._resource(target.group, target.plural)
        meta = body.get("metadata") or {}
        if body.get("apiVersion") != target.api_version:
            raise Fail(
                400,
                f"the API version in the data ({body.get('apiVersion')}) does not match the "
                f"expected API version ({target.api_version})",
            )
        if kind and body.get("kind") != kind[0]:
            raise Fail(
                400,
                f"the kind in the data ({body.get('kind')}) does not match the expected kind "
                f"({kind[0]})",
            )
        if target.namespace is not None and meta.get("namespace", target.namespace) != (
            target.namespace
        ):
            raise Fail(
                400,
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        name = meta.get("name")
        if not name and meta.get("generateName"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            name = f"{meta['generateName']}{suffix}"
        if not name:
            raise Fail(422, "metadata.name: Required value: name or generateName is required")
        self._require_namespace(target)
        named = dataclasses.replace(target, name=str(name))
        if self._key(named) in self._objects:
            raise Fail(
                409,
                f'{target.resource} "{name}" already exists',
                "AlreadyExists",
                name=name,
                group=target.group,
                kind=target.plural,
            )
        manager = query.get("fieldManager") or "unknown"
        body = {**body, "metadata": {k: v for k, v in meta.items() if k != "generateName"}}
        body["metadata"]["name"] = name
        user, managers = ssa.update({}, body, {}, manager)
        obj = self._compose(named, str(body.get("kind") or ""), None, user)
        if named.group == "apiextensions.k8s.io" and named.plural == "customresourcedefinitions":
            self._register_crd(obj)
        return self._store(named, None, obj, managers, (manager, "Update"))

    def _patch_status(self, target: Target, query: Mapping[str, str], body: Object) -> Response:
        if (target.group, target.plural) in self._no_status:
            raise Fail(404, "the server could not find the requested resource")
        stored = self._require(target)
        holder = {"status": copy.deepcopy(stored.obj.get("status") or {})}
        if "status" in body:
            ssa.merge_patch(holder, {"status": body["status"]})
        obj = copy.deepcopy(stored.obj)
        obj.pop("status", None)
        if holder.get("status") is not None:
            obj["status"] = holder["status"]
        manager = query.get("fieldManager") or "unknown"
        return self._store(target, stored, obj, stored.managers, (manager, "Update"))

    def _compose(self, target: Target, kind: str, stored: Stored | None, user: Object) -> Object:
        user = copy.deepcopy(user)
        user_meta = user.pop("metadata", {})
        if stored:
            meta = {k: v for k, v in stored.obj["metadata"].items() if k in ssa.IDENTITY_META}
        else:
            meta = {
                "name": target.name,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now(),
                "generation": 1,
            }
            if target.namespace is not None:
                meta["namespace"] = target.namespace
        obj: Object = {
            "apiVersion": target.api_version,
            "kind": kind,
            "metadata": {**meta, **user_meta},
            **user,
        }
        if stored and "status" in stored.obj:
            obj["status"] = copy.deepcopy(stored.obj["status"])
        elif not stored:
            initial = {
                "Namespace": {"phase": "Active"},
                "PersistentVolumeClaim": {"phase": "Pending"},
            }
            if kind in initial:
                obj["status"] = initial[kind]
        return obj

    def _store(
        self,
        target: Target,
        stored: Stored | None,
        obj: Object,
        managers: ssa.Managers,
        actor: ssa.Owner,
    ) -> Response:
        if stored:
            same_fields = ssa.user_fields(stored.obj) == ssa.user_fields(obj) and stored.obj.get(
                "status"
            ) == obj.get("status")
            if same_fields and stored.managers == managers:
                return JSONResponse(self._present(stored.obj, target))  # a no-op keeps the version
            before = {k: v for k, v in ssa.user_fields(stored.obj).items() if k != "metadata"}
            after = {k: v for k, v in ssa.user_fields(obj).items() if k != "metadata"}
            if before != after:
                obj["metadata"]["generation"] = int(stored.obj["metadata"].get("generation", 1)) + 1
        times = dict(stored.times) if stored else {}
        times[actor] = now()
        written = self._write(self._key(target), obj, managers, times)
        return JSONResponse(self._present(written, target), 200 if stored else 201)

    def _register_crd(self, crd: Object) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        key = (spec.get("group", ""), names.get("plural", ""))
        versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
        if any("status" in (v.get("subresources") or {}) for v in versions):
            self._no_status.discard(key)
        else:
            self._no_status.add(key)
        self._crds[(spec.get("group", ""), names.get("plural", ""))] = (
            names.get("kind", ""),
            spec.get("scope", "Namespaced") == "Namespaced",
        )
        crd["status"] = {
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
            ],
        }

    def _log(self, target: Target, query: Mapping[str, str]) -> Response:
        pod = self._require(Target("", "v1", "pods", target.namespace, target.name, None)).obj
        containers = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
        inits = [c["name"] for c in pod.get("spec", {}).get("initContainers", [])]
        container = query.get("container")
        if container is None:
            if len(containers) > 1:
                raise Fail(
                    400,
                    f"a container name must be specified for pod {target.name}, choose one of: [{' '.join(containers)}]",
                )
            container = containers[0] if containers else None
        elif containers and container not in containers + inits:
            raise Fail(400, f"container {container} is not valid for pod {target.name}")
        lines = self._logs.get((target.namespace or "", target.name or "", container))
        if lines is None:
            lines = self._logs.get((target.namespace or "", target.name or "", None), [])
        if "tailLines" in query:
            tail = int(query["tailLines"])
            lines = lines[-tail:] if tail > 0 else []
        stamped = query.get("timestamps") == "true"
        text = "".join(f"{stamp} {line}\n" if stamped else f"{line}\n" for stamp, line in lines)
        return PlainTextResponse(text)


class FakeServer:
    """uvicorn on 127.0.0.1 (a free port), in the running event loop, serving whichever
    ``FakeKube`` is current: tests share one server per session and get a fresh fake each
    (``use``), since starting and stopping uvicorn costs more than most tests."""

    def __init__(self) -> None:
        self.url = ""
        self.current: FakeKube | None = None

    def use(self, fake: FakeKube) -> FakeKube:
        if self.current is not None:
            self.current.disconnect_watches()
        self.current, fake.url = fake, self.url
        return fake

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if self.current is None:
            raise RuntimeError("no FakeKube in use")
        await self.current.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeServer]:
        # IPPROTO_TCP given explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
        # says TCP, and without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            yield self
        finally:
            if self.current is not None:
                self.current.disconnect_watches()
            server.should_exit = True
            await task
            sock.close()


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _owner_ref(owner: Object) -> Object:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }


def owner_ref(owner: Object) -> Object:
    """An ownerReference (controller) to ``owner``, for objects tests create."""
    return _owner_ref(owner)


def _parse_path(path: str) -> Target:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise Fail(404, f"the server could not find the requested resource ({path})")
    if not rest:
        raise Fail(404, "discovery is not implemented by this fake")
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise Fail(404, f"the server could not find the requested resource ({path})")
    return Target(
        group,
        version,
        rest[0],
        namespace,
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
    )


def _verb(method: str, target: Target, query: Mapping[str, str], content_type: str) -> str:
    if target.subresource == "log" and method == "GET":
        return "log"
    if target.subresource is not None:
        return f"{method.lower()}-{target.subresource}"
    if method == "GET":
        if target.name is not None:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "PATCH" and target.name is not None:
        return "apply" if content_type == "application/apply-patch+yaml" else "patch"
    if method == "DELETE" and target.name is not None:
        return "delete"
    if method == "POST" and target.name is None:
        return "create"
    return method.lower()


def _parse_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return None


def _line(event_type: str, obj: Object) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}) + "\n").encode()


def _stream_lines(events: list[Object]) -> Response:
    async def lines() -> AsyncIterator[bytes]:
        for event in events:
            yield (json.dumps(event) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/json")
