"""A Deployment run locally: ``spec.replicas`` supervised processes of its first container.

Replica 0 gets ``PORT`` = the first declared container port; replica i > 0 gets a free port the
runtime picks (kept for the workload's life), so a command that serves more than one replica must
listen on ``$(PORT)``. A changed pod template or version label replaces the workload (the runtime
stops it and starts a new one: recreate); a changed replica count scales in place.
"""

from __future__ import annotations

import asyncio
import socket

from ironplane.agent.local.model import WorkloadDef, launch_spec
from ironplane.agent.local.state import AppContext, WorkloadStatus
from ironplane.agent.local.supervisor import Replica
from ironplane.wire.agent_protocol import Condition, Phase


def free_port(taken: set[int]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port
    raise OSError("no free local port found")


class DeploymentWorkload:
    def __init__(self, definition: WorkloadDef, app: AppContext) -> None:
        self.definition = definition
        self.app = app
        self.replicas: dict[int, Replica] = {}
        self._ports: dict[int, int | None] = {}

    def _port(self, index: int) -> int | None:
        container = self.definition.container
        if container is None or not container.ports:
            return None
        if index == 0:
            return container.ports[0]
        if index not in self._ports:
            taken = {p for p in self._ports.values() if p is not None} | set(container.ports)
            self._ports[index] = free_port(taken)
        return self._ports[index]

    def _start_replica(self, index: int) -> None:
        container = self.definition.container
        assert container is not None
        launch = launch_spec(container, self.app.directory, self._port(index))
        replica = Replica(index, launch, self.app)
        self.replicas[index] = replica
        replica.start()

    async def start(self) -> None:
        problem = self.definition.problem
        if problem is not None:
            self.app.events.add(problem.reason, problem.message, warning=True)
            return
        for index in range(self.definition.replicas):
            self._start_replica(index)
        self.app.notify()

    async def update(self, definition: WorkloadDef) -> bool:
        current = self.definition
        if (definition.fingerprint, definition.problem) != (current.fingerprint, current.problem):
            return False
        self.definition = definition  # freshly resolved env is used by later (re)starts
        if definition.problem is not None or definition.replicas == current.replicas:
            return True
        before, after = current.replicas, definition.replicas
        self.app.events.add("Scaled", f"replicas {before} → {after}")
        for index in range(before, after):
            self._start_replica(index)
        gone = [self.replicas.pop(i) for i in range(after, before) if i in self.replicas]
        await asyncio.gather(*(replica.stop() for replica in gone))
        for index in range(after, before):
            self._ports.pop(index, None)
        self.app.notify()
        return True

    async def stop(self) -> None:
        replicas = list(self.replicas.values())
        self.replicas.clear()
        await asyncio.gather(*(replica.stop() for replica in replicas))
        self.app.notify()

    async def restart(self) -> None:
        if self.definition.problem is not None:
            return
        self.app.events.add("Restarting", f"restarting {len(self.replicas)} replica(s)")
        await self.stop()
        await self.start()

    def status(self) -> WorkloadStatus:
        definition = self.definition
        desired = definition.replicas
        problem = definition.problem
        if problem is not None:
            condition = Condition(
                type="Ready", status="False", reason=problem.reason, message=problem.message
            )
            return WorkloadStatus(
                problem.phase, 0, desired, conditions=[condition], error=problem.message
            )
        replicas = [self.replicas[i] for i in sorted(self.replicas)]
        ready = sum(1 for replica in replicas if replica.ready)
        looping = [replica for replica in replicas if replica.crash_looping]
        counts = f"{ready}/{desired} replicas ready"
        if looping:
            error = looping[0].error
            return WorkloadStatus(
                "Degraded",
                ready,
                desired,
                error=error,
                conditions=[
                    Condition(
                        type="Ready",
                        status="False",
                        reason="CrashLoopBackOff",
                        message=f"{counts}; {error}",
                    )
                ],
            )
        if ready >= desired:
            return WorkloadStatus(
                "Running",
                ready,
                desired,
                conditions=[
                    Condition(type="Ready", status="True", reason="ReplicasReady", message=counts)
                ],
            )
        phase: Phase = "Progressing" if self.app.ever_ready else "Pending"
        return WorkloadStatus(
            phase,
            ready,
            desired,
            conditions=[
                Condition(type="Ready", status="False", reason="ReplicasNotReady", message=counts)
            ],
        )

    def log_indices(self) -> list[int]:
        return list(range(self.definition.replicas))

    def pids(self) -> list[int]:
        return [pid for _, r in sorted(self.replicas.items()) if (pid := r.pid) is not None]
