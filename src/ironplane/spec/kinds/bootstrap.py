"""The add-on names and a Cluster's ``bootstrap:`` section: the add-on stack Ironplane installs
through Argo CD (``ironplane cluster bootstrap``), the add-ons the cluster already has (bring your
own: their namespace and, where Ironplane talks to them, their endpoint) and optional extras.

What a bootstrap changes in the rest of the Cluster spec (``derived``) lives here too, so that
``ironplane apply -f cluster.yaml`` and ``ironplane cluster bootstrap`` agree: the ``addons``
list gains every add-on installed or existing (the compiler's add-on gating follows it), an
existing Prometheus sets ``prometheus_url`` and an existing Istio ``ingress_gateway``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from ironplane.core.errors import SpecError
from ironplane.spec.base import FieldProblem, Label, SpecModel
from ironplane.spec.errors import from_pydantic

Addon = Literal[
    "istio",
    "keda",
    "argo-rollouts",
    "argo-workflows",
    "argo-cd",
    "kueue",
    "mpi-operator",
    "training-operator",
    "trainer",
    "kuberay",
    "prometheus",
    "gpu-operator",
    "kyverno",
    "victoria-logs",
]
Profile = Literal["oci-bare-metal", "generic"]
Extra = Literal["victoria-logs"]

STACK: tuple[str, ...] = (
    "argo-cd",
    "prometheus",
    "istio",
    "gpu-operator",
    "kyverno",
    "keda",
    "argo-rollouts",
    "argo-workflows",
    "mpi-operator",
    "trainer",
    "kuberay",
    "kueue",
)
"""The add-ons a bootstrap installs on both profiles unless existing or skipped, in the order
the ``addons`` list gains them."""
EXTRAS: tuple[str, ...] = ("victoria-logs",)
"""Installed only when asked for (``extras``, ``--with``)."""

NAMESPACES: dict[str, str] = {
    "argo-cd": "argocd",
    "prometheus": "monitoring",
    "istio": "istio-system",
    "gpu-operator": "gpu-operator",
    "kyverno": "kyverno",
    "keda": "keda",
    "argo-rollouts": "argo-rollouts",
    "argo-workflows": "argo",
    "mpi-operator": "mpi-operator",
    "trainer": "kubeflow-system",
    "kuberay": "kuberay-system",
    "kueue": "kueue-system",
    "victoria-logs": "victoria-logs",
}
"""Where the bootstrap installs each add-on."""

INGRESS_GATEWAY = "ironplane-ingress"
"""The Istio Gateway exposed ports bind to; the bootstrap creates it (``compiler/bootstrap``)."""
PROMETHEUS_SERVICE = "prometheus-operated"
"""The Service the Prometheus Operator makes for every Prometheus in its namespace."""


def ingress_gateway_in(namespace: str) -> str:
    """``ingress_gateway`` for Ironplane's Gateway in Istio's ``namespace``."""
    return f"{namespace}/{INGRESS_GATEWAY}"


def prometheus_url_in(namespace: str) -> str:
    """``prometheus_url`` for the Prometheus Operator's Prometheus in ``namespace``."""
    return f"http://{PROMETHEUS_SERVICE}.{namespace}.svc:9090"


def _endpoint(value: str) -> str:
    allowed = "an http:// or https:// URL with a host, e.g. http://prometheus.monitoring.svc:9090"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise FieldProblem("not a valid URL (bad port or brackets)", allowed=allowed) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        hint = f"try 'http://{value}'" if "://" not in value and value else None
        raise FieldProblem("not an http(s) URL with a host", allowed=allowed, hint=hint)
    if any(c.isspace() for c in value) or parts.username or parts.password or port == 0:
        raise FieldProblem("a URL without spaces, credentials or port 0", allowed=allowed)
    return value


Endpoint = Annotated[str, AfterValidator(_endpoint)]


class ExistingAddon(SpecModel):
    """An add-on the cluster already runs: Ironplane installs nothing for it and points its own
    configuration at it."""

    namespace: Label = Field(description="the namespace the add-on runs in")
    endpoint: Endpoint | None = Field(
        default=None,
        description="where Ironplane reaches it (Prometheus: its query URL); optional",
    )


class BootstrapSpec(SpecModel):
    """The add-on stack of a cluster, installed as an Argo CD app-of-apps."""

    profile: Profile | None = Field(
        default=None,
        description="oci-bare-metal (OKE with RDMA GPU nodes) or generic; default from provider",
    )
    existing: dict[Addon, ExistingAddon] = Field(
        default_factory=dict, description="add-ons the cluster already has: name → namespace"
    )
    extras: list[Extra] = Field(
        default_factory=list, description="optional add-ons to install as well (victoria-logs)"
    )
    skip: list[Addon] = Field(
        default_factory=list, description="add-ons of the stack not to install (nor assume)"
    )

    @model_validator(mode="after")
    def _disjoint(self) -> BootstrapSpec:
        both = sorted(set(self.existing) & set(self.skip))
        if both:
            raise FieldProblem(
                f"{both[0]!r} is both existing and skipped",
                hint="an existing add-on is used, a skipped one is not: keep one of the two",
            )
        return self

    def installed(self) -> tuple[str, ...]:
        """The add-ons the bootstrap installs, in stack order."""
        wanted = (*STACK, *(e for e in EXTRAS if e in self.extras))
        return tuple(a for a in wanted if a not in self.existing and a not in self.skip)

    def present(self) -> tuple[str, ...]:
        """Installed or existing: what the cluster's ``addons`` list must hold."""
        return (*self.installed(), *(a for a in self.existing if a not in self.installed()))

    def namespace(self, addon: str) -> str:
        """Where the add-on runs: its existing namespace, else the bootstrap's."""
        existing = self.existing.get(addon)  # type: ignore[call-overload]
        return existing.namespace if existing is not None else NAMESPACES[addon]

    def derived(self) -> dict[str, Any]:
        """The Cluster fields this bootstrap sets where the spec leaves them out."""
        out: dict[str, Any] = {"addons": list(self.present())}
        prometheus = self.existing.get("prometheus")
        if prometheus is not None:
            out["prometheus_url"] = prometheus.endpoint or prometheus_url_in(prometheus.namespace)
        istio = self.existing.get("istio")
        if istio is not None:
            out["ingress_gateway"] = ingress_gateway_in(istio.namespace)
        return out


def profile_of(bootstrap: BootstrapSpec, provider: str) -> str:
    """The bootstrap's profile: as given, else the provider's (OCI: the bare-metal RDMA one)."""
    return bootstrap.profile or ("oci-bare-metal" if provider == "oci" else "generic")


def spec_error(
    exc: ValidationError, model: type[BaseModel], subject: str, summary: str
) -> SpecError:
    """A ``SpecError`` for a ``model`` given outside a file (CLI options, an API request): each
    problem with its field path, what is allowed and a did-you-mean for misspelt names."""
    return SpecError(from_pydantic(exc, model, None, subject), summary=summary)


@contextmanager
def taking_bootstrap(cluster: str) -> Iterator[None]:
    """Around giving Cluster ``cluster`` a bootstrap section (``ClusterSpec.with_bootstrap``):
    a validation error becomes the ``SpecError`` saying the cluster cannot take it."""
    from ironplane.spec.kinds.platform import ClusterSpec  # which imports this module

    try:
        yield
    except ValidationError as exc:
        raise spec_error(
            exc,
            ClusterSpec,
            f"Cluster {cluster!r}",
            f"cluster {cluster!r} cannot take this bootstrap:",
        ) from None
