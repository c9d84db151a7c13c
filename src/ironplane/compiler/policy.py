"""Cluster admission policy: privileged pod fields only in GPU-RDMA namespaces.

RDMA training pods need host networking, privileged containers, added capabilities (IPC_LOCK,
SYS_RESOURCE...) and the ``/dev/infiniband`` devices (platform research 3.1, 3.9). Pod Security
Admission already keeps them out of ``restricted`` workspaces, but a namespace Ironplane does not
own (or one relabelled by hand) could still run them. This module emits one policy, in two
equivalent forms, that denies in every namespace *not* labelled ``ironplane.dev/rdma: "true"``
(the label the workspace compiler sets on privileged workspaces) and not in
:data:`SYSTEM_NAMESPACES` (``kube-system`` runs kube-proxy and the CNI, which need exactly these
fields; add-on namespaces such as the GPU operator's can be exempted through
``exempt_namespaces``):

1. ``spec.hostNetwork: true``;
2. ``securityContext.privileged: true`` in any container, initContainer or ephemeralContainer;
3. a non-empty ``securityContext.capabilities.add`` in any of them;
4. a ``hostPath`` volume that exposes ``/dev/infiniband``: that path, anything under it, or an
   ancestor of it (``/``, ``/dev``), repeated or trailing slashes included.

A ``hostPath`` elsewhere (``/var/log``) is left to Pod Security Admission.

Forms:

* :func:`kyverno_policy`: a Kyverno ``ClusterPolicy`` (``kyverno.io/v1``) with four ``deny``
  rules (JMESPath keys, operators ``Equals`` and ``GreaterThan``; ``regex_match`` is a Kyverno
  JMESPath function), each with ``failureAction: Enforce`` (the rule-level field; the
  policy-level ``validationFailureAction`` is deprecated in the CRD). Rules match ``Pod`` and
  ``Pod/ephemeralcontainers`` (``kubectl debug`` adds ephemeral containers through that
  subresource only), and auto-generation for pod controllers is switched off: the decision is
  taken on the pod, as with the admission policy below, so both forms behave the same; a
  Deployment whose template breaks a rule shows the denial in its ReplicaSet's events.
  ``background`` is off: the policy is an admission check, not a report on existing pods.
* :func:`admission_policies`: a ``ValidatingAdmissionPolicy`` (core
  ``admissionregistration.k8s.io/v1``, CEL) plus its binding (``validationActions: [Deny]``), for
  clusters without the Kyverno add-on. Same rules, same messages, same namespace exemption.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ironplane.compiler.labels import MANAGED_BY, MANAGER

RDMA_NAMESPACE_LABEL = "ironplane.dev/rdma"
"""Namespaces with this label set to ``"true"`` may run privileged RDMA pods."""
RDMA_NAMESPACE_VALUE = "true"
SYSTEM_NAMESPACES: tuple[str, ...] = ("kube-system",)
NAME = "ironplane-restrict-privileged-pods"
BINDING_NAME = f"{NAME}-binding"
_NAMESPACE_NAME = "kubernetes.io/metadata.name"  # set by the API server on every namespace

# Matches a host path that is /dev/infiniband, under it, or one of its ancestors (/ and /dev).
# RE2 and Python agree on this syntax; no braces, so Kyverno's {{ }} parsing is unaffected.
INFINIBAND_PATH_REGEX = "^/+(dev(/+(infiniband(/.*)?)?)?)?$"

_WHERE = f"outside namespaces labelled {RDMA_NAMESPACE_LABEL}={RDMA_NAMESPACE_VALUE}"
MESSAGES: dict[str, str] = {
    "host-network": f"hostNetwork is not allowed {_WHERE}",
    "privileged": f"privileged containers are not allowed {_WHERE}",
    "capabilities": f"added capabilities (capabilities.add) are not allowed {_WHERE}",
    "infiniband-host-path": f"hostPath volumes exposing /dev/infiniband are not allowed {_WHERE}",
}
"""Rule key -> denial message; the Kyverno rules are named ``deny-<key>``."""
_DESCRIPTION = (
    "Denies hostNetwork, privileged containers, added capabilities and /dev/infiniband hostPath"
    f" volumes {_WHERE}: only GPU-RDMA workspaces may run such pods."
)

_ALL_CONTAINERS = "request.object.spec.[containers, initContainers, ephemeralContainers][]"
_KYVERNO_CONDITIONS: dict[str, dict[str, Any]] = {
    "host-network": {
        "key": "{{ request.object.spec.hostNetwork || `false` }}",
        "operator": "Equals",
        "value": True,
    },
    "privileged": {
        "key": f"{{{{ {_ALL_CONTAINERS} || `[]` | [?securityContext.privileged == `true`] "
        "| length(@) }}",
        "operator": "GreaterThan",
        "value": 0,
    },
    "capabilities": {
        "key": f"{{{{ {_ALL_CONTAINERS}.securityContext.capabilities.add[] || `[]` "
        "| length(@) }}",
        "operator": "GreaterThan",
        "value": 0,
    },
    "infiniband-host-path": {
        "key": "{{ request.object.spec.volumes[?hostPath && regex_match("
        f"'{INFINIBAND_PATH_REGEX}', hostPath.path)] || `[]` | length(@) }}}}",
        "operator": "GreaterThan",
        "value": 0,
    },
}


def _metadata(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {MANAGED_BY: MANAGER}}
    if annotations:
        meta["annotations"] = annotations
    return meta


def kyverno_policy(*, exempt_namespaces: Sequence[str] = SYSTEM_NAMESPACES) -> dict[str, Any]:
    """The Kyverno ``ClusterPolicy`` enforcing the four rules outside RDMA namespaces."""
    exclude: list[dict[str, Any]] = [
        {
            "resources": {
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": RDMA_NAMESPACE_LABEL,
                            "operator": "In",
                            "values": [RDMA_NAMESPACE_VALUE],
                        }
                    ]
                }
            }
        }
    ]
    if exempt_namespaces:
        exclude.append({"resources": {"namespaces": list(exempt_namespaces)}})
    rules = [
        {
            "name": f"deny-{key}",
            # Only what creates or changes a pod: on DELETE there is no object to judge (and a
            # rule that fails to evaluate would block the deletion).
            "match": {
                "any": [
                    {
                        "resources": {
                            "kinds": ["Pod", "Pod/ephemeralcontainers"],
                            "operations": ["CREATE", "UPDATE"],
                        }
                    }
                ]
            },
            "exclude": {"any": exclude},
            "validate": {
                "failureAction": "Enforce",
                "message": message,
                "deny": {"conditions": {"any": [_KYVERNO_CONDITIONS[key]]}},
            },
        }
        for key, message in MESSAGES.items()
    ]
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": _metadata(
            NAME,
            {
                "pod-policies.kyverno.io/autogen-controllers": "none",
                "policies.kyverno.io/description": _DESCRIPTION,
            },
        ),
        "spec": {"background": False, "rules": rules},
    }


def _each_container(predicate: str) -> str:
    """``predicate`` (about ``c``) holds for every container of the three lists that exist."""
    return " && ".join(
        f"(!has(object.spec.{field}) || object.spec.{field}.all(c, {predicate}))"
        for field in ("containers", "initContainers", "ephemeralContainers")
    )


_CEL: dict[str, str] = {
    "host-network": "!has(object.spec.hostNetwork) || object.spec.hostNetwork == false",
    "privileged": _each_container(
        "!has(c.securityContext) || !has(c.securityContext.privileged)"
        " || c.securityContext.privileged == false"
    ),
    "capabilities": _each_container(
        "!has(c.securityContext) || !has(c.securityContext.capabilities)"
        " || !has(c.securityContext.capabilities.add)"
        " || size(c.securityContext.capabilities.add) == 0"
    ),
    "infiniband-host-path": "!has(object.spec.volumes) || object.spec.volumes.all(v,"
    f" !has(v.hostPath) || !v.hostPath.path.matches('{INFINIBAND_PATH_REGEX}'))",
}
"""Rule key -> CEL expression that is true when the pod is allowed."""


def admission_policies(
    *, exempt_namespaces: Sequence[str] = SYSTEM_NAMESPACES
) -> list[dict[str, Any]]:
    """The ``ValidatingAdmissionPolicy`` and its binding: the same rules without Kyverno."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _metadata(NAME),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods", "pods/ephemeralcontainers"],
                    }
                ]
            },
            "validations": [
                {"expression": _CEL[key], "message": message, "reason": "Forbidden"}
                for key, message in MESSAGES.items()
            ],
        },
    }
    expressions: list[dict[str, Any]] = [
        # NotIn also matches namespaces that lack the label (Kubernetes label selector semantics).
        {"key": RDMA_NAMESPACE_LABEL, "operator": "NotIn", "values": [RDMA_NAMESPACE_VALUE]}
    ]
    if exempt_namespaces:
        expressions.append(
            {"key": _NAMESPACE_NAME, "operator": "NotIn", "values": list(exempt_namespaces)}
        )
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": _metadata(BINDING_NAME),
        "spec": {
            "policyName": NAME,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": expressions}},
        },
    }
    return [policy, binding]
