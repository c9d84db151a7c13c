"""Statuses from the operators' custom resources: Argo Rollouts (``Rollout``, ``AnalysisRun``),
KEDA (``ScaledObject`` and the ``HorizontalPodAutoscaler`` it drives) and Argo Workflows
(``WorkflowTemplate``, ``CronWorkflow`` and its ``Workflow``s).

Pure functions over plain dicts, like ``status``. Field names follow the CRDs (argo-rollouts
``rollout-crd.yaml`` and ``analysis-run-crd.yaml``, KEDA ``keda.sh_scaledobjects.yaml``, Argo
Workflows ``argoproj.io_workflows.yaml``) and ``autoscaling/v2``; every field is optional here,
because a controller that has not looked at an object yet has written no status at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ironplane.agent.kube.parts import (
    Part,
    condition,
    conditions_of,
    created,
    int_of,
    is_true,
    labels_of,
    name_of,
    namespace_of,
    optional_int,
    owners,
)
from ironplane.wire.agent_protocol import (
    AnalysisInfo,
    AnalysisMetric,
    Phase,
    RolloutInfo,
    ScalingInfo,
)

ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"
"""Argo Rollouts labels each AnalysisRun with the pod template hash of the revision it checks."""
CRON_WORKFLOW_LABEL = "workflows.argoproj.io/cron-workflow"
"""Argo Workflows labels each Workflow a CronWorkflow starts with the CronWorkflow's name."""
KEDA_MIN_REPLICAS, KEDA_MAX_REPLICAS = 0, 100
"""KEDA's defaults for ``minReplicaCount`` and ``maxReplicaCount``."""

_ROLLOUT_PHASES: Mapping[str, Phase] = {
    "Healthy": "Running",
    "Progressing": "Progressing",
    "Paused": "Progressing",  # waiting at a step: RolloutInfo.paused says so
    "Degraded": "Degraded",
}
_WORKFLOW_PHASES: Mapping[str, Phase] = {
    "": "Pending",
    "Pending": "Pending",
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Error": "Failed",
}


# --- Argo Rollouts -------------------------------------------------------------------------


def _observed(rollout: Mapping[str, Any]) -> bool:
    """Has the controller seen the current spec? Argo writes ``observedGeneration`` as a string."""
    observed = (rollout.get("status") or {}).get("observedGeneration")
    generation = (rollout.get("metadata") or {}).get("generation")
    return observed is None or generation is None or str(observed) == str(generation)


def rollout_part(rollout: Mapping[str, Any]) -> Part:
    """Phase, ready and desired of an app whose pods a Rollout runs: Healthy is Running,
    Progressing and Paused are Progressing, Degraded (aborted included) is Degraded."""
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    part = Part(
        "Progressing",
        int_of(status.get("readyReplicas")),
        int_of(spec.get("replicas"), 1),
        conditions=conditions_of(rollout),
    )
    if not _observed(rollout):
        return part  # what the status says is about an older spec
    part.phase = _ROLLOUT_PHASES.get(str(status.get("phase") or "Progressing"), "Unknown")
    if part.phase == "Degraded":
        part.error = status.get("message") or "the rollout is degraded"
    return part


def _set_weight(steps: Sequence[Any], index: int) -> int:
    """The canary weight the steps ask for at ``index`` (what Argo's GetCurrentSetWeight does):
    100 past the last step, else the last ``setWeight`` at or before it, else 0."""
    if index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if isinstance(step, Mapping) and step.get("setWeight") is not None:
            return int_of(step.get("setWeight"))
    return 0


def _canary_weights(
    rollout: Mapping[str, Any], steps: Sequence[Any] | None
) -> tuple[int | None, int | None]:
    status = rollout.get("status") or {}
    weights = (status.get("canary") or {}).get("weights") or {}
    if weights:  # traffic routing: the weights the controller set on the router
        canary = optional_int((weights.get("canary") or {}).get("weight"))
        stable = optional_int((weights.get("stable") or {}).get("weight"))
        return canary, stable
    current, stable_rs = status.get("currentPodHash"), status.get("stableRS")
    if status.get("abort") or (current and current == stable_rs):
        return 0, 100  # nothing in flight: every replica is the stable revision
    if steps is None:
        return None, None
    canary = _set_weight(steps, int_of(status.get("currentStepIndex")))
    return canary, 100 - canary


def _named_runs(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The AnalysisRun summaries the Rollout's status names (``{name, status, message}``)."""
    canary, blue_green = status.get("canary") or {}, status.get("blueGreen") or {}
    found = [
        canary.get("currentStepAnalysisRunStatus"),
        canary.get("currentBackgroundAnalysisRunStatus"),
        blue_green.get("prePromotionAnalysisRunStatus"),
        blue_green.get("postPromotionAnalysisRunStatus"),
    ]
    return [s for s in found if isinstance(s, Mapping) and s.get("name")]


def owned_by(run: Mapping[str, Any], rollout: Mapping[str, Any]) -> bool:
    """Is ``run`` (an AnalysisRun) one the Rollout made? By ownerReference: uid, else name."""
    if namespace_of(run) != namespace_of(rollout):
        return False
    uid = (rollout.get("metadata") or {}).get("uid")
    for ref in owners(run, "Rollout"):
        if (uid and ref.get("uid") == uid) or (not uid and ref.get("name") == name_of(rollout)):
            return True
    return False


def analysis_info(run: Mapping[str, Any]) -> AnalysisInfo:
    status = run.get("status") or {}
    metrics = []
    for result in status.get("metricResults") or []:
        if not isinstance(result, Mapping):
            continue
        measurements = [m for m in result.get("measurements") or [] if isinstance(m, Mapping)]
        last = measurements[-1] if measurements else {}
        value = last.get("value")
        metrics.append(
            AnalysisMetric(
                name=str(result.get("name", "")),
                phase=str(result.get("phase") or "Pending"),
                value=None if value is None else str(value),
                message=result.get("message") or last.get("message") or None,
            )
        )
    return AnalysisInfo(
        name=name_of(run),
        phase=str(status.get("phase") or "Pending"),
        metrics=metrics,
        message=status.get("message") or None,
    )


def rollout_analysis(
    rollout: Mapping[str, Any], runs: Iterable[Mapping[str, Any]]
) -> list[AnalysisInfo]:
    """The analysis of the revision being rolled out: the Rollout's AnalysisRuns labelled with
    its current pod hash, plus any its status names (from the status alone when the run itself
    is not at hand: AnalysisRuns not watched, or not listed yet), oldest first."""
    status = rollout.get("status") or {}
    current = status.get("currentPodHash")
    named = {str(s["name"]): s for s in _named_runs(status)}
    mine = [r for r in runs if owned_by(r, rollout)]
    chosen = [
        r
        for r in mine
        if name_of(r) in named or (current and labels_of(r).get(ROLLOUT_HASH_LABEL) == current)
    ]
    out = [analysis_info(r) for r in sorted(chosen, key=created)]
    seen = {info.name for info in out}
    for name, summary in named.items():
        if name not in seen:
            phase = str(summary.get("status") or "Pending")
            out.append(AnalysisInfo(name=name, phase=phase, message=summary.get("message")))
    return out


def rollout_info(rollout: Mapping[str, Any], runs: Iterable[Mapping[str, Any]] = ()) -> RolloutInfo:
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    strategy = spec.get("strategy") or {}
    blue_green = status.get("blueGreen") or {}
    is_canary = "blueGreen" not in strategy
    steps: Sequence[Any] | None = None
    if is_canary:
        raw = (strategy.get("canary") or {}).get("steps")
        steps = raw if isinstance(raw, list) else None
    canary_weight, stable_weight = _canary_weights(rollout, steps) if is_canary else (None, None)
    pauses = status.get("pauseConditions") or []
    return RolloutInfo(
        strategy="canary" if is_canary else "blue_green",
        phase=str(status.get("phase") or "Progressing"),
        step=optional_int(status.get("currentStepIndex")) if is_canary else None,
        steps=len(steps) if steps is not None else None,
        canary_weight=canary_weight,
        stable_weight=stable_weight,
        paused=bool(pauses) or bool(spec.get("paused")) or status.get("phase") == "Paused",
        aborted=bool(status.get("abort")),
        message=status.get("message") or None,
        stable_revision=status.get("stableRS") or blue_green.get("activeSelector") or None,
        current_revision=status.get("currentPodHash") or blue_green.get("previewSelector") or None,
        analysis=rollout_analysis(rollout, runs),
    )


# --- KEDA ----------------------------------------------------------------------------------


def _hpa_name(scaled_object: Mapping[str, Any]) -> str:
    """The HPA KEDA made: ``status.hpaName``, else the configured name, else KEDA's default
    ``keda-hpa-<ScaledObject>``."""
    status = scaled_object.get("status") or {}
    advanced = (scaled_object.get("spec") or {}).get("advanced") or {}
    configured = (advanced.get("horizontalPodAutoscalerConfig") or {}).get("name")
    return str(status.get("hpaName") or configured or f"keda-hpa-{name_of(scaled_object)}")


def _tristate(obj: Mapping[str, Any], kind: str) -> bool | None:
    cond = condition(obj, kind)
    if cond is None or cond.get("status") not in ("True", "False"):
        return None
    return cond.get("status") == "True"


def scaling_info(
    scaled_object: Mapping[str, Any], hpas: Iterable[Mapping[str, Any]] = ()
) -> ScalingInfo:
    """min/max from the ScaledObject's spec (KEDA's defaults when unset); current/desired from
    its HPA's status (None without one: KEDA copies the ScaledObject's labels onto the HPA, so
    the HPA is found with the app's other objects); active/paused from the ScaledObject's
    conditions; ``message`` says what is wrong (Ready not True, or a scaler falling back)."""
    spec = scaled_object.get("spec") or {}
    wanted = (namespace_of(scaled_object), _hpa_name(scaled_object))
    hpa = next((h for h in hpas if (namespace_of(h), name_of(h)) == wanted), None)
    hpa_status = (hpa or {}).get("status") or {}
    ready, fallback = condition(scaled_object, "Ready"), condition(scaled_object, "Fallback")
    message = None
    if ready is not None and ready.get("status") != "True":
        message = ready.get("message") or ready.get("reason") or "the ScaledObject is not ready"
    elif fallback is not None and fallback.get("status") == "True":
        message = fallback.get("message") or "a scaler is failing: using the fallback replicas"
    return ScalingInfo(
        min=int_of(spec.get("minReplicaCount"), KEDA_MIN_REPLICAS),
        max=int_of(spec.get("maxReplicaCount"), KEDA_MAX_REPLICAS),
        current=optional_int(hpa_status.get("currentReplicas")) if hpa else None,
        desired=optional_int(hpa_status.get("desiredReplicas")) if hpa else None,
        active=_tristate(scaled_object, "Active"),
        paused=is_true(scaled_object, "Paused"),
        message=message,
    )


# --- Argo Workflows ------------------------------------------------------------------------


def workflow_template_part(template: Mapping[str, Any]) -> Part:
    """A WorkflowTemplate is a run template: ready to run, like a trigger-only CronJob."""
    return Part("Suspended")


def workflow_phase(workflow: Mapping[str, Any]) -> Phase:
    phase = str((workflow.get("status") or {}).get("phase") or "")
    return _WORKFLOW_PHASES.get(phase, "Unknown")


def workflow_part(workflow: Mapping[str, Any]) -> Part:
    phase = workflow_phase(workflow)
    part = Part(phase, 1 if phase == "Running" else 0, 1, conditions=conditions_of(workflow))
    if phase == "Failed":
        part.error = (workflow.get("status") or {}).get("message") or "the workflow failed"
    return part


def made_by_cron(workflow: Mapping[str, Any], cron: Mapping[str, Any]) -> bool:
    if namespace_of(workflow) != namespace_of(cron):
        return False
    name = name_of(cron)
    return labels_of(workflow).get(CRON_WORKFLOW_LABEL) == name or any(
        ref.get("name") == name for ref in owners(workflow, "CronWorkflow")
    )


def cron_workflow_part(cron: Mapping[str, Any], workflows: Iterable[Mapping[str, Any]]) -> Part:
    """Like a CronJob: Suspended when suspended, Pending before its first run, else the phase of
    its latest Workflow."""
    if (cron.get("spec") or {}).get("suspend"):
        return Part("Suspended")
    runs = [w for w in workflows if made_by_cron(w, cron)]
    if not runs:
        return Part("Pending")
    return workflow_part(max(runs, key=created))
