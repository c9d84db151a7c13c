"""The runtime an agent drives: Kubernetes (lightkube) or local processes.

The agent hands a runtime the whole desired state; the runtime makes reality match it (apply
what is desired, remove what it owns and is no longer desired) and reports what really runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ironplane.core.errors import IronplaneError
from ironplane.wire.agent_protocol import AppStatus, NodeInfo, Object, RunStatus

# Ownership labels the compiler puts on every object (ironplane.compiler.labels); repeated here
# because the agent must not import the compiler.
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "ironplane"
APP = "ironplane.dev/app"
KIND = "ironplane.dev/kind"
WORKSPACE = "ironplane.dev/workspace"
VERSION = "ironplane.dev/version"

AppKey = tuple[str, str]
"""(workspace, app)."""


def labelled_app(obj: Mapping[str, Any]) -> AppKey | None:
    """(workspace, app) as the object's labels name them; None unless it has both labels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    workspace, app = labels.get(WORKSPACE), labels.get(APP)
    return (str(workspace), str(app)) if workspace and app else None


def app_of(obj: Mapping[str, Any]) -> AppKey | None:
    """(workspace, app) of a labelled object. A namespaced object's namespace is its workspace
    (a label naming another workspace is not believed); a cluster-scoped one's is its label."""
    key = labelled_app(obj)
    namespace = (obj.get("metadata") or {}).get("namespace")
    if key is None or not namespace:
        return key
    return str(namespace), key[1]


class RuntimeError_(IronplaneError):
    """Applying the desired state failed; the message says which object and why."""

    code = "runtime_error"


class Runtime(Protocol):
    name: str
    """``kubernetes`` or ``local``: sent to the control plane in Hello."""

    changed: asyncio.Event
    """Set by the runtime when statuses or inventory may have changed; the agent clears it."""

    async def start(self) -> None:
        """Begin watching; called once before anything else."""

    async def close(self) -> None:
        """Stop watches and, for the local runtime, every process it started."""

    async def converge(self, objects: Sequence[Object]) -> None:
        """Make the runtime hold exactly ``objects`` among the objects it owns.

        Apply every object (idempotent: applying the same set twice changes nothing), then remove
        owned objects (label ``app.kubernetes.io/managed-by=ironplane``) that are not in the set.
        Raises ``RuntimeError_`` naming the object when it cannot; objects applied before the
        failure stay applied and the next converge retries.
        """

    async def statuses(self) -> list[AppStatus]:
        """The status of every app the runtime holds objects of."""

    async def inventory(self) -> list[NodeInfo]:
        """The nodes (the local machine for the local runtime)."""

    async def logs(self, workspace: str, app: str, lines: int) -> list[str]:
        """The last ``lines`` log lines of the app; raises ``NotFoundError`` for unknown apps."""

    async def restart(self, workspace: str, app: str) -> None:
        """Restart the app's processes or pods; raises ``NotFoundError`` for unknown apps."""

    async def promote(self, workspace: str, app: str, *, full: bool) -> str:
        """Promote the app's rollout past its current pause (``full``: to the end, skipping the
        remaining steps and analysis). Returns what was done, in words. Raises ``NotFoundError``
        when the app has no rollout, ``ConflictError`` when the rollout was aborted (apply a new
        version to roll out again), ``UnsupportedError`` when the runtime has no rollouts."""

    async def abort(self, workspace: str, app: str) -> str:
        """Abort the app's rollout: traffic back to the stable version. As ``promote``."""

    async def runs(self) -> list[RunStatus]:
        """The job runs the runtime knows: active ones and recent finished ones."""

    async def run_job(self, workspace: str, job: str, run: str, params: dict[str, str]) -> None:
        """Start run ``run`` (its name) of job ``job`` with ``params`` (param name -> value;
        the others take their defaults). Raises ``NotFoundError`` for an unknown job,
        ``ConflictError`` when a run of that name exists, ``InvalidError`` for params the job
        does not declare or required params not given."""

    async def stop_run(self, workspace: str, job: str, run: str) -> None:
        """Stop the run (its processes or pods end; it ends as Stopped). Stopping a finished run
        changes nothing. Raises ``NotFoundError`` for an unknown run."""

    async def run_logs(self, workspace: str, job: str, run: str, lines: int) -> list[str]:
        """The last ``lines`` log lines of the run; ``NotFoundError`` for an unknown run."""
