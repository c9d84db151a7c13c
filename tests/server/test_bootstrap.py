"""POST /clusters/{cluster}/bootstrap: the add-on stack goes into the cluster's desired state
(bumping its revision once), follows existing add-ons, is refused when invalid, and is the same
stack `apply -f cluster.yaml` with a bootstrap section gives."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ironplane.server.db.tables import AuditEventRow
from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml, make_user

pytestmark = pytest.mark.anyio

ROOT = "ironplane-addons"


async def desired(api: httpx.AsyncClient, cluster: str = "oke-prod") -> dict[str, Any]:
    r = await api.get(f"/clusters/{cluster}/desired")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def root_children(state: dict[str, Any]) -> dict[str, Any]:
    [root] = [o for o in state["objects"] if o["kind"] == "Application"]
    assert root["metadata"]["name"] == ROOT
    children: dict[str, Any] = root["spec"]["source"]["helm"]["valuesObject"]["applications"]
    return children


async def bootstrap(api: httpx.AsyncClient, section: dict[str, Any], **extra: Any) -> Any:
    r = await api.post("/clusters/oke-prod/bootstrap", json={"bootstrap": section, **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def test_bootstrap_puts_the_app_of_apps_into_the_desired_state_once(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, WORKSPACE)
    before = await desired(api)
    assert not [o for o in before["objects"] if o["kind"] == "Application"]

    result = await bootstrap(api, {"extras": ["victoria-logs"]})
    assert result["changed"] is True and result["revision"] == before["revision"] + 1
    assert result["profile"] == "oci-bare-metal" and result["installs_argo_cd"] is True
    state = await desired(api)
    assert state["revision"] == before["revision"] + 1
    kinds = [o["kind"] for o in state["objects"]]
    assert {"Application", "Job", "ClusterRoleBinding", "Gateway"} <= set(kinds)
    assert "Topology" in kinds  # the profile's objects stay
    children = root_children(state)
    assert {"argo-cd", "kueue", "gpu-operator", "victoria-logs", "vector"} <= set(children)
    assert {a["name"] for a in result["applications"]} == set(children)
    # The Cluster's add-ons follow: the compiler's gating sees every installed add-on.
    spec = (await api.get("/clusters/oke-prod")).json()["spec"]
    assert {"istio", "kueue", "prometheus", "argo-rollouts", "victoria-logs"} <= set(spec["addons"])
    assert spec["bootstrap"] == {"extras": ["victoria-logs"]}

    # The same bootstrap again: nothing changes, no new revision.
    again = await bootstrap(api, {"extras": ["victoria-logs"]})
    assert again["changed"] is False and again["revision"] == state["revision"]
    assert (await desired(api))["revision"] == state["revision"]
    assert (await desired(api))["hash"] == state["hash"]


async def test_two_existing_addons_leave_exactly_their_applications_out(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER, WORKSPACE)
    await bootstrap(api, {})
    full = set(root_children(await desired(api)))

    result = await bootstrap(
        api,
        {
            "existing": {
                "prometheus": {"namespace": "obs", "endpoint": "http://prom.obs.svc:9090"},
                "istio": {"namespace": "mesh"},
            }
        },
    )
    assert result["changed"] is True
    state = await desired(api)
    left = set(root_children(state))
    assert full - left == {"kube-prometheus-stack", "istio-base", "istiod", "istio-ingressgateway"}
    # Ironplane now points at them.
    spec = (await api.get("/clusters/oke-prod")).json()["spec"]
    assert spec["prometheus_url"] == "http://prom.obs.svc:9090"
    assert spec["ingress_gateway"] == "mesh/ironplane-ingress"
    assert {"prometheus", "istio"} <= set(spec["addons"])
    [gateway] = [o for o in state["objects"] if o["kind"] == "Gateway"]
    assert gateway["metadata"]["namespace"] == "mesh"
    kueue = root_children(state)["kueue"]["source"]["helm"]["valuesObject"]
    assert kueue["metrics"]["prometheusNamespace"] == "obs"  # monitors go where Prometheus is

    # Dropping them again gives the whole stack back and the defaults.
    await bootstrap(api, {})
    assert set(root_children(await desired(api))) == full
    spec = (await api.get("/clusters/oke-prod")).json()["spec"]
    assert "prometheus_url" not in spec and "ingress_gateway" not in spec


async def test_an_existing_argo_cd_gets_the_applications_and_no_installer(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER)
    result = await bootstrap(api, {"existing": {"argo-cd": {"namespace": "gitops"}}})
    assert result["installs_argo_cd"] is False and result["argocd_namespace"] == "gitops"
    state = await desired(api)
    assert not [o for o in state["objects"] if o["kind"] in ("Job", "ClusterRoleBinding")]
    in_argo = [o for o in state["objects"] if o["kind"] in ("Application", "Secret")]
    assert in_argo and {o["metadata"]["namespace"] for o in in_argo} == {"gitops"}
    assert "argo-cd" not in root_children(state)


async def test_a_dry_run_changes_nothing_and_a_real_run_is_audited(server: Server) -> None:
    api = server.admin
    await apply_yaml(api, CLUSTER)
    revision = (await desired(api))["revision"]
    result = await bootstrap(api, {"skip": ["kuberay"]}, dry_run=True)
    assert result["dry_run"] is True and result["changed"] is True
    assert result["revision"] == revision
    assert "kuberay-operator" not in {a["name"] for a in result["applications"]}
    assert (await desired(api))["revision"] == revision
    await bootstrap(api, {"skip": ["kuberay"]})
    async with server.app.state.services.db.session() as s:
        events = (
            await s.scalars(
                select(AuditEventRow).where(AuditEventRow.action == "cluster.bootstrap")
            )
        ).all()
    [event] = events
    assert event.target == "cluster/oke-prod" and event.details["changed"] is True
    assert "kuberay" not in event.details["installed"] and "kueue" in event.details["installed"]


async def test_apply_with_a_bootstrap_section_gives_the_same_stack(server: Server) -> None:
    api = server.admin
    section = "bootstrap:\n  existing:\n    prometheus: {namespace: obs}\n"
    await apply_yaml(api, CLUSTER + section)
    by_apply = await desired(api)
    spec = (await api.get("/clusters/oke-prod")).json()["spec"]
    assert spec["prometheus_url"] == "http://prometheus-operated.obs.svc:9090"
    again = await bootstrap(api, {"existing": {"prometheus": {"namespace": "obs"}}})
    assert again["changed"] is False
    assert (await desired(api))["hash"] == by_apply["hash"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"bootstrap": {"existing": {"promethus": {"namespace": "obs"}}}}, 422, "promethus"),
        (
            {"bootstrap": {"existing": {"prometheus": {"namespace": "o", "endpoint": "x:90"}}}},
            422,
            "http(s) URL",
        ),
        ({"bootstrap": {"extras": ["grafana"]}}, 422, "victoria-logs"),
        ({"bootstrap": {"skip": ["kueue"], "existing": {"kueue": {"namespace": "k"}}}}, 422, ""),
        ({"bootstrap": {"profile": "oci-bare-metal"}}, 400, "needs provider: oci"),
    ],
)
async def test_bad_bootstraps_are_refused_and_change_nothing(
    server: Server, body: dict[str, Any], status: int, text: str
) -> None:
    api = server.admin
    await apply_yaml(api, "kind: Cluster\nname: oke-prod\nprovider: generic\n")
    before = await desired(api)
    r = await api.post("/clusters/oke-prod/bootstrap", json=body)
    assert r.status_code == status, r.text
    assert text in r.text
    assert (await desired(api))["revision"] == before["revision"]


async def test_bootstrap_needs_clusters_write_on_the_cluster(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE)
    token = await make_user(server, "vic", role="viewer", scope=("cluster", "oke-prod"))
    r = await server.client(token).post("/clusters/oke-prod/bootstrap", json={"bootstrap": {}})
    assert r.status_code == 403
    r = await server.admin.post("/clusters/nope/bootstrap", json={"bootstrap": {}})
    assert r.status_code == 404
