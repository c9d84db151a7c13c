"""Service: a long-running HTTP/gRPC server. ``ServerFields`` are shared with Model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ironplane.spec.base import FieldProblem, Image, Name, Quantity, SpecModel
from ironplane.spec.fields import (
    Autoscaling,
    Env,
    Health,
    Identity,
    Metrics,
    Mount,
    PortSpec,
    Resources,
    Rollout,
)


class AppFields(SpecModel):
    name: Name
    workspace: Name | None = None
    env: Env = Field(default_factory=dict)
    resources: Resources | None = None
    mounts: list[Mount] = Field(default_factory=list)
    identity: Identity | None = None
    run_as_user: int | None = Field(
        default=None, ge=1, le=2147483647, description="UID to run as (pods never run as root)"
    )

    @model_validator(mode="after")
    def _unique_mount_paths(self) -> AppFields:
        paths = [m.path for m in self.mounts]
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise FieldProblem(f"mounts: path {dupes[0]} is mounted twice")
        return self


class ServerFields(AppFields):
    command: list[str] | None = None
    args: list[str] | None = Field(default=None, description="arguments after the command")
    replicas: int | None = Field(default=None, ge=0, le=1000)
    autoscaling: Autoscaling | None = None
    rollout: Rollout = Field(default_factory=Rollout)
    health: Health | None = None
    shm: Quantity | None = Field(default=None, description="/dev/shm size (memory-backed)")
    metrics: Metrics | None = Field(
        default=None, description="Prometheus metrics endpoint (a Model's engine serves one)"
    )

    @model_validator(mode="after")
    def _scaling(self) -> ServerFields:
        if self.replicas is not None and self.autoscaling is not None:
            raise FieldProblem(
                "set either replicas or autoscaling, not both",
                hint="autoscaling.min and autoscaling.max bound the replica count",
            )
        return self


class ServiceSpec(ServerFields):
    kind: Literal["Service"]
    image: Image
    ports: list[PortSpec] = Field(default_factory=list)

    @field_validator("autoscaling")
    @classmethod
    def _queue_query(cls, value: Autoscaling | None) -> Autoscaling | None:
        # A Model defaults to its engine's queue gauge; a Service's queue lives wherever it does.
        if value is not None and value.metric == "queue" and value.query is None:
            raise FieldProblem(
                "the queue metric needs a query (a PromQL query giving the queue length)",
                hint='e.g. query: sum(jobs_waiting{queue="chat"})',
            )
        return value

    @model_validator(mode="after")
    def _ports(self) -> ServiceSpec:
        numbers = [p.port for p in self.ports]
        dupes = sorted({n for n in numbers if numbers.count(n) > 1})
        if dupes:
            raise FieldProblem(f"port {dupes[0]} is listed twice")
        if self.health:
            for probe_name in ("readiness", "liveness", "startup"):
                probe = getattr(self.health, probe_name)
                if probe is not None and probe.port not in numbers:
                    raise FieldProblem(
                        f"health.{probe_name}.port {probe.port} is not one of the ports",
                        allowed=", ".join(map(str, numbers)) or "(no ports declared)",
                    )
        return self
