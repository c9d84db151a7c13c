"""``KubeRuntime``: the agent's runtime for a Kubernetes cluster, on lightkube.

A thin facade: converge is ``apply.Converger``; statuses come from the informers
(``watching``) through ``status`` and ``crd_status``; job runs through ``run_status`` (reports)
and ``runs`` (run, stop, logs); rollout actions through ``rollouts``; logs through ``logs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from lightkube import AsyncClient
from lightkube.operators import not_equal, not_in

from ironplane.agent.kube.apply import OWNED, Converger
from ironplane.agent.kube.client import Fields, KubeApi, ResourceType, make_client
from ironplane.agent.kube.errors import HTTPError, runtime_error
from ironplane.agent.kube.logs import merged_logs
from ironplane.agent.kube.parts import owners, rfc3339_now
from ironplane.agent.kube.pulls import Pulls, with_weights
from ironplane.agent.kube.rollouts import Rollouts
from ironplane.agent.kube.run_status import collect_runs
from ironplane.agent.kube.runs import JOBS, WORKFLOWS, JobRuns
from ironplane.agent.kube.status import (
    FINISHED,
    PodEvents,
    derive,
    gpu_usage,
    gpus_on_nodes,
    node_info,
)
from ironplane.agent.kube.watching import Informer
from ironplane.agent.runtime import APP, KIND, WORKSPACE
from ironplane.core.errors import NotFoundError
from ironplane.wire.agent_protocol import AppStatus, NodeInfo, Object, RunStatus
from ironplane.wire.jobs import RUN_KIND
from ironplane.wire.manifests import ANALYSIS_RUN_KIND

log = logging.getLogger(__name__)

# What statuses are derived from, watched with the ownership label. The custom resources'
# informers idle where their CRD is not installed. KEDA copies the ScaledObject's labels onto
# the HPA it makes (controllers/keda/hpa.go), so the ownership label finds those HPAs too.
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
        ("argoproj.io/v1alpha1", "Rollout"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("argoproj.io/v1alpha1", "WorkflowTemplate"),
        ("argoproj.io/v1alpha1", "CronWorkflow"),
    )
)
ANALYSIS_RUNS = ResourceType.of("argoproj.io/v1alpha1", "AnalysisRun")
"""Watched by the label ``ironplane.dev/kind=analysis-run``, which the compiler has Argo put on
the runs of its analyses (``analysisRunMetadata``); they join their Rollout by ownerReference."""
RUN_KINDS: tuple[ResourceType, ...] = (WORKFLOWS, JOBS)
"""Job runs, watched with the label ironplane.dev/kind=job-run (they carry no managed-by)."""
NODES = ResourceType.of("v1", "Node")
PODS = ResourceType.of("v1", "Pod")
DEPLOYMENTS = ResourceType.of("apps/v1", "Deployment")
HOLDING_A_NODE: Fields = {"spec.nodeName": not_equal(""), "status.phase": not_in(FINISHED)}
"""The pods that can hold GPUs: bound to a node, not finished. The API server filters with this
field selector (``spec.nodeName!=,status.phase!=Failed,status.phase!=Succeeded``, both fields
pods support), so pending and finished pods never reach the agent; a pod that finishes leaves
the watch as DELETED."""
GPU_LIST_CHUNK = 500
"""Pods per page when listing every pod (client-go's pager uses 500 too)."""
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class KubeRuntime:
    """Applies the desired state to a cluster with server-side apply and prunes what it owns;
    reports statuses and nodes from watches.

    ``client``: a lightkube ``AsyncClient`` (closed by ``close`` only when the runtime made it);
    by default one from the in-cluster service account, ``KUBECONFIG`` or ``~/.kube/config``.
    ``field_manager``: the server-side apply field manager. ``resync_s``: how often every watch
    lists again, whatever happened. ``gpu_resync_s``: the same for the watch of every pod the
    node inventory counts GPUs from (``gpu_pods``), longer: that list is of the whole cluster's
    running pods, and events keep it current between lists. ``establish_timeout_s``: how long a
    converge waits for the CRDs it applied to be served before applying what follows them.

    Two pod watches: ``informers["Pod"]`` holds Ironplane's pods (the ownership label), whole,
    for statuses, events, logs and pulls; ``gpu_pods`` sees every pod bound to a node in every
    namespace, whoever made it, and keeps only a small record (``status.gpu_usage``) of those
    that ask for GPUs, so that ``inventory`` counts the GPUs other workloads hold too.
    """

    name = "kubernetes"

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        field_manager: str = "ironplane-agent",
        resync_s: float = 30.0,
        gpu_resync_s: float = 300.0,
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
        self.analysis_runs = Informer(
            self.api,
            ANALYSIS_RUNS,
            labels={KIND: ANALYSIS_RUN_KIND},
            resync_s=resync_s,
            on_change=self._on_analysis_run,
        )
        self.run_informers: dict[str, Informer] = {
            rt.kind: Informer(
                self.api, rt, labels={KIND: RUN_KIND}, resync_s=resync_s, on_change=self._on_change
            )
            for rt in RUN_KINDS
        }
        self.nodes = Informer(self.api, NODES, resync_s=resync_s, on_change=self._on_node)
        self.gpu_pods = Informer(
            self.api,
            PODS,
            fields=HOLDING_A_NODE,
            transform=gpu_usage,
            chunk_size=GPU_LIST_CHUNK,
            resync_s=gpu_resync_s,
            on_change=self._on_gpu_pod,
        )
        self.rollouts = Rollouts(self.api, field_manager)
        self.job_runs = JobRuns(self.api, field_manager)
        self.pulls = Pulls(self.api, self.changed)

    # --- lifecycle -------------------------------------------------------------------------

    def _all_informers(self) -> list[Informer]:
        return [
            *self.informers.values(),
            self.analysis_runs,
            *self.run_informers.values(),
            self.nodes,
            self.gpu_pods,
        ]

    async def start(self) -> None:
        """Start the watches and wait (at most ``start_timeout_s``) for their first lists; not
        for the GPU accounting's list of every pod, which a large cluster takes long to serve
        (``inventory`` waits for it)."""
        everything = self._all_informers()
        for informer in everything:
            informer.start()
        waits = [i.synced.wait() for i in everything if i is not self.gpu_pods]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.start_timeout_s)
        except TimeoutError:
            log.warning("the Kubernetes API did not answer every list in time; watching on")

    async def close(self) -> None:
        self.pulls.close()
        for informer in self._all_informers():
            await informer.stop()
        if self._owns_client:
            with contextlib.suppress(Exception):
                await self.api.close()

    # --- watch callbacks -------------------------------------------------------------------

    def _on_change(self, old: Object | None, new: Object | None) -> None:
        self.changed.set()

    def _on_pod(self, old: Object | None, new: Object | None) -> None:
        self.pod_events.observe(old, new)
        self.changed.set()

    def _on_gpu_pod(self, old: Object | None, new: Object | None) -> None:
        """Nothing to wake: GPU usage feeds only the inventory, which goes on its own timer."""

    def _on_analysis_run(self, old: Object | None, new: Object | None) -> None:
        """Only runs of the Rollouts the agent watches matter (this watch sees every one)."""
        ours = {(r.get("metadata") or {}).get("uid") for r in self.informers["Rollout"].values()}
        run = new or old or {}
        if any(ref.get("uid") in ours for ref in owners(run, "Rollout")):
            self.changed.set()

    def _on_node(self, old: Object | None, new: Object | None) -> None:
        if old is None or new is None or node_info(old) != node_info(new):
            self.changed.set()

    # --- the Runtime protocol ---------------------------------------------------------------

    async def converge(self, objects: Sequence[Object]) -> None:
        await self.converger.converge(objects)

    async def statuses(self) -> list[AppStatus]:
        snapshot = {kind: informer.values() for kind, informer in self.informers.items()}
        snapshot["AnalysisRun"] = self.analysis_runs.values()
        snapshot["Workflow"] = self.run_informers["Workflow"].values()  # a CronWorkflow's phase
        statuses = derive(snapshot, self.pod_events.for_app)
        return with_weights(statuses, await self.pulls.progress(snapshot["Pod"]))

    async def inventory(self) -> list[NodeInfo]:
        nodes = await self._current(self.nodes)
        if self.gpu_pods.started and not self.gpu_pods.synced.is_set():
            # Its first list is under way: wait for it rather than list everything twice.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gpu_pods.synced.wait(), self.start_timeout_s)
        used = gpus_on_nodes(await self._current(self.gpu_pods))
        return sorted((node_info(node, used) for node in nodes), key=lambda n: n.name)

    async def _current(self, informer: Informer) -> list[Object]:
        """The informer's objects once it has listed; before, a list of the same selection."""
        if informer.synced.is_set():
            return informer.values()
        rt = informer.rt
        try:
            items, _ = await self.api.list_objects(
                rt,
                labels=informer.labels,
                fields=informer.fields,
                chunk_size=informer.chunk_size,
                transform=informer.transform,
            )
        except HTTPError as exc:
            raise runtime_error("list", {"kind": rt.kind, "metadata": {"name": "*"}}, exc) from exc
        return items

    async def logs(self, workspace: str, app: str, lines: int) -> list[str]:
        """The app's last ``lines`` log lines across its pods, in time order, each prefixed with
        ``[pod] `` when the app has several pods."""
        pods = await self._owned(PODS, workspace, app)
        if not pods:
            raise NotFoundError(f"app {app!r} in workspace {workspace!r} has no pods")
        return await merged_logs(self.api, pods, lines)

    async def restart(self, workspace: str, app: str) -> None:
        """What ``kubectl rollout restart`` does: a new pod template annotation
        ``kubectl.kubernetes.io/restartedAt`` on each of the app's Deployments; for an app whose
        pods an Argo Rollout runs, what ``kubectl argo rollouts restart`` does (``restartAt``)."""
        deployments = await self._owned(DEPLOYMENTS, workspace, app)
        rollouts = await self.rollouts.owned(workspace, app)
        if not deployments and not rollouts:
            raise NotFoundError(
                f"app {app!r} in workspace {workspace!r} has no Deployment or Rollout to restart"
            )
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: rfc3339_now()}}}}}
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
        await self.rollouts.restart(rollouts)

    # --- rollouts and job runs ---------------------------------------------------------------

    async def promote(self, workspace: str, app: str, *, full: bool) -> str:
        return await self.rollouts.promote(workspace, app, full=full)

    async def abort(self, workspace: str, app: str) -> str:
        return await self.rollouts.abort(workspace, app)

    async def runs(self) -> list[RunStatus]:
        """Runs from the watches: the labelled Workflows and Jobs, and the Jobs our CronJobs
        made (watched with the ownership label, as the CronJobs' status needs them)."""
        jobs = [*self.run_informers["Job"].values(), *self.informers["Job"].values()]
        return collect_runs(self.run_informers["Workflow"].values(), jobs)

    async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
        await self.job_runs.run_job(workspace, job, run, params)

    async def stop_run(self, workspace: str, job: str, run: str) -> None:
        await self.job_runs.stop_run(workspace, job, run)

    async def run_logs(self, workspace: str, job: str, run: str, lines: int) -> list[str]:
        return await self.job_runs.run_logs(workspace, job, run, lines)

    async def _owned(self, rt: ResourceType, workspace: str, app: str) -> list[Object]:
        labels = {**OWNED, WORKSPACE: workspace, APP: app}
        try:
            items, _ = await self.api.list_objects(rt, labels=labels)
        except HTTPError as exc:
            what = {"kind": rt.kind, "metadata": {"namespace": workspace, "name": app}}
            raise runtime_error("list", what, exc) from exc
        return items
