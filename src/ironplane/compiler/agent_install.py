"""The agent's install in a cluster (`ironplane cluster install-agent`), as Kubernetes objects.

Pure functions, no I/O: options in, objects and file texts out. The install is a namespace, a
service account bound to the least-privilege ClusterRole of ``agent_rbac``, the cluster's agent
token as a Secret, a NetworkPolicy (no ingress; egress to DNS, the control plane and the
Kubernetes API server only), the agent's Deployment, and a ``kustomization.yaml`` listing them
so that ``kubectl apply -k DIR`` installs them and a team can overlay them.

``deploy/agent-rbac.yaml`` is ``reference_manifest()``: the same objects for a placeholder
control plane, without the Secret and the NetworkPolicy (a test keeps the file identical).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ironplane.compiler.agent_rbac import BOOTSTRAP_RULES, RULES, rules, rules_yaml
from ironplane.compiler.pods import NONROOT_IMAGE_USER, container_security, pod_security
from ironplane.compiler.weights import IRONPLANE_IMAGE
from ironplane.core.errors import InvalidError
from ironplane.core.names import dns_label_problem
from ironplane.yamlsource import KUSTOMIZATION, kustomization, to_yaml

AGENT = "ironplane-agent"
"""The name of every object of the install (the Secret's too)."""
BOOTSTRAP_ROLE = "ironplane-agent-bootstrap"
"""The opt-in ClusterRole for `ironplane cluster bootstrap` (``install-agent --bootstrap``)."""
DEFAULT_NAMESPACE = "ironplane-system"
TOKEN_KEY = "token"
TOKEN_ANNOTATION = "ironplane.dev/agent-token"
"""On the pod template: the id (the public part) of the token in the Secret, so that applying a
new token rolls the agent (an env var from a Secret is read only when the container starts)."""
API_SERVER_PORTS = (443, 6443)
"""The API server's Service port and its usual endpoint port: most network plugins apply a
policy after the Service's address is translated to the endpoint's."""
DEFAULT_IMAGE = IRONPLANE_IMAGE
"""This release's image."""
HEALTH_PORT = 9464
"""``IRONPLANE_METRICS_PORT``: the agent serves ``/healthz`` (the liveness probe) and ``/metrics``
there (agent/http.py). Not declared as a container port: nothing but the kubelet (allowed from
the pod's node whatever the NetworkPolicy says) reaches it; open it with an overlay to scrape."""
REFERENCE_URL = "https://ironplane.example.com"
REFERENCE_IMAGE = "ghcr.io/ironplane/ironplane:latest"

_IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")  # as spec.base's Image
_TOKEN = re.compile(r"^ipt_([0-9a-f]{16})_[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """Where the agent dials: the URL it is given, and the address a policy lets it reach."""

    url: str
    host: str
    port: int
    secure: bool
    cidr: str | None
    """The host as a /32 (or /128) when the URL names an IP address; None for a DNS name."""


def control_plane(url: str) -> ControlPlane:
    """Check the control plane's URL (``https://host[:port][/prefix]``); InvalidError if bad."""
    text = url.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidError(f"control plane URL {url!r}: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise InvalidError(
            f"control plane URL {url!r}: it must start with https:// (or http://), "
            "e.g. https://ironplane.example.com"
        )
    if not parts.hostname:
        raise InvalidError(f"control plane URL {url!r}: it names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidError(f"control plane URL {url!r}: leave credentials out of the URL")
    if parts.query or parts.fragment or any(c.isspace() for c in text):
        raise InvalidError(f"control plane URL {url!r}: no query, fragment or spaces")
    secure = parts.scheme == "https"
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        found = None
    else:
        found = str(ipaddress.ip_network(address))
    return ControlPlane(
        url=text,
        host=parts.hostname,
        port=port or (443 if secure else 80),
        secure=secure,
        cidr=found,
    )


def cidr(text: str, *, option: str) -> str:
    """``text`` as a canonical CIDR (an address alone is a /32 or /128); InvalidError if bad."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError as exc:
        try:
            hint = f": did you mean {ipaddress.ip_network(text.strip(), strict=False)}?"
        except ValueError:
            hint = " (write an address or a CIDR, e.g. 10.0.0.0/16)"
        raise InvalidError(f"{option} {text!r}: {exc}{hint}") from None


def token_id(token: str) -> str:
    """The public id of an Ironplane bearer token (``ipt_<id>_<secret>``); InvalidError if the
    text is not one (the error never repeats the text: it may be a secret)."""
    found = _TOKEN.match(token.strip())
    if found is None:
        raise InvalidError(
            "the agent token is not an Ironplane token (ipt_<id>_<secret>): pass the token "
            "`ironplane cluster register` wrote, or --rotate"
        )
    return found.group(1)


@dataclass(frozen=True, slots=True)
class AgentInstall:
    """What `ironplane cluster install-agent` renders."""

    cluster: str
    control_plane_url: str
    token: str | None = field(repr=False)
    """The cluster's agent token; None checks everything else (the install needs one)."""
    image: str = DEFAULT_IMAGE
    namespace: str = DEFAULT_NAMESPACE
    api_server_cidrs: tuple[str, ...] = ()
    """Where the Kubernetes API server's endpoints are; empty: ports 443 and 6443 anywhere."""
    control_plane_cidrs: tuple[str, ...] = ()
    """Where the control plane is; empty: the URL's host when it is an address, else anywhere
    on the URL's port."""
    prometheus_url: str | None = None
    """The cluster's Prometheus the agent reads telemetry from (``Cluster.prometheus_url`` when
    the cluster has the ``prometheus`` add-on): the NetworkPolicy lets the agent reach it."""
    bootstrap: bool = False
    """Also grant what `ironplane cluster bootstrap` needs (``BOOTSTRAP_RULES``): the root Argo
    CD Application and the installer's cluster-admin binding. Off by default: with it the agent
    can grant cluster-admin."""


@dataclass(frozen=True, slots=True)
class _Checked:
    install: AgentInstall
    plane: ControlPlane
    token_id: str | None
    api_server: tuple[str, ...]
    control_plane: tuple[str, ...]


def _check(install: AgentInstall) -> _Checked:
    for what, value in (("cluster", install.cluster), ("namespace", install.namespace)):
        problem = dns_label_problem(value)
        if problem:
            raise InvalidError(f"{what} {value!r}: {problem}")
    image = install.image
    if not _IMAGE.match(image) or len(image) > 512:
        raise InvalidError(
            f"image {image!r}: not a container image reference "
            "(registry/repository[:tag][@sha256:digest], e.g. ghcr.io/ironplane/ironplane:0.1.0)"
        )
    plane = control_plane(install.control_plane_url)
    given = tuple(cidr(c, option="--control-plane-cidr") for c in install.control_plane_cidrs)
    return _Checked(
        install=install,
        plane=plane,
        token_id=None if install.token is None else token_id(install.token),
        api_server=tuple(
            dict.fromkeys(cidr(c, option="--api-server") for c in install.api_server_cidrs)
        ),
        control_plane=tuple(dict.fromkeys(given or ((plane.cidr,) if plane.cidr else ()))),
    )


def check(install: AgentInstall) -> None:
    """Raise InvalidError, naming the option, for anything the install cannot be made with."""
    _check(install)


def notes(install: AgentInstall) -> list[str]:
    """Warnings worth printing about an install (it renders all the same)."""
    checked = _check(install)
    out: list[str] = []
    if not checked.plane.secure:
        out.append(
            f"the control plane URL {checked.plane.url} is not https: the agent token and the "
            "cluster's secrets would cross the network in clear"
        )
    if not checked.control_plane:
        out.append(
            f"the NetworkPolicy lets the agent reach any address on port {checked.plane.port} "
            f"({checked.plane.host} is a DNS name): narrow it with --control-plane-cidr"
        )
    if not checked.api_server:
        out.append(
            "the NetworkPolicy lets the agent reach any address on ports 443 and 6443 (for the "
            "Kubernetes API server): narrow it with --api-server CIDR (the addresses of "
            "`kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes`)"
        )
    if install.prometheus_url and prometheus_egress(install.prometheus_url) is None:
        out.append(
            f"the NetworkPolicy cannot name the Prometheus at {install.prometheus_url} (neither "
            "SERVICE.NAMESPACE.svc nor an address): add an egress rule for it in an overlay, or "
            "the agent's GPU and request telemetry stays empty"
        )
    return out


# -- the objects


def _labels(cluster: str | None) -> dict[str, str]:
    # Never app.kubernetes.io/managed-by=ironplane: the agent prunes what carries it.
    labels = {"app.kubernetes.io/name": AGENT, "app.kubernetes.io/part-of": "ironplane"}
    if cluster is not None:
        labels["ironplane.dev/cluster"] = cluster
    return labels


def _meta(name: str, namespace: str | None, cluster: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = _labels(cluster)
    return meta


def namespace_object(namespace: str, cluster: str | None) -> dict[str, Any]:
    meta = _meta(namespace, None, cluster)
    meta["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(namespace: str, cluster: str | None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(AGENT, namespace, cluster),
    }


def cluster_role(cluster: str | None, *, bootstrap: bool = False) -> dict[str, Any]:
    """The agent's ClusterRole, or (``bootstrap``) the extra one cluster bootstrap needs."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(BOOTSTRAP_ROLE if bootstrap else AGENT, None, cluster),
        "rules": rules(BOOTSTRAP_RULES if bootstrap else RULES),
    }


def cluster_role_binding(
    namespace: str, cluster: str | None, *, bootstrap: bool = False
) -> dict[str, Any]:
    role = BOOTSTRAP_ROLE if bootstrap else AGENT
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(role, None, cluster),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": AGENT, "namespace": namespace}],
    }


def token_secret(namespace: str, cluster: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(AGENT, namespace, cluster),
        "type": "Opaque",
        "data": {TOKEN_KEY: base64.b64encode(token.strip().encode()).decode()},
    }


def deployment(
    namespace: str, cluster: str | None, *, url: str, image: str, token_id: str | None
) -> dict[str, Any]:
    """One replica, recreated (never two agents of one cluster at once), locked down; alive while
    its ``/healthz`` answers (whether or not the control plane is reachable)."""
    selector = {"app.kubernetes.io/name": AGENT}
    template_meta: dict[str, Any] = {"labels": _labels(cluster)}
    if token_id is not None:
        template_meta["annotations"] = {TOKEN_ANNOTATION: token_id}
    container = {
        "name": "agent",
        "image": image,
        "command": ["ironplane", "agent"],
        "env": [
            {"name": "IRONPLANE_SERVER_URL", "value": url},
            {"name": "IRONPLANE_RUNTIME", "value": "kubernetes"},
            {"name": "IRONPLANE_METRICS_PORT", "value": str(HEALTH_PORT)},
            {
                "name": "IRONPLANE_AGENT_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": AGENT, "key": TOKEN_KEY}},
            },
        ],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": HEALTH_PORT},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {"readOnlyRootFilesystem": True, **container_security()},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # Python's tempfiles
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(AGENT, namespace, cluster),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": template_meta,
                "spec": {
                    "serviceAccountName": AGENT,
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "securityContext": {**pod_security(), **NONROOT_IMAGE_USER},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def _egress(cidrs: Sequence[str], ports: Sequence[tuple[str, int]]) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if cidrs:  # no `to`: any destination (on these ports only)
        rule["to"] = [{"ipBlock": {"cidr": c}} for c in cidrs]
    rule["ports"] = [{"protocol": protocol, "port": port} for protocol, port in ports]
    return rule


def prometheus_egress(url: str) -> dict[str, Any] | None:
    """The egress rule to an in-cluster Prometheus (``http://SERVICE.NAMESPACE.svc[...]:PORT``,
    or an address), or None when the URL names neither (then an overlay must add it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    labels = host.split(".")
    if len(labels) >= 3 and labels[2] == "svc" and not dns_label_problem(labels[1]):
        namespace = {"matchLabels": {"kubernetes.io/metadata.name": labels[1]}}
        return {
            "to": [{"namespaceSelector": namespace}],
            "ports": [{"protocol": "TCP", "port": port}],
        }
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return _egress([f"{address}/{address.max_prefixlen}"], [("TCP", port)])


def network_policy(checked: _Checked) -> dict[str, Any]:
    """No ingress at all; egress to kube-dns, the control plane, the API server and (when the
    cluster has one) its Prometheus only."""
    install = checked.install
    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    prometheus = prometheus_egress(install.prometheus_url) if install.prometheus_url else None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(AGENT, install.namespace, install.cluster),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": AGENT}},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [
                dns,
                _egress(checked.control_plane, [("TCP", checked.plane.port)]),
                _egress(checked.api_server, [("TCP", p) for p in API_SERVER_PORTS]),
                *([prometheus] if prometheus else []),
            ],
        },
    }


def install_objects(install: AgentInstall) -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) of the install, in the order to apply them."""
    checked = _check(install)
    if install.token is None:
        raise InvalidError("the install needs the cluster's agent token")
    ns, name = install.namespace, install.cluster
    return [
        ("namespace.yaml", namespace_object(ns, name)),
        ("serviceaccount.yaml", service_account(ns, name)),
        ("clusterrole.yaml", cluster_role(name)),
        ("clusterrolebinding.yaml", cluster_role_binding(ns, name)),
        *(
            [
                ("clusterrole-bootstrap.yaml", cluster_role(name, bootstrap=True)),
                (
                    "clusterrolebinding-bootstrap.yaml",
                    cluster_role_binding(ns, name, bootstrap=True),
                ),
            ]
            if install.bootstrap
            else []
        ),
        ("secret.yaml", token_secret(ns, name, install.token)),
        ("networkpolicy.yaml", network_policy(checked)),
        (
            "deployment.yaml",
            deployment(
                ns, name, url=checked.plane.url, image=install.image, token_id=checked.token_id
            ),
        ),
    ]


# -- as files


def object_yaml(obj: Mapping[str, Any]) -> str:
    """One object as YAML; a ClusterRole's rules each under the comment saying why."""
    if obj.get("kind") != "ClusterRole":
        return to_yaml(dict(obj))
    head = {k: v for k, v in obj.items() if k != "rules"}
    table = BOOTSTRAP_RULES if obj["metadata"]["name"] == BOOTSTRAP_ROLE else RULES
    assert obj.get("rules") == rules(table), "only the agent's ClusterRoles are rendered"
    return to_yaml(head) + rules_yaml(table=table)


_SECRET_NOTE = (
    "# The cluster's agent token: it reads the cluster's desired state, secret values included.\n"
    "# Keep this file private; `ironplane cluster rotate-token` replaces it.\n"
)


def install_files(install: AgentInstall) -> dict[str, str]:
    """File name → YAML text: one object per file, then ``kustomization.yaml`` listing them."""
    objects = install_objects(install)
    files = {
        name: (_SECRET_NOTE if obj["kind"] == "Secret" else "") + object_yaml(obj)
        for name, obj in objects
    }
    files[KUSTOMIZATION] = (
        f"# The Ironplane agent of cluster {install.cluster}, from `ironplane cluster "
        "install-agent`.\n# Install: kubectl apply -k <this directory>. Change it with an "
        "overlay rather than by hand.\n" + to_yaml(kustomization([name for name, _ in objects]))
    )
    return files


def install_stream(install: AgentInstall) -> str:
    """The install as one multi-document YAML stream (without the kustomization)."""
    files = install_files(install)
    return "---\n".join(text for name, text in files.items() if name != KUSTOMIZATION)


_REFERENCE_HEADER = """\
# GENERATED from src/ironplane/compiler/agent_rbac.py and agent_install.py (a test keeps this
# file identical to `agent_install.reference_manifest()`): edit those, not this file.
#
# The Ironplane agent in a cluster: its namespace, service account, least-privilege RBAC and
# Deployment. `ironplane cluster install-agent CLUSTER` renders all of it for your control
# plane, with the token Secret and a NetworkPolicy (see docs/agent.md); to do it by hand:
#
#   kubectl create namespace ironplane-system          # or let the first document do it
#   kubectl -n ironplane-system create secret generic ironplane-agent \\
#       --from-file=token=agent-token                  # the token `cluster register` wrote
#   kubectl apply -f deploy/agent-rbac.yaml            # after setting IRONPLANE_SERVER_URL below
#
# The agent dials out to the control plane (no Service, no inbound port) and talks to the
# Kubernetes API with the service account token Kubernetes mounts. One replica, recreated: two
# agents of one cluster would converge against each other. Pin a release's image in production.
# Each rule of the ClusterRole lists only the verbs the agent's code (src/ironplane/agent/kube)
# uses:
#   create + patch  server-side apply (a PATCH that creates the object when it is absent);
#                   `create` also starts job runs (a POST), `patch` also acts on what runs
#                   (restart, rollout promote/abort, stopping a run);
#   get             reading one object back (CRDs waited on, pod logs, a run's template);
#   list + watch    the watches statuses and job runs come from, and the lists prune reads;
#   delete          prune: owned objects (label app.kubernetes.io/managed-by=ironplane) that are
#                   no longer desired.
# RBAC cannot narrow a rule to labelled objects: `list` on a kind reads every object of it in the
# cluster. Prune needs that for the kinds the agent writes, Secrets included.
"""


def reference_objects() -> list[dict[str, Any]]:
    """The objects of ``deploy/agent-rbac.yaml``: a placeholder URL, no token, no policy."""
    ns = DEFAULT_NAMESPACE
    return [
        namespace_object(ns, None),
        service_account(ns, None),
        cluster_role(None),
        cluster_role_binding(ns, None),
        deployment(ns, None, url=REFERENCE_URL, image=REFERENCE_IMAGE, token_id=None),
    ]


def reference_manifest() -> str:
    """The text of ``deploy/agent-rbac.yaml``."""
    return _REFERENCE_HEADER + "".join("---\n" + object_yaml(o) for o in reference_objects())


_BOOTSTRAP_HEADER = """\
# GENERATED from src/ironplane/compiler/agent_rbac.py and agent_install.py (a test keeps this
# file identical to `agent_install.reference_bootstrap_manifest()`): edit those, not this file.
#
# OPT-IN: what `ironplane cluster bootstrap` needs on top of deploy/agent-rbac.yaml (rendered by
# `ironplane cluster install-agent --bootstrap`). The root Argo CD Application of the add-on
# stack, and the binding of the Argo CD installer Job to cluster-admin: with this role the agent
# can grant cluster-admin. Keep it while the cluster is bootstrapped (the agent keeps applying
# the root Application); with an existing Argo CD (bootstrap.existing.argo-cd) only the first
# rule is used.
"""


def reference_bootstrap_manifest() -> str:
    """The text of ``deploy/agent-bootstrap-rbac.yaml``."""
    ns = DEFAULT_NAMESPACE
    objects = [cluster_role(None, bootstrap=True), cluster_role_binding(ns, None, bootstrap=True)]
    return _BOOTSTRAP_HEADER + "".join("---\n" + object_yaml(o) for o in objects)
