"""An owned object the local runtime cannot run (``kinds``): no process, a NotRunnable status.

It takes part in the app's status like a workload, so an app made of a ``Rollout`` (or a
Deployment and a ``ScaledObject``) reports NotRunnable with the reason instead of looking fine.
"""

from __future__ import annotations

from ironplane.agent.local.model import WorkloadDef
from ironplane.agent.local.state import AppContext, WorkloadStatus
from ironplane.wire.agent_protocol import Condition


class UnrunnableWorkload:
    def __init__(self, definition: WorkloadDef, app: AppContext) -> None:
        assert definition.problem is not None
        self.definition = definition
        self.app = app

    async def start(self) -> None:
        problem = self.definition.problem
        assert problem is not None
        self.app.events.add(problem.reason, problem.message, warning=True)

    async def update(self, definition: WorkloadDef) -> bool:
        same = definition.fingerprint == self.definition.fingerprint
        if same:
            self.definition = definition
        return same

    async def stop(self) -> None:
        return None

    async def restart(self) -> None:
        return None

    def status(self) -> WorkloadStatus:
        problem = self.definition.problem
        assert problem is not None
        return WorkloadStatus(
            problem.phase,
            error=problem.message,
            conditions=[
                Condition(
                    type="Ready", status="False", reason=problem.reason, message=problem.message
                )
            ],
        )

    def log_indices(self) -> list[int]:
        return []

    def pids(self) -> list[int]:
        return []
