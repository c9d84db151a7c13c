"""``ironplane identity policy APP``: the OCI IAM statements for an app's Workload Identity."""

from __future__ import annotations

from typing import Any

from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli
from tests.sdk.samples import APP_DETAIL, CLUSTER, VERSION, WORKSPACE

OCID = "ocid1.cluster.oc1.iad.aaaabbbb"


def _serve(server: FakeServer, identity: dict[str, Any] | None, cluster: dict[str, Any]) -> None:
    spec = {"kind": "Service", "name": "chat-api", **({"identity": identity} if identity else {})}
    server.on(
        "GET",
        "/workspaces/team-a/apps/chat-api",
        {**APP_DETAIL, "active": {**VERSION, "spec": spec}},
    )
    server.on("GET", "/workspaces/team-a", WORKSPACE)
    server.on("GET", "/clusters/oke-prod", cluster)


def test_prints_one_statement_per_permission(server: FakeServer) -> None:
    identity = {
        "service_account": "chat-reader",
        "permissions": ["read objects in compartment ml", "use secret-family in tenancy"],
    }
    _serve(server, identity, {**CLUSTER, "spec": {**CLUSTER["spec"], "ocid": OCID}})
    code, out, err = run_cli(["identity", "policy", "team-a/chat-api"])
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(" where ")[0] for line in lines] == [
        "Allow any-user to read objects in compartment ml",
        "Allow any-user to use secret-family in tenancy",
    ]
    assert all(
        "request.principal.namespace = 'team-a', request.principal.service_account = "
        f"'chat-reader', request.principal.cluster_id = '{OCID}'" in line
        for line in lines
    )
    assert err == ""


def test_missing_ocid_and_permissions_give_a_template_with_notes(server: FakeServer) -> None:
    _serve(server, {"service_account": "chat-reader"}, CLUSTER)
    code, out, err = run_cli(["identity", "policy", "team-a/chat-api"])
    assert code == 0
    assert "<verb> <resource> in <location>" in out and "'<cluster-ocid>'" in out
    assert "set `ocid` in Cluster 'oke-prod'" in err and "identity.permissions" in err


def test_refused_without_identity_or_on_a_basic_cluster(server: FakeServer) -> None:
    _serve(server, None, CLUSTER)
    code, _, err = run_cli(["identity", "policy", "team-a/chat-api"])
    assert code == 2 and "has no identity" in err
    _serve(server, {"service_account": "chat-reader"}, {**CLUSTER, "enhanced": False})
    code, _, err = run_cli(["identity", "policy", "team-a/chat-api"])
    assert code == 2 and "not an Enhanced OKE cluster" in err
