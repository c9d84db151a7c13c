"""``rollout.strategy`` canary or blue_green → an Argo ``Rollout`` in place of the Deployment.

The Rollout ``<app>`` carries the Deployment's pod template, selector, replica count and history
limit, so pods, labels and selectors stay what the kind compiler made; only the controller that
rolls them changes. ``rolling`` keeps the Deployment.

- **canary** with Istio routing (a Service with an exposed port, on a cluster with the istio
  add-on): ``stableService`` ``<app>``, ``canaryService`` ``<app>-canary`` (emitted here, the same
  ports), ``trafficRouting.istio.virtualService`` naming the exposure feature's VirtualService and
  its routes; Argo Rollouts rewrites the routes' weights at each ``setWeight`` step.
- **canary** of a Model: the AI gateway splits its traffic. ``stableService`` ``<app>`` (Argo
  points it at the stable pods only) and ``canaryService`` ``<app>-canary`` (the new pods only);
  the control plane's gateway snapshot sends each step's weight, as the agent reports it, to
  ``<app>-canary`` and the rest to ``<app>``. Callers of the Service ``<app>`` directly get the
  stable version. Argo sizes the new pods by the same weight.
- **canary** of a Service on a cluster without istio: Argo approximates each weight by the share
  of new pods among all pods. ``<app>-canary`` is still emitted as the ``canaryService`` (Argo
  points it at the new pods only, to test them directly); ``stableService`` is left out, so
  ``<app>`` keeps selecting every pod and callers get the mix.
- **blue_green**: ``activeService`` ``<app>``, ``previewService`` ``<app>-preview`` (emitted
  here); promotion switches ``<app>`` to the new pods, automatically after
  ``auto_promote_after`` or, without it, on a manual promote.

Each canary step becomes ``setWeight`` then ``pause`` (``{duration}``, or ``{}``: wait for a
manual promote). A canary without steps gets one step, 20% then a manual pause: a canary that
went to 100% at once would be a rolling update under another name.

Without the argo-rollouts add-on the Deployment stays (it rolls with a rolling update) and a
warning says so. The analysis feature (``analysis.py``) runs after this one and attaches its
AnalysisTemplate to the Rollout.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ironplane.compiler.addons import ARGO_ROLLOUTS, ISTIO, has_addon, warn_missing
from ironplane.compiler.core import Build
from ironplane.compiler.labels import metadata
from ironplane.core.quantities import parse_duration
from ironplane.spec.fields import CanaryStep
from ironplane.spec.kinds import ServiceSpec
from ironplane.spec.kinds.server import ServerFields
from ironplane.wire.manifests import Object

ROLLOUT_API = "argoproj.io/v1alpha1"
DEFAULT_CANARY_STEPS = (CanaryStep(weight=20),)
"""A canary without steps: 20% of the traffic, then wait for a manual promote."""


def canary_service(app: str) -> str:
    return f"{app}-canary"


def preview_service(app: str) -> str:
    return f"{app}-preview"


def istio_canary(build: Build) -> bool:
    """Whether the app's canary weights are routed by Istio (the exposure feature then gives each
    route a stable and a canary destination, and this feature points Argo at them)."""
    spec = build.spec
    return (
        isinstance(spec, ServiceSpec)
        and spec.rollout.strategy == "canary"
        and any(p.expose is not None for p in spec.ports)
        and has_addon(build, ISTIO)
        and has_addon(build, ARGO_ROLLOUTS)
    )


@dataclass(frozen=True, slots=True)
class ArgoRollouts:
    name: str = "rollouts"

    def applies(self, build: Build) -> bool:
        spec = build.spec
        return isinstance(spec, ServerFields) and spec.rollout.strategy != "rolling"

    def apply(self, build: Build) -> None:
        spec = build.spec
        assert isinstance(spec, ServerFields)
        app, strategy = spec.name, spec.rollout.strategy
        service = build.objects.find("Service", app)
        # checks.py refused a blue-green without ports: it has its Service.
        if not has_addon(build, ARGO_ROLLOUTS):
            skipped = " and no analysis runs" if spec.rollout.analysis is not None else ""
            warn_missing(
                build,
                ARGO_ROLLOUTS,
                f"the {strategy} strategy falls back to a rolling update of the "
                f"Deployment{skipped}",
                ("rollout", "strategy"),
            )
            return
        deployment = build.objects.find("Deployment", app)
        assert deployment is not None, "compiler bug: a server without its Deployment"
        if strategy == "canary":
            plan = {"canary": _canary(build, deployment, service)}
            side = canary_service(app)
        else:
            plan = {"blueGreen": _blue_green(build, app)}
            side = preview_service(app)
        build.objects.remove(deployment)
        build.objects.add(_rollout(deployment, plan))
        if service is not None:
            build.objects.add(_sibling(service, side))


def _rollout(deployment: Object, strategy: dict[str, Any]) -> Object:
    kept = ("replicas", "revisionHistoryLimit", "selector", "template")
    spec = {k: copy.deepcopy(deployment["spec"][k]) for k in kept if k in deployment["spec"]}
    return {
        "apiVersion": ROLLOUT_API,
        "kind": "Rollout",
        "metadata": copy.deepcopy(deployment["metadata"]),
        "spec": {**spec, "strategy": strategy},
    }


def _sibling(service: Object, name: str) -> Object:
    """A copy of the app's Service under another name, for Argo to point at one set of pods.

    Annotations stay on ``<app>`` only: a Model's gateway annotations register the Service in the
    AI gateway, and the canary or preview must not be registered as a second backend."""
    meta = service["metadata"]
    return {
        "apiVersion": service["apiVersion"],
        "kind": "Service",
        "metadata": metadata(name, namespace=meta["namespace"], labels=dict(meta["labels"])),
        "spec": copy.deepcopy(service["spec"]),
    }


def _canary(build: Build, deployment: Object, service: Object | None) -> dict[str, Any]:
    spec = build.spec
    assert isinstance(spec, ServerFields)
    app = spec.name
    canary: dict[str, Any] = {}
    if service is not None:
        canary["canaryService"] = canary_service(app)
    if istio_canary(build):
        virtual_service = build.objects.find("VirtualService", app)
        assert virtual_service is not None, "compiler bug: exposure did not run before rollouts"
        canary["stableService"] = app
        canary["trafficRouting"] = {
            "istio": {
                "virtualService": {
                    "name": app,
                    "routes": [route["name"] for route in virtual_service["spec"]["http"]],
                }
            }
        }
    elif isinstance(spec, ServiceSpec):
        # The spec models guarantee a canary Service has an exposed port: only istio is missing.
        warn_missing(
            build,
            ISTIO,
            "the canary's traffic is not shifted at the ingress; Argo Rollouts approximates "
            "each step's weight by the share of new pods among all pods (coarse with few replicas)",
            ("rollout", "strategy"),
        )
    elif service is not None:
        # A Model: the gateway splits by the step's weight between the two Services, so the
        # stable one must select the stable pods only.
        canary["stableService"] = app
        build.warn(
            "a Model's canary traffic is split by the AI gateway (each step's weight goes to "
            f"{canary_service(app)!r}); callers of the Service {app!r} directly reach the stable "
            "version only",
            path=("rollout", "strategy"),
        )
    # The Deployment's surge settings: GPU servers never surge (a new pod needs a spare GPU).
    rolling = deployment["spec"]["strategy"].get("rollingUpdate", {})
    canary.update({k: rolling[k] for k in ("maxSurge", "maxUnavailable") if k in rolling})
    canary["steps"] = canary_steps(spec.rollout.steps or DEFAULT_CANARY_STEPS)
    return canary


def canary_steps(steps: list[CanaryStep] | tuple[CanaryStep, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for step in steps:
        out.append({"setWeight": step.weight})
        out.append({"pause": {"duration": step.pause} if step.pause else {}})
    return out


def _blue_green(build: Build, app: str) -> dict[str, Any]:
    spec = build.spec
    assert isinstance(spec, ServerFields)
    after = spec.rollout.auto_promote_after
    plan: dict[str, Any] = {
        "activeService": app,
        "previewService": preview_service(app),
        "autoPromotionEnabled": after is not None,
    }
    if after is not None:
        plan["autoPromotionSeconds"] = parse_duration(after)
    return plan
