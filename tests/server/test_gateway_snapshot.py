"""GET /gateway/snapshot: models from Model apps, keys from API tokens, ETag and 304."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from ironplane.server.db.tables import ApiTokenRow, ClusterRow
from ironplane.server.db.types import utcnow
from tests.server.conftest import Server
from tests.server.helpers import (
    CLUSTER,
    WORKSPACE,
    apply_yaml,
    error_of,
    gateway_token,
    make_user,
    set_status,
)

pytestmark = pytest.mark.anyio

LLAMA = (
    "kind: Model\nname: llama\nworkspace: prod\nengine: vllm\n"
    "model: meta-llama/Llama-3.1-8B-Instruct\nresources: {gpu: {count: 1, type: H100}}\n"
    "gateway: {name: llama-3.1-8b}\n"
)
TGI = (
    "kind: Model\nname: mistral\nworkspace: prod\nengine: tgi\nmodel: mistralai/Mistral-7B\n"
    "port: 8080\nresources: {gpu: {count: 1, type: H100}}\n"
    "autoscaling: {min: 0, max: 2, metric: rps, target: 4}\n"
)
LOCAL = "kind: Cluster\nname: laptop\n"
LOCAL_WS = "kind: Workspace\nname: dev\ncluster: laptop\n"
SMALL = (
    "kind: Model\nname: tiny\nworkspace: dev\nengine: vllm\nmodel: Qwen/Qwen2.5-0.5B\nport: 9001\n"
)
SERVICE = "kind: Service\nname: web\nworkspace: prod\nimage: example.com/web:1\n"


async def snapshot(server: Server, token: str | None = None) -> dict[str, Any]:
    r = await server.client(token or server.admin_token).get("/gateway/snapshot")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert r.headers["etag"] == f'"{body["version"]}"'
    return body


async def test_models_come_from_model_apps(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE + "gpu: true\n", LLAMA, TGI, SERVICE)
    config = (await snapshot(server))["config"]
    assert config["providers"] == [
        {
            "name": "model:prod/llama",
            "kind": "openai",
            "base_url": "http://llama.prod.svc.cluster.local:8000/v1",
        },
        {
            "name": "model:prod/mistral",
            "kind": "openai",
            "base_url": "http://mistral.prod.svc.cluster.local:8080/v1",
        },
    ]
    assert config["models"] == [
        {
            # vLLM is started with --served-model-name <gateway name>.
            "name": "llama-3.1-8b",
            "targets": [{"provider": "model:prod/llama", "model": "llama-3.1-8b", "weight": 100}],
            "cold_start": None,
        },
        {
            # TGI answers to the spec's model; it scales to zero, so requests may wait.
            "name": "mistral",
            "targets": [
                {"provider": "model:prod/mistral", "model": "mistralai/Mistral-7B", "weight": 100}
            ],
            "cold_start": "10m",
        },
    ]


async def test_a_canary_in_flight_splits_the_traffic(server: Server) -> None:
    await apply_yaml(server.admin, CLUSTER, WORKSPACE + "gpu: true\n", LLAMA)
    before = await snapshot(server)
    rollout = {"strategy": "canary", "phase": "Paused", "canary_weight": 20, "stable_weight": 80}
    await set_status(
        server, "prod", "llama", {"phase": "Progressing", "rollout": rollout}, cluster="oke-prod"
    )
    after = await snapshot(server)
    assert after["version"] != before["version"]
    assert [p["base_url"] for p in after["config"]["providers"]] == [
        "http://llama.prod.svc.cluster.local:8000/v1",
        "http://llama-canary.prod.svc.cluster.local:8000/v1",
    ]
    assert after["config"]["models"][0]["targets"] == [
        {"provider": "model:prod/llama", "model": "llama-3.1-8b", "weight": 80},
        {"provider": "model:prod/llama-canary", "model": "llama-3.1-8b", "weight": 20},
    ]


async def test_local_runtime_models_listen_on_localhost_and_deleted_apps_disappear(
    server: Server,
) -> None:
    await apply_yaml(server.admin, LOCAL, LOCAL_WS, SMALL)
    async with server.app.state.services.db.session() as s:
        await s.execute(
            update(ClusterRow).where(ClusterRow.name == "laptop").values(agent_runtime="local")
        )
    config = (await snapshot(server))["config"]
    assert config["providers"] == [
        {"name": "model:dev/tiny", "kind": "openai", "base_url": "http://127.0.0.1:9001/v1"}
    ]
    assert config["models"][0]["name"] == "tiny"
    r = await server.admin.delete("/workspaces/dev/apps/tiny")
    assert r.status_code == 200, r.text
    config = (await snapshot(server))["config"]
    assert config["providers"] == [] and config["models"] == []


async def test_keys_are_the_live_user_and_service_account_tokens(server: Server) -> None:
    admin = server.admin
    await apply_yaml(admin, CLUSTER)  # registering a cluster mints an agent token
    alice_session = await make_user(server, "alice")
    for team in ("zeta", "ml"):
        r = await admin.post("/teams", json={"name": team, "members": ["alice"]})
        assert r.status_code == 201, r.text
    alice = server.client(alice_session)
    r = await alice.post("/tokens", json={"name": "laptop", "expires_in_days": 30})
    assert r.status_code == 201, r.text
    alice_token = r.json()
    r = await alice.post("/tokens", json={"name": "old"})
    revoked_id = r.json()["token"]["id"]
    assert (await alice.delete(f"/tokens/{revoked_id}")).status_code == 200
    r = await alice.post("/tokens", json={"name": "expired"})
    expired_id = r.json()["token"]["id"]
    async with server.app.state.services.db.session() as s:
        await s.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == expired_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await admin.post("/service-accounts", json={"name": "ci-bot"})).status_code == 201
    r = await admin.post(
        "/tokens", json={"name": "ci", "service_account": "ci-bot", "expires_in_days": None}
    )
    assert r.status_code == 201, r.text
    ci_token = r.json()

    keys = (await snapshot(server))["config"]["keys"]
    by_id = {k["token_id"]: k for k in keys}
    # No session tokens (alice's login), no agent tokens, nothing revoked or expired.
    async with server.app.state.services.db.session() as s:
        kinds = {i: k for i, k in (await s.execute(select(ApiTokenRow.id, ApiTokenRow.kind))).all()}
    assert {kinds[i] for i in by_id} == {"user", "service_account"}
    assert {"session", "agent"} <= set(kinds.values())
    assert revoked_id not in by_id and expired_id not in by_id
    alice_key = by_id[alice_token["token"]["id"]]
    secret = alice_token["secret"].split("_", 2)[2]
    assert alice_key == {
        "name": "user:alice",
        "token_id": alice_token["token"]["id"],
        "hash": "sha256:" + hashlib.sha256(secret.encode()).hexdigest(),
        "team": "ml",  # the first of alice's teams by name
        "models": ["*"],
        "expires_at": pytest.approx((utcnow() + timedelta(days=30)).timestamp(), abs=120),
    }
    ci_key = by_id[ci_token["token"]["id"]]
    assert (ci_key["name"], ci_key["team"], ci_key["expires_at"]) == (
        "service_account:ci-bot",
        None,
        None,
    )
    # The bootstrap admin's token is a user token in no team.
    admin_keys = [k for k in keys if k["name"] == "user:admin"]
    assert len(admin_keys) == 1 and admin_keys[0]["team"] is None
    # A deactivated user's tokens drop out.
    r = await admin.patch("/users/alice", json={"active": False})
    assert r.status_code == 200, r.text
    keys = (await snapshot(server))["config"]["keys"]
    assert not [k for k in keys if k["name"] == "user:alice"]


async def test_version_etag_and_304(server: Server) -> None:
    admin = server.admin
    first = await snapshot(server)
    canonical = json.dumps(first["config"], sort_keys=True, separators=(",", ":"))
    assert first["version"] == hashlib.sha256(canonical.encode()).hexdigest()
    etag = f'"{first["version"]}"'
    r = await admin.get("/gateway/snapshot", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == etag
    r = await admin.get("/gateway/snapshot", headers={"If-None-Match": '"0000", W/' + etag})
    assert r.status_code == 304
    # A new token changes the version; the old ETag gets the new snapshot.
    r = await admin.post("/tokens", json={"name": "gw"})
    assert r.status_code == 201, r.text
    token_id = r.json()["token"]["id"]
    r = await admin.get("/gateway/snapshot", headers={"If-None-Match": etag})
    assert r.status_code == 200
    second = r.json()
    assert second["version"] != first["version"]
    assert token_id in {k["token_id"] for k in second["config"]["keys"]}
    # Revoking it changes the version again (back to the first content).
    assert (await admin.delete(f"/tokens/{token_id}")).status_code == 200
    third = await snapshot(server)
    assert third["version"] == first["version"]
    assert token_id not in {k["token_id"] for k in third["config"]["keys"]}


async def test_a_service_account_with_gateway_serve_reads_it_and_others_are_refused(
    server: Server,
) -> None:
    gw = server.client(await gateway_token(server))
    assert (await gw.get("/gateway/snapshot")).status_code == 200
    # It may serve, not read the usage.
    r = await gw.get("/gateway/usage")
    assert r.status_code == 403 and "gateway.read" in error_of(r)["message"]
    editor = server.client(await make_user(server, "ed", role="editor"))
    r = await editor.get("/gateway/snapshot")
    assert r.status_code == 403 and "gateway.serve" in error_of(r)["message"]
