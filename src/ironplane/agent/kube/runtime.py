"""``KubeRuntime``: the agent's runtime for a Kubernetes cluster, on lightkube."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lightkube import AsyncClient

from ironplane.agent.kube.apply import OWNED, Converger
from ironplane.agent.kube.client import KubeApi, ResourceType, make_client
from ironplane.agent.kube.errors import HTTPError, message, runtime_error
from ironplane.agent.kube.status import PodEvents, derive, gpus_in_use, node_info
from ironplane.agent.kube.watching import Informer
from ironplane.agent.runtime import APP, WORKSPACE
from ironplane.core.errors import NotFoundError, UnsupportedError
from ironplane.wire.agent_protocol import AppStatus, NodeInfo, Object, RunStatus

log = logging.getLogger(__name__)

# What statuses are derived from, watched with the ownership label.
WATCHED: tuple[ResourceType, ...] = tuple(
    ResourceType.of(api_version, kind)
    for api_version, kind in (
        ("v1", "Namespace"),
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "PersistentVolumeClaim"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
    )
)
NODES = ResourceType.of("v1", "Node")
PODS = ResourceType.of("v1", "Pod")
DEPLOYMENTS = ResourceType.of("apps/v1", "Deployment")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


class KubeRuntime:
    """Applies the desired state to a cluster with server-side apply and prunes what it owns;
    reports statuses and nodes from watches.

    ``client``: a lightkube ``AsyncClient`` (closed by ``close`` only when the runtime made it);
    by default one from the in-cluster service account, ``KUBECONFIG`` or ``~/.kube/config``.
    ``field_manager``: the server-side apply field manager. ``resync_s``: how often every watch
    lists again, whatever happened. ``establish_timeout_s``: how long a converge waits for the
    CRDs it applied to be served before applying what follows them.
    """

    name = "kubernetes"

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        field_manager: str = "ironplane-agent",
        resync_s: float = 30.0,
        establish_timeout_s: float = 30.0,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.changed = asyncio.Event()
        self.field_manager = field_manager
        self.resync_s = resync_s
        self.start_timeout_s = start_timeout_s
        self._owns_client = client is None
        self.api = KubeApi(client if client is not None else make_client(), field_manager)
        self.converger = Converger(self.api, establish_timeout_s=establish_timeout_s)
        self.pod_events = PodEvents()
        self.informers: dict[str, Informer] = {
            rt.kind: Informer(
                self.api,
                rt,
                labels=OWNED,
                resync_s=resync_s,
                on_change=self._on_pod if rt.kind == "Pod" else self._on_change,
            )
            for rt in WATCHED
        }
        self.nodes = Informer(self.api, NODES, resync_s=resync_s, on_change=self._on_node)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the watches and wait (at most ``start_timeout_s``) for their first lists."""
        everything = [*self.informers.values(), self.nodes]
        for informer in everything:
            informer.start()
        waits = [informer.synced.wait() for informer in everything]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.start_timeout_s)
        except TimeoutError:
            log.warning("the Kubernetes API did not answer every list in time; watching on")

    async def close(self) -> None:
        for informer in [*self.informers.values(), self.nodes]:
            await informer.stop()
        if self._owns_client:
            with contextlib.suppress(Exception):
                await self.api.close()

    # --- watch callbacks -------------------------------------------------------------------

    def _on_change(self, old: Object | None, new: Object | None) -> None:
        self.changed.set()

    def _on_pod(self, old: Object | None, new: Object | None) -> None:
        self.pod_events.observe(old, new)
        self.changed.set()  # statuses, and the GPUs in use on the nodes

    def _on_node(self, old: Object | None, new: Object | None) -> None:
        if old is None or new is None or node_info(old) != node_info(new):
            self.changed.set()

    # --- the Runtime protocol ---------------------------------------------------------------

    async def converge(self, objects: Sequence[Object]) -> None:
        await self.converger.converge(objects)

    async def statuses(self) -> list[AppStatus]:
        snapshot = {kind: informer.values() for kind, informer in self.informers.items()}
        return derive(snapshot, self.pod_events.for_app)

    async def inventory(self) -> list[NodeInfo]:
        if self.nodes.synced.is_set():
            nodes = self.nodes.values()
        else:
            try:
                nodes, _ = await self.api.list_objects(NODES)
            except HTTPError as exc:
                raise runtime_error(
                    "list", {"kind": "Node", "metadata": {"name": "*"}}, exc
                ) from exc
        used = gpus_in_use(self.informers["Pod"].values())
        return sorted((node_info(node, used) for node in nodes), key=lambda n: n.name)

    async def logs(self, workspace: str, app: str, lines: int) -> list[str]:
        """The app's last ``lines`` log lines across its pods, in time order, each prefixed with
        ``[pod] `` when the app has several pods."""
        pods = await self._owned(PODS, workspace, app)
        if not pods:
            raise NotFoundError(f"app {app!r} in workspace {workspace!r} has no pods")
        if lines <= 0:
            return []
        pods.sort(key=lambda pod: str(pod["metadata"]["name"]))
        several = len(pods) > 1
        stamped: list[tuple[tuple[str, int], int, int, str]] = []
        notes: list[str] = []
        for index, pod in enumerate(pods):
            meta = pod["metadata"]
            prefix = f"[{meta['name']}] " if several else ""
            try:
                got = await self.api.log(
                    str(meta["namespace"]),
                    str(meta["name"]),
                    container=log_container(pod),
                    tail_lines=lines,
                    timestamps=True,
                )
            except HTTPError as exc:
                notes.append(f"{prefix}(no logs: {message(exc)})")
                continue
            last = ("", 0)
            for number, line in enumerate(got):
                stamp, text = split_timestamp(line)
                last = stamp or last
                stamped.append((last, index, number, prefix + text))
        stamped.sort()
        return notes + [text for *_, text in stamped[-lines:]]

    async def restart(self, workspace: str, app: str) -> None:
        """What ``kubectl rollout restart`` does: a new pod template annotation
        ``kubectl.kubernetes.io/restartedAt`` on each of the app's Deployments."""
        deployments = await self._owned(DEPLOYMENTS, workspace, app)
        if not deployments:
            raise NotFoundError(f"app {app!r} in workspace {workspace!r} has no Deployment")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        for deployment in deployments:
            meta = deployment["metadata"]
            try:
                await self.api.merge_patch(
                    DEPLOYMENTS,
                    str(meta["name"]),
                    meta.get("namespace"),
                    patch,
                    field_manager=f"{self.field_manager}-restart",
                )
            except HTTPError as exc:
                raise runtime_error("restart", deployment, exc) from exc

    # --- rollouts and job runs (placeholders until implemented) ----------------------------

    async def promote(self, workspace: str, app: str, *, full: bool) -> str:
        raise UnsupportedError("promote is not implemented by this runtime yet")

    async def abort(self, workspace: str, app: str) -> str:
        raise UnsupportedError("abort is not implemented by this runtime yet")

    async def runs(self) -> list[RunStatus]:
        return []

    async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
        raise UnsupportedError("job runs are not implemented by this runtime yet")

    async def stop_run(self, workspace: str, job: str, run: str) -> None:
        raise UnsupportedError("job runs are not implemented by this runtime yet")

    async def run_logs(self, workspace: str, job: str, run: str, lines: int) -> list[str]:
        raise UnsupportedError("job runs are not implemented by this runtime yet")

    async def _owned(self, rt: ResourceType, workspace: str, app: str) -> list[Object]:
        labels = {**OWNED, WORKSPACE: workspace, APP: app}
        try:
            items, _ = await self.api.list_objects(rt, labels=labels)
        except HTTPError as exc:
            what = {"kind": rt.kind, "metadata": {"namespace": workspace, "name": app}}
            raise runtime_error("list", what, exc) from exc
        return items


def log_container(pod: Mapping[str, Any]) -> str | None:
    """The container whose log is the pod's: the annotated default, ``main``, else the first."""
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    for choice in (annotated, "main"):
        if choice in names:
            return choice
    return names[0] if names else None


def split_timestamp(line: str) -> tuple[tuple[str, int] | None, str]:
    """``2025-01-01T00:00:00.123456789Z text`` -> ((seconds part, nanoseconds), text)."""
    head, sep, text = line.partition(" ")
    if not sep or not head.endswith("Z") or "T" not in head:
        return None, line
    seconds, _, fraction = head[:-1].partition(".")
    digits = (fraction + "000000000")[:9]
    if not digits.isdigit():
        return None, line
    return (seconds, int(digits)), text
