"""Building blocks shared by several kinds: resources, env, ports, probes, mounts, scaling."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from ironplane.core.quantities import LATENCY_HELP, QuantityProblem, parse_latency_ms
from ironplane.spec.base import (
    AbsPath,
    Cpu,
    Duration,
    FieldProblem,
    Label,
    Name,
    Port,
    Quantity,
    SecretRefText,
    SpecModel,
    secret_ref,
)
from ironplane.spec.cron import cron_problem, timezone_problem

GPU_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class Gpu(SpecModel):
    count: int = Field(ge=1, le=16, description="GPUs per replica (per node for training)")
    type: str | None = Field(
        default=None, description="GPU model, e.g. H100, H200, A100; selects the nodes"
    )

    @model_validator(mode="after")
    def _type_shape(self) -> Gpu:
        if self.type is not None and not GPU_TYPE.match(self.type):
            raise FieldProblem("invalid GPU type", allowed="a GPU model name such as H100")
        return self


class Resources(SpecModel):
    cpu: Cpu | None = None
    memory: Quantity | None = None
    ephemeral_storage: Quantity | None = Field(default=None, description="node-local scratch")
    gpu: Gpu | None = None


class SecretRef(SpecModel):
    """``{secret: group/key}``: a key of a secret group; values are never inlined in specs."""

    secret: SecretRefText


_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _env(value: Any) -> dict[str, str | SecretRef]:
    if not isinstance(value, dict):
        raise FieldProblem("expected a mapping of variable names to values")
    out: dict[str, str | SecretRef] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise FieldProblem(
                f"invalid environment variable name {key!r}",
                allowed="letters, digits, '_', '-', '.'; not starting with a digit",
            )
        if isinstance(item, bool):
            out[key] = "true" if item else "false"
        elif isinstance(item, int | float | Decimal):
            out[key] = str(item)
        elif isinstance(item, str):
            out[key] = item
        elif isinstance(item, dict) and set(item) == {"secret"}:
            try:
                out[key] = SecretRef(secret=secret_ref(str(item["secret"])))
            except FieldProblem as exc:
                raise FieldProblem(f"env {key}: {exc}", allowed=exc.allowed) from None
        elif isinstance(item, dict):
            extra = sorted(str(k) for k in set(item) - {"secret"})
            raise FieldProblem(
                f"env {key}: a secret reference takes only 'secret'"
                + (f", not {', '.join(extra)}" if extra else ""),
                allowed="a string, a number, or {secret: group/key}",
            )
        else:
            raise FieldProblem(
                f"env {key}: unsupported value",
                allowed="a string, a number, or {secret: group/key}",
            )
    return out


Env = Annotated[
    dict[str, str | SecretRef],
    BeforeValidator(_env),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {
                "anyOf": [
                    {"type": ["string", "number", "boolean"]},
                    {
                        "type": "object",
                        "properties": {"secret": {"type": "string", "pattern": "^[a-z0-9-]+/.+$"}},
                        "required": ["secret"],
                        "additionalProperties": False,
                    },
                ]
            },
        }
    ),
]


class Expose(SpecModel):
    """A public route through the cluster's Istio ingress gateway."""

    host: str = Field(
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
    )
    path: str = Field(default="/", pattern=r"^/", description="path prefix")
    tls_secret: Label | None = Field(
        default=None,
        description="TLS certificate secret (kubernetes.io/tls) in the ingress gateway's "
        "namespace; HTTPS is then served for host with this certificate",
    )
    timeout: Duration | None = Field(default=None, description="whole-request timeout")
    retries: int | None = Field(default=None, ge=0, le=10, description="retry attempts")
    per_try_timeout: Duration | None = Field(default=None, description="timeout of each attempt")

    @model_validator(mode="after")
    def _retries(self) -> Expose:
        if self.per_try_timeout is not None and not self.retries:
            raise FieldProblem("per_try_timeout needs retries", hint="set retries: 1 or more")
        return self


class PortSpec(SpecModel):
    port: Port
    protocol: Literal["http", "grpc", "tcp"] = "http"
    expose: Expose | None = None

    @model_validator(mode="after")
    def _expose_needs_http(self) -> PortSpec:
        if self.expose is not None and self.protocol == "tcp":
            raise FieldProblem("only http and grpc ports can be exposed through the gateway")
        return self


class Autoscaling(SpecModel):
    min: int = Field(default=1, ge=0, le=1000)
    max: int = Field(ge=1, le=1000)
    metric: Literal["rps", "cpu", "queue", "cron"] = "rps"
    target: float | None = Field(default=None, gt=0)
    scale_to_zero_after: Duration | None = None
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="queue metric: a PromQL query giving the queue length (a Model defaults "
        "to its engine's waiting-requests metric)",
    )
    polling_interval: Duration | None = Field(default=None, description="how often KEDA checks")
    cooldown: Duration | None = Field(
        default=None, description="how long the load must stay low before scaling down"
    )
    start: str | None = Field(default=None, description="cron metric: cron expression, scale up")
    end: str | None = Field(default=None, description="cron metric: cron expression, scale down")
    timezone: str | None = Field(default=None, description="cron metric: IANA zone; UTC default")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and (problem := timezone_problem(value)):
            raise FieldProblem(problem)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Autoscaling:
        if self.min > self.max:
            raise FieldProblem(f"min ({self.min}) is greater than max ({self.max})")
        if self.scale_to_zero_after is not None and self.min != 0:
            raise FieldProblem(
                "scale_to_zero_after needs min: 0", hint="set min: 0 or drop scale_to_zero_after"
            )
        if self.metric == "cron":
            if not (self.start and self.end):
                raise FieldProblem("the cron metric needs start and end cron expressions")
            for which, expr in (("start", self.start), ("end", self.end)):
                problem = cron_problem(expr)
                if problem:
                    raise FieldProblem(f"{which} {expr!r}: {problem}", allowed="e.g. '0 8 * * 1-5'")
        elif self.target is None:
            raise FieldProblem(f"the {self.metric} metric needs a target")
        if self.metric != "queue" and self.query is not None:
            raise FieldProblem("query applies to the queue metric only")
        if self.metric == "cpu" and self.min == 0:
            raise FieldProblem(
                "the cpu metric cannot scale to zero (no pod, no CPU to measure)",
                hint="set min: 1, or scale on rps or queue",
            )
        return self


class CanaryStep(SpecModel):
    weight: int = Field(ge=1, le=100, description="percent of traffic on the new version")
    pause: Duration | None = Field(default=None, description="absent: wait for a manual promote")


class Analysis(SpecModel):
    """Checks of the new version from Prometheus (Istio's request metrics), run while it gets
    traffic; a failed check aborts the rollout."""

    max_error_rate: float | None = Field(
        default=None, ge=0, le=1, description="highest share of 5xx answers, e.g. 0.01"
    )
    max_latency_p99: str | None = Field(
        default=None, description="highest 99th-percentile latency, e.g. 500ms or 2s"
    )
    interval: Duration = Field(default="1m", description="how often each check runs")
    failure_limit: int = Field(default=1, ge=0, le=100, description="failed checks tolerated")

    @field_validator("max_latency_p99")
    @classmethod
    def _latency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            if parse_latency_ms(value) <= 0:
                raise FieldProblem("the latency must be above zero", allowed=LATENCY_HELP)
        except QuantityProblem as exc:
            raise FieldProblem(str(exc), allowed=LATENCY_HELP, hint=exc.hint) from None
        return value

    @model_validator(mode="after")
    def _something(self) -> Analysis:
        if self.max_error_rate is None and self.max_latency_p99 is None:
            raise FieldProblem(
                "analysis needs max_error_rate, max_latency_p99 or both",
                hint="e.g. analysis: {max_error_rate: 0.01}",
            )
        return self


class Rollout(SpecModel):
    strategy: Literal["rolling", "canary", "blue_green"] = "rolling"
    steps: list[CanaryStep] | None = None
    auto_promote_after: Duration | None = None
    analysis: Analysis | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Rollout:
        if self.steps is not None and self.strategy != "canary":
            raise FieldProblem("steps apply to the canary strategy only")
        if self.auto_promote_after is not None and self.strategy != "blue_green":
            raise FieldProblem("auto_promote_after applies to the blue_green strategy only")
        if self.analysis is not None and self.strategy == "rolling":
            raise FieldProblem(
                "analysis applies to the canary and blue_green strategies",
                hint="set strategy: canary or blue_green",
            )
        if self.steps:
            weights = [s.weight for s in self.steps]
            if any(b <= a for a, b in itertools.pairwise(weights)):
                raise FieldProblem(
                    f"canary weights must increase from step to step (got {weights})",
                    hint="e.g. steps: [{weight: 10, pause: 2m}, {weight: 50, pause: 5m}]",
                )
        return self


class Metrics(SpecModel):
    """Where the workload serves Prometheus metrics (scraped through a ServiceMonitor, or a
    PodMonitor when the port is not one of the app's ports)."""

    port: Port
    path: str = Field(default="/metrics", pattern=r"^/")
    interval: Duration | None = Field(default=None, description="scrape interval")


class Probe(SpecModel):
    path: str | None = Field(default=None, pattern=r"^/", description="HTTP path; absent: TCP")
    port: Port
    initial_delay: Duration | None = None
    period: Duration | None = None
    timeout: Duration | None = None
    failure_threshold: int | None = Field(default=None, ge=1, le=10000)


class Health(SpecModel):
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None


class Mount(SpecModel):
    path: AbsPath
    volume: Name
    sub_path: str | None = Field(default=None, pattern=r"^[^/]")
    read_only: bool = False


PERMISSION = re.compile(
    r"^(inspect|read|use|manage) [a-z][a-z0-9-]* in (tenancy|compartment [A-Za-z0-9_.:-]+)$"
)


class Identity(SpecModel):
    """OKE Workload Identity: the pod runs as this Kubernetes service account."""

    service_account: Label
    permissions: list[str] = Field(
        default_factory=list,
        description="OCI permissions the workload needs, as IAM verbs: "
        "'read objects in compartment ml' (`ironplane identity policy APP` prints the policy)",
    )

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, value: list[str]) -> list[str]:
        for i, text in enumerate(value):
            if not PERMISSION.fullmatch(text):
                raise ValueError(
                    f"permissions[{i}]: {text!r} is not '<verb> <resource> in <location>' "
                    "(verb: inspect, read, use or manage; location: tenancy or compartment NAME)"
                )
        return value


WEIGHTS_SOURCE = re.compile(r"^(oci|fss|block|hf)://[^\s]+$")


class Weights(SpecModel):
    source: str = Field(
        description="oci://<namespace>/<bucket>/<prefix> | fss://<volume>/<path> | "
        "block://<volume> | hf://<repo>"
    )
    cache: Literal["nvme", "memory", "none"] = "nvme"
    credentials: Label | None = Field(
        default=None,
        description="oci:// only: a secret group with aws_access_key_id and "
        "aws_secret_access_key (an OCI Customer Secret Key); Ironplane's own puller then "
        "downloads the weights through the S3-compatible API (`ironplane fetch-weights`)",
    )

    @model_validator(mode="after")
    def _source_shape(self) -> Weights:
        allowed = "oci://<namespace>/<bucket>/<prefix>, fss://<volume>/<path>, block://<volume>, hf://<org>/<repo>"
        if not WEIGHTS_SOURCE.match(self.source):
            raise FieldProblem(f"unsupported weights source {self.source!r}", allowed=allowed)
        scheme, rest = self.source.split("://", 1)
        parts = [p for p in rest.split("/") if p]
        if scheme == "oci" and len(parts) < 2:
            raise FieldProblem("oci:// needs a namespace and a bucket", allowed=allowed)
        if scheme == "hf" and len(parts) != 2:
            raise FieldProblem("hf:// needs <org>/<repo>", allowed=allowed)
        if scheme in ("fss", "block") and not parts:
            raise FieldProblem(f"{scheme}:// needs a volume name", allowed=allowed)
        if self.credentials is not None and scheme != "oci":
            raise FieldProblem(
                "credentials are for oci:// weights (the S3-compatible API)",
                allowed="drop credentials, or use an oci:// source",
            )
        if scheme in ("oci", "hf") and self.cache == "none":
            raise FieldProblem(
                f"{scheme}:// weights are downloaded and need a cache",
                allowed="cache: nvme or memory",
            )
        return self

    @property
    def scheme(self) -> str:
        return self.source.split("://", 1)[0]

    @property
    def location(self) -> list[str]:
        return [p for p in self.source.split("://", 1)[1].split("/") if p]
