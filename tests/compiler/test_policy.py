"""The cluster admission policy, tested by evaluating it.

* The ValidatingAdmissionPolicy's CEL expressions run in a real CEL implementation (cel-python)
  with the pod bound to ``object``, as the API server binds it.
* The binding's namespace selector runs in a small evaluator of Kubernetes label selectors.
* The Kyverno ClusterPolicy runs in a small evaluator of the subset it uses: match/exclude,
  ``deny.conditions.any`` with ``Equals`` and ``GreaterThan``, and ``{{ }}`` variables resolved
  with a real JMESPath implementation (the ``jmespath`` package, a dependency of cel-python) plus
  Kyverno's ``regex_match`` function.

Every pod of the matrix is also checked against the Pod schema, so that the cases are pods the
API server would accept.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import celpy
import jmespath
import jmespath.functions
import pytest

from ironplane.compiler.policy import (
    MESSAGES,
    NAME,
    RDMA_NAMESPACE_LABEL,
    admission_policies,
    kyverno_policy,
)

Validate = Callable[[Sequence[dict[str, Any]]], None]
Pod = dict[str, Any]
NAMESPACE_NAME = "kubernetes.io/metadata.name"

# --- the pod matrix -------------------------------------------------------------------------

_RESTRICTED_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def restricted_pod(name: str = "allowed") -> Pod:
    """A pod that Pod Security ``restricted`` admits: nothing here may be denied."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "securityContext": copy.deepcopy(_RESTRICTED_CONTEXT),
                }
            ],
            "initContainers": [
                {
                    "name": "init",
                    "image": "busybox:1.36",
                    "securityContext": copy.deepcopy(_RESTRICTED_CONTEXT),
                }
            ],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }


def _ephemeral(security_context: dict[str, Any]) -> dict[str, Any]:
    return {"name": "debug", "image": "busybox:1.36", "securityContext": security_context}


def _host_path(path: str) -> dict[str, Any]:
    return {"name": "host", "hostPath": {"path": path, "type": "Directory"}}


Change = Callable[[Pod], None]


def _set(path: str, value: Any) -> Change:
    """A change that sets one field, ``spec.containers.0.securityContext.privileged`` style."""

    def change(pod: Pod) -> None:
        *parents, last = path.split(".")
        node: Any = pod
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[last] = value

    return change


def _add_volume(path: str) -> Change:
    return lambda pod: pod["spec"]["volumes"].append(_host_path(path))


# Each denied case sets exactly one privileged field on the restricted pod; the rule key is the
# one rule that must deny it (and no other rule may).
DENIED: dict[str, tuple[Change, str]] = {
    "hostNetwork": (_set("spec.hostNetwork", True), "host-network"),
    "privileged container": (
        _set("spec.containers.0.securityContext.privileged", True),
        "privileged",
    ),
    "privileged initContainer": (
        _set("spec.initContainers.0.securityContext.privileged", True),
        "privileged",
    ),
    "privileged ephemeralContainer": (
        _set("spec.ephemeralContainers", [_ephemeral({"privileged": True})]),
        "privileged",
    ),
    "capability add in container": (
        _set("spec.containers.0.securityContext.capabilities.add", ["IPC_LOCK"]),
        "capabilities",
    ),
    "capability add in initContainer": (
        _set("spec.initContainers.0.securityContext.capabilities.add", ["NET_ADMIN"]),
        "capabilities",
    ),
    "capability add in ephemeralContainer": (
        _set("spec.ephemeralContainers", [_ephemeral({"capabilities": {"add": ["SYS_PTRACE"]}})]),
        "capabilities",
    ),
    "hostPath /dev/infiniband": (_add_volume("/dev/infiniband"), "infiniband-host-path"),
    "hostPath /dev/infiniband/uverbs0": (
        _add_volume("/dev/infiniband/uverbs0"),
        "infiniband-host-path",
    ),
    "hostPath /dev/infiniband/": (_add_volume("/dev/infiniband/"), "infiniband-host-path"),
    "hostPath //dev//infiniband": (_add_volume("//dev//infiniband"), "infiniband-host-path"),
    "hostPath /dev (an ancestor)": (_add_volume("/dev"), "infiniband-host-path"),
    "hostPath / (an ancestor)": (_add_volume("/"), "infiniband-host-path"),
}

ALLOWED: dict[str, Change] = {
    "restricted pod": lambda pod: None,
    "hostPath /var/log": _add_volume("/var/log"),
    "hostPath /dev/shm": _add_volume("/dev/shm"),
    "hostPath /dev/infinibandx": _add_volume("/dev/infinibandx"),
    "hostPath /devices": _add_volume("/devices"),
    "hostNetwork false": _set("spec.hostNetwork", False),
    "privileged false": _set("spec.containers.0.securityContext.privileged", False),
    "empty capabilities.add": _set("spec.containers.0.securityContext.capabilities.add", []),
    "unprivileged ephemeralContainer": _set(
        "spec.ephemeralContainers", [_ephemeral({"capabilities": {"drop": ["ALL"]}})]
    ),
    # Missing optional fields: no securityContext, no initContainers, no volumes.
    "minimal pod": lambda pod: pod.update(
        spec={"containers": [{"name": "app", "image": "busybox:1.36"}]}
    ),
    "securityContext without capabilities": _set("spec.containers.0.securityContext", {}),
    "capabilities without add": _set(
        "spec.initContainers.0.securityContext.capabilities", {"drop": ["ALL"]}
    ),
}


def _pod(change: Change, name: str) -> Pod:
    pod = restricted_pod(re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
    change(pod)
    return pod


CASES: list[tuple[str, Pod, set[str]]] = [
    (name, _pod(change, name), {rule}) for name, (change, rule) in DENIED.items()
] + [(name, _pod(change, name), set()) for name, change in ALLOWED.items()]
CASE_IDS = [name for name, _, _ in CASES]


def test_matrix_pods_are_valid_pods(validated: Validate) -> None:
    validated([pod for _, pod, _ in CASES])


def test_each_denied_case_changes_one_field_of_the_restricted_pod() -> None:
    base = restricted_pod()
    for name, pod, _ in CASES[: len(DENIED)]:
        changed = [key for key in pod["spec"] if pod["spec"].get(key) != base["spec"].get(key)]
        assert len(changed) == 1, (name, changed)


# --- the objects ------------------------------------------------------------------------------


def test_objects_validate_against_upstream_schemas(validated: Validate) -> None:
    validated([kyverno_policy(), *admission_policies()])
    validated([kyverno_policy(exempt_namespaces=()), *admission_policies(exempt_namespaces=())])


def test_names_label_and_actions() -> None:
    kyverno = kyverno_policy()
    vap, binding = admission_policies()
    assert RDMA_NAMESPACE_LABEL == "ironplane.dev/rdma"
    for obj in (kyverno, vap, binding):
        assert obj["metadata"]["name"].startswith("ironplane-")
    assert (vap["kind"], binding["kind"]) == (
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    )
    assert binding["spec"]["policyName"] == vap["metadata"]["name"] == NAME
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert vap["spec"]["failurePolicy"] == "Fail"
    (rule,) = vap["spec"]["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == [""] and rule["apiVersions"] == ["v1"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE"}
    # Ephemeral containers only ever arrive through the subresource (kubectl debug).
    assert set(rule["resources"]) == {"pods", "pods/ephemeralcontainers"}
    assert [v["message"] for v in vap["spec"]["validations"]] == list(MESSAGES.values())
    assert all(v["message"] for v in vap["spec"]["validations"])
    # Kyverno: enforced rule by rule, one per VAP validation, same messages, no autogen.
    rules = kyverno["spec"]["rules"]
    assert [r["name"] for r in rules] == [f"deny-{key}" for key in MESSAGES]
    assert [r["validate"]["message"] for r in rules] == list(MESSAGES.values())
    assert {r["validate"]["failureAction"] for r in rules} == {"Enforce"}
    annotations = kyverno["metadata"]["annotations"]
    assert annotations["pod-policies.kyverno.io/autogen-controllers"] == "none"


# --- CEL (ValidatingAdmissionPolicy) ----------------------------------------------------------

_CEL = celpy.Environment()


def _cel_programs() -> list[tuple[str, celpy.Runner]]:
    vap = admission_policies()[0]
    return [
        (key, _CEL.program(_CEL.compile(validation["expression"])))
        for key, validation in zip(MESSAGES, vap["spec"]["validations"], strict=True)
    ]


CEL_PROGRAMS = _cel_programs()


def cel_denials(pod: Pod) -> set[str]:
    """Rule keys whose expression is false; an evaluation error fails the test (and, with
    ``failurePolicy: Fail``, would deny every pod in the cluster)."""
    activation = {"object": celpy.json_to_cel(pod)}
    denied = set()
    for key, program in CEL_PROGRAMS:
        result = program.evaluate(activation)
        assert isinstance(result, celpy.celtypes.BoolType), (key, result)
        if not result:
            denied.add(key)
    return denied


@pytest.mark.parametrize(("name", "pod", "expected"), CASES, ids=CASE_IDS)
def test_cel_allows_and_denies(name: str, pod: Pod, expected: set[str]) -> None:
    assert cel_denials(pod) == expected


def test_cel_denies_every_field_together() -> None:
    pod = restricted_pod()
    for change, _ in DENIED.values():
        change(pod)
    assert cel_denials(pod) == set(MESSAGES)


# --- the binding's namespace selector ---------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics (concepts/overview/working-with-objects/labels):
    all requirements are ANDed; ``In``: key present with a listed value; ``NotIn``: key absent
    or its value not listed; ``Exists``/``DoesNotExist``: key present/absent. An empty selector
    matches everything."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions", []):
        key, op, values = req["key"], req["operator"], req.get("values", [])
        if op in ("In", "NotIn"):
            assert values, f"{op} needs values"
        elif op in ("Exists", "DoesNotExist"):
            assert not values, f"{op} takes no values"
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def namespace(name: str, **labels: str) -> dict[str, str]:
    """A namespace's labels, with the name label the API server sets on every namespace."""
    return {NAMESPACE_NAME: name, **labels}


def _ns(name: str, rdma: str | None = None, **labels: str) -> dict[str, str]:
    found = namespace(name, **labels)
    if rdma is not None:
        found[RDMA_NAMESPACE_LABEL] = rdma
    return found


# (namespace labels, does the policy apply there?)
NAMESPACES: list[tuple[str, dict[str, str], bool]] = [
    ("unlabelled", _ns("prod"), True),
    (
        "restricted workspace",
        _ns("prod", **{"pod-security.kubernetes.io/enforce": "restricted"}),
        True,
    ),
    ("rdma=false", _ns("other", rdma="false"), True),
    ("rdma empty", _ns("other", rdma=""), True),
    ("rdma=true", _ns("training", rdma="true"), False),
    ("kube-system", _ns("kube-system"), False),
]


def vap_applies(labels: Mapping[str, str], exempt: Sequence[str] | None = None) -> bool:
    binding = (
        admission_policies()[1]
        if exempt is None
        else admission_policies(exempt_namespaces=exempt)[1]
    )
    return selector_matches(binding["spec"]["matchResources"]["namespaceSelector"], labels)


@pytest.mark.parametrize(
    ("labels", "applies"), [(n[1], n[2]) for n in NAMESPACES], ids=[n[0] for n in NAMESPACES]
)
def test_binding_namespace_selector(labels: dict[str, str], applies: bool) -> None:
    assert vap_applies(labels) is applies


def test_binding_exempt_namespaces_parameter() -> None:
    assert vap_applies(_ns("gpu-operator"))
    assert not vap_applies(_ns("gpu-operator"), exempt=("kube-system", "gpu-operator"))
    assert vap_applies(_ns("kube-system"), exempt=())
    assert not vap_applies(_ns("kube-system", rdma="true"), exempt=())


def test_selector_evaluator_semantics() -> None:
    """The evaluator itself, on the cases the Kubernetes docs spell out."""
    sel = {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}
    assert selector_matches(sel, {}) and selector_matches(sel, {"a": "y"})
    assert not selector_matches(sel, {"a": "x"})
    sel = {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}
    assert not selector_matches(sel, {}) and selector_matches(sel, {"a": "x"})
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""})
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {})
    assert not selector_matches({"matchLabels": {"a": "x"}}, {"a": "y"})
    assert selector_matches({}, {"anything": "at all"})


# --- Kyverno ----------------------------------------------------------------------------------


class KyvernoFunctions(jmespath.functions.Functions):
    """Kyverno's JMESPath extension used by the policy (docs: writing-policies/jmespath,
    "regex_match"): Go ``regexp.MatchString``, an unanchored RE2 search."""

    @jmespath.functions.signature({"types": ["string"]}, {"types": ["string", "number"]})
    def _func_regex_match(self, pattern: str, value: str | float) -> bool:
        return re.search(pattern, str(value)) is not None


_JMESPATH = jmespath.Options(custom_functions=KyvernoFunctions())
_VARIABLE = re.compile(r"^\{\{(.*)\}\}$", re.DOTALL)


def substitute(key: Any, context: Mapping[str, Any]) -> Any:
    """Kyverno variables (docs: writing-policies/variables): a value that is one ``{{ expr }}``
    becomes the JMESPath result, keeping its JSON type; a result of null is an error (the rule
    errors instead of passing), which is why the policy gives defaults with ``||``."""
    if not isinstance(key, str) or "{{" not in key:
        return key
    match = _VARIABLE.match(key.strip())
    assert match, f"only whole-value variables are used: {key!r}"
    result = jmespath.search(match[1].strip(), context, options=_JMESPATH)
    if result is None:
        raise LookupError(f"variable {match[1].strip()!r} resolved to null")
    return result


def _number(value: Any) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return float(value)


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """The operators used (docs: writing-policies/preconditions, "Operators"): ``Equals`` (same
    type and value: a bool key compares to a bool value) and ``GreaterThan`` (numeric)."""
    key = substitute(condition["key"], context)
    value = substitute(condition["value"], context)
    operator = condition["operator"]
    if operator == "Equals":
        return type(key) is type(value) and key == value
    if operator == "GreaterThan":
        return _number(key) > _number(value)
    raise AssertionError(f"operator {operator} is outside the evaluated subset")


def _resource_filter_matches(
    resources: Mapping[str, Any],
    kind: str,
    ns: str,
    ns_labels: Mapping[str, str],
    operation: str = "CREATE",
) -> bool:
    """One ``resources`` filter (docs: writing-policies/match-exclude): every field it sets must
    match. ``namespaceSelector`` is a Kubernetes label selector on the namespace's labels;
    ``operations`` lists the admission operations (without it: all of them)."""
    allowed = {"kinds", "namespaces", "namespaceSelector", "operations"}
    assert set(resources) <= allowed, f"unevaluated filter fields {set(resources) - allowed}"
    if "kinds" in resources and kind not in resources["kinds"]:
        return False
    if "operations" in resources and operation not in resources["operations"]:
        return False
    if "namespaces" in resources and ns not in resources["namespaces"]:
        return False
    return "namespaceSelector" not in resources or selector_matches(
        resources["namespaceSelector"], ns_labels
    )


def _block_matches(
    block: Mapping[str, Any], kind: str, ns_labels: Mapping[str, str], operation: str = "CREATE"
) -> bool:
    """A ``match``/``exclude`` block with ``any``: at least one filter matches."""
    assert set(block) == {"any"}
    name = ns_labels[NAMESPACE_NAME]
    return any(
        _resource_filter_matches(f["resources"], kind, name, ns_labels, operation)
        for f in block["any"]
    )


def kyverno_denials(
    pod: Pod,
    ns_labels: Mapping[str, str] | None = None,
    kind: str = "Pod",
    policy: Mapping[str, Any] | None = None,
    operation: str = "CREATE",
) -> set[str]:
    """Rule keys (without ``deny-``) that deny the request (docs: writing-policies/validate,
    "Deny rules": the request is denied when the conditions hold)."""
    policy = policy or kyverno_policy()
    ns_labels = ns_labels or namespace("prod")
    # On DELETE the admission request carries no object (it is null).
    context = {
        "request": {"object": None if operation == "DELETE" else pod, "operation": operation}
    }
    denied = set()
    for rule in policy["spec"]["rules"]:
        if not _block_matches(rule["match"], kind, ns_labels, operation):
            continue
        if _block_matches(rule["exclude"], kind, ns_labels):
            continue
        conditions = rule["validate"]["deny"]["conditions"]
        assert set(conditions) == {"any"}
        if any(condition_holds(c, context) for c in conditions["any"]):
            denied.add(rule["name"].removeprefix("deny-"))
    return denied


@pytest.mark.parametrize(("name", "pod", "expected"), CASES, ids=CASE_IDS)
def test_kyverno_allows_and_denies(name: str, pod: Pod, expected: set[str]) -> None:
    assert kyverno_denials(pod) == expected
    # kubectl debug adds ephemeral containers through the subresource: matched too.
    assert kyverno_denials(pod, kind="Pod/ephemeralcontainers") == expected
    # Kinds the rules do not name are not evaluated (autogen is off).
    assert kyverno_denials(pod, kind="Deployment") == set()


def test_kyverno_never_judges_deletions() -> None:
    """A rule evaluated on DELETE would see no object; the rules match CREATE and UPDATE only."""
    pod = restricted_pod()
    for change, _ in DENIED.values():
        change(pod)
    assert kyverno_denials(pod, operation="UPDATE") == set(MESSAGES)
    assert kyverno_denials(pod, operation="DELETE") == set()


def test_kyverno_keys_evaluate_on_a_pod_without_containers_lists() -> None:
    pod: Pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"}, "spec": {}}
    assert kyverno_denials(pod) == set()


def test_kyverno_denies_every_field_together() -> None:
    pod = restricted_pod()
    for change, _ in DENIED.values():
        change(pod)
    assert kyverno_denials(pod) == set(MESSAGES)


@pytest.mark.parametrize(
    ("labels", "applies"), [(n[1], n[2]) for n in NAMESPACES], ids=[n[0] for n in NAMESPACES]
)
def test_kyverno_namespace_exclusion(labels: dict[str, str], applies: bool) -> None:
    pod = restricted_pod()
    for change, _ in DENIED.values():
        change(pod)
    assert kyverno_denials(pod, labels) == (set(MESSAGES) if applies else set())
    # Both forms exempt exactly the same namespaces.
    assert vap_applies(labels) is applies


def test_kyverno_exempt_namespaces_parameter() -> None:
    pod = _pod(DENIED["hostNetwork"][0], "host")
    operator_ns = _ns("gpu-operator")
    assert kyverno_denials(pod, operator_ns) == {"host-network"}
    exempt = kyverno_policy(exempt_namespaces=("kube-system", "gpu-operator"))
    assert kyverno_denials(pod, operator_ns, policy=exempt) == set()
    none_exempt = kyverno_policy(exempt_namespaces=())
    assert kyverno_denials(pod, _ns("kube-system"), policy=none_exempt) == {"host-network"}


def test_kyverno_variable_without_default_would_error() -> None:
    """The evaluator reproduces Kyverno's null-variable error, so the allowed cases above prove
    that every key has a default for missing fields."""
    with pytest.raises(LookupError):
        substitute(
            "{{ request.object.spec.hostNetwork }}", {"request": {"object": restricted_pod()}}
        )
