"""The fake API server itself, over plain HTTP: it must behave like the real one where the
agent relies on it, or the runtime's tests prove nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.agent.kube import fakessa as ssa
from tests.agent.kube.conftest import REAL
from tests.agent.kube.fakeapi import FakeKube, FakeServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(REAL, reason="tests of the fake API server"),
]

APPLY = "application/apply-patch+yaml"
CM_URL = "/api/v1/namespaces/ns/configmaps"


@pytest.fixture
def fake(fake_server: FakeServer) -> FakeKube:
    return fake_server.use(FakeKube())


@pytest.fixture
async def http(fake: FakeKube) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, trust_env=False) as client:
        await apply(client, "/api/v1/namespaces/ns", namespace_obj("ns"), "setup")
        yield client


def namespace_obj(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def cm(name: str = "cfg", labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


async def apply(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], manager: str, force: bool = False
) -> httpx.Response:
    params = {"fieldManager": manager, **({"force": "true"} if force else {})}
    return await http.patch(
        url, content=json.dumps(body), params=params, headers={"Content-Type": APPLY}
    )


async def test_apply_creates_then_merges_with_server_fields(http: httpx.AsyncClient) -> None:
    created = await apply(http, f"{CM_URL}/cfg", cm(a="1"), "agent")
    assert created.status_code == 201
    meta = created.json()["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert meta["managedFields"][0]["manager"] == "agent"
    assert meta["managedFields"][0]["fieldsV1"] == {"f:data": {"f:a": {}}}

    again = await apply(http, f"{CM_URL}/cfg", cm(a="1"), "agent")
    assert again.status_code == 200
    assert again.json()["metadata"]["resourceVersion"] == meta["resourceVersion"]  # no-op

    changed = await apply(http, f"{CM_URL}/cfg", cm(a="2"), "agent")
    assert int(changed.json()["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert changed.json()["metadata"]["uid"] == meta["uid"]
    assert changed.json()["metadata"]["generation"] == 2


async def test_a_field_a_manager_stops_sending_is_removed_unless_another_owns_it(
    http: httpx.AsyncClient,
) -> None:
    await apply(http, f"{CM_URL}/cfg", cm(a="1", b="2", c="3"), "agent")
    await apply(http, f"{CM_URL}/cfg", cm(c="3", d="4"), "other")  # shares c, owns d

    result = await apply(http, f"{CM_URL}/cfg", cm(a="1"), "agent")
    assert result.json()["data"] == {"a": "1", "c": "3", "d": "4"}  # b removed; c, d are other's

    result = await apply(http, f"{CM_URL}/cfg", cm(), "other")  # "data: {}"
    # other dropped c and d, and nobody else owns them; a is still agent's
    assert result.json().get("data") == {"a": "1"}


async def test_removing_the_last_field_removes_its_empty_parents(http: httpx.AsyncClient) -> None:
    body = cm(labels={"x": "1"}, a="1")
    await apply(http, f"{CM_URL}/cfg", body, "agent")
    result = await apply(http, f"{CM_URL}/cfg", cm(a="1"), "agent")
    assert "labels" not in result.json()["metadata"]


async def test_conflicts_unless_forced(http: httpx.AsyncClient) -> None:
    await apply(http, f"{CM_URL}/cfg", cm(a="1"), "agent")

    same = await apply(http, f"{CM_URL}/cfg", cm(a="1"), "other")  # same value: shared, fine
    assert same.status_code == 200

    conflict = await apply(http, f"{CM_URL}/cfg", cm(a="2"), "other")
    assert conflict.status_code == 409
    status = conflict.json()
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Conflict", 409)
    assert 'conflict with "agent": .data.a' in status["message"]
    assert status["details"]["causes"][0]["field"] == ".data.a"

    forced = await apply(http, f"{CM_URL}/cfg", cm(a="2"), "other", force=True)
    assert forced.status_code == 200 and forced.json()["data"] == {"a": "2"}
    managers = {m["manager"]: m["fieldsV1"] for m in forced.json()["metadata"]["managedFields"]}
    assert managers == {"other": {"f:data": {"f:a": {}}}}  # agent lost the field


async def test_merge_patch_is_an_update_its_manager_keeps(http: httpx.AsyncClient) -> None:
    await apply(http, f"{CM_URL}/cfg", cm(a="1"), "agent")
    patched = await http.patch(
        f"{CM_URL}/cfg",
        content=json.dumps({"data": {"b": "2"}}),
        params={"fieldManager": "kubectl"},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200
    result = await apply(http, f"{CM_URL}/cfg", cm(a="1"), "agent")
    assert result.json()["data"] == {"a": "1", "b": "2"}
    ops = {(m["manager"], m["operation"]) for m in result.json()["metadata"]["managedFields"]}
    assert ops == {("agent", "Apply"), ("kubectl", "Update")}


async def test_apply_checks_names_versions_and_namespaces(http: httpx.AsyncClient) -> None:
    wrong_name = await apply(http, f"{CM_URL}/other", cm(), "agent")
    assert wrong_name.status_code == 400
    wrong_version = await apply(http, f"{CM_URL}/cfg", {**cm(), "apiVersion": "v2"}, "agent")
    assert wrong_version.status_code == 400
    no_manager = await http.patch(
        f"{CM_URL}/cfg", content=json.dumps(cm()), headers={"Content-Type": APPLY}
    )
    assert no_manager.status_code == 400
    missing_ns = await apply(
        http, "/api/v1/namespaces/nope/configmaps/cfg", {**cm(), "metadata": {"name": "cfg"}}, "a"
    )
    assert missing_ns.status_code == 404
    assert missing_ns.json()["message"] == 'namespaces "nope" not found'
    # Scope: a Namespace is not namespaced, a ConfigMap is.
    assert (await http.get("/api/v1/namespaces/ns/namespaces/x")).status_code == 404
    assert (await http.get("/api/v1/configmaps/cfg")).status_code == 404
    json_patch = await http.patch(
        f"{CM_URL}/cfg",
        content="[]",
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert json_patch.status_code in (404, 415)


async def test_status_is_a_subresource_and_generation_follows_spec(
    fake: FakeKube, http: httpx.AsyncClient
) -> None:
    url = "/apis/apps/v1/namespaces/ns/deployments/web"
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"replicas": 1},
        "status": {"readyReplicas": 99},
    }
    created = (await apply(http, url, body, "agent")).json()
    assert "status" not in created and created["metadata"]["generation"] == 1
    fake.set_status("Deployment", "ns", "web", {"readyReplicas": 1})
    labelled = {**body, "metadata": {**body["metadata"], "labels": {"a": "b"}}}
    result = (await apply(http, url, labelled, "agent")).json()
    assert result["status"] == {"readyReplicas": 1}
    assert result["metadata"]["generation"] == 1  # metadata only
    result = (await apply(http, url, {**labelled, "spec": {"replicas": 3}}, "agent")).json()
    assert result["metadata"]["generation"] == 2


async def test_get_list_and_label_selectors(http: httpx.AsyncClient) -> None:
    await apply(http, f"{CM_URL}/a", cm("a", {"app": "x", "tier": "web"}), "agent")
    await apply(http, f"{CM_URL}/b", cm("b", {"app": "y"}), "agent")
    await apply(http, f"{CM_URL}/c", cm("c", {}), "agent")

    async def names(selector: str, url: str = CM_URL) -> list[str]:
        response = await http.get(url, params={"labelSelector": selector})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["kind"] == "ConfigMapList" and int(body["metadata"]["resourceVersion"]) > 0
        return [item["metadata"]["name"] for item in body["items"]]

    assert await names("") == ["a", "b", "c"]
    assert await names("app=x") == ["a"]
    assert await names("app==x,tier=web") == ["a"]
    assert await names("app!=x") == ["b", "c"]
    assert await names("app") == ["a", "b"]
    assert await names("!app") == ["c"]
    assert await names("app in (x, y),!tier") == ["b"]
    assert await names("app notin (x)") == ["b", "c"]
    assert await names("app=x", "/api/v1/configmaps") == ["a"]  # every namespace
    assert (await http.get(CM_URL, params={"labelSelector": "a=(b"})).status_code == 400

    item = (await http.get(CM_URL)).json()["items"][0]
    assert "kind" not in item and "apiVersion" not in item  # a typed list, as the real server
    one = (await http.get(f"{CM_URL}/a")).json()
    assert (one["kind"], one["apiVersion"]) == ("ConfigMap", "v1")
    missing = await http.get(f"{CM_URL}/zzz")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "zzz" not found',
        "reason": "NotFound",
        "details": {"name": "zzz", "group": "", "kind": "configmaps"},
        "code": 404,
    }


async def test_custom_resources_of_any_group(http: httpx.AsyncClient) -> None:
    url = "/apis/example.com/v1beta1/namespaces/ns/gizmos"
    body = {
        "apiVersion": "example.com/v1beta1",
        "kind": "Gizmo",
        "metadata": {"name": "g", "namespace": "ns"},
        "spec": {"size": 1},
    }
    assert (await apply(http, f"{url}/g", body, "agent")).status_code == 201
    listed = (await http.get(url)).json()
    assert listed["items"][0]["kind"] == "Gizmo"  # custom resources keep their kind in lists
    assert (await http.delete(f"{url}/g")).status_code == 200
    assert (await http.delete(f"{url}/g")).status_code == 404


async def test_delete_cascades_to_namespace_contents_and_owned_objects(
    fake: FakeKube, http: httpx.AsyncClient
) -> None:
    await apply(http, f"{CM_URL}/cfg", cm(), "agent")
    deployment = fake.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"},
        }
    )
    fake.add_pod("ns", "web-1", labels={}, owner=deployment)
    fake.add_pod("ns", "lonely", labels={})
    await http.delete("/apis/apps/v1/namespaces/ns/deployments/web")
    assert fake.get("Pod", "ns", "web-1") is None
    assert fake.get("Pod", "ns", "lonely") is not None
    await http.delete("/api/v1/namespaces/ns")
    assert fake.get("Pod", "ns", "lonely") is None and fake.get("ConfigMap", "ns", "cfg") is None


async def read_events(
    http: httpx.AsyncClient, url: str, count: int, **params: str
) -> list[tuple[str, str]]:
    """The first ``count`` events of a watch as (type, name)."""
    events: list[tuple[str, str]] = []
    async with http.stream("GET", url, params={"watch": "true", **params}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            event = json.loads(line)
            obj = event["object"]
            name = obj.get("metadata", {}).get("name") or f"{obj['code']} {obj['reason']}"
            events.append((event["type"], name))
            if len(events) == count:
                break
    return events


async def test_watch_streams_changes_through_the_selector(
    fake: FakeKube, http: httpx.AsyncClient
) -> None:
    await apply(http, f"{CM_URL}/a", cm("a", {"app": "x"}), "agent")
    version = (await http.get(CM_URL)).json()["metadata"]["resourceVersion"]
    watching = asyncio.create_task(
        read_events(http, CM_URL, 4, labelSelector="app=x", resourceVersion=version)
    )
    await asyncio.sleep(0.05)
    await apply(http, f"{CM_URL}/a", cm("a", {"app": "x"}, v="1"), "agent")  # MODIFIED
    await apply(http, f"{CM_URL}/b", cm("b", {"app": "y"}), "agent")  # not selected
    await apply(http, f"{CM_URL}/b", cm("b", {"app": "x"}), "agent")  # enters: ADDED
    await apply(http, f"{CM_URL}/a", cm("a", {"app": "z"}, v="1"), "agent")  # leaves: DELETED
    await http.delete(f"{CM_URL}/b")
    assert await asyncio.wait_for(watching, 5) == [
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
        ("DELETED", "b"),
    ]


async def test_watch_without_a_version_starts_with_the_current_objects(
    http: httpx.AsyncClient,
) -> None:
    await apply(http, f"{CM_URL}/a", cm("a"), "agent")
    await apply(http, f"{CM_URL}/b", cm("b"), "agent")
    assert await read_events(http, CM_URL, 2) == [("ADDED", "a"), ("ADDED", "b")]


async def test_watch_resumes_from_history_and_answers_410_beyond_it(
    fake: FakeKube, http: httpx.AsyncClient
) -> None:
    first = (await apply(http, f"{CM_URL}/a", cm("a", v="0"), "agent")).json()
    start = first["metadata"]["resourceVersion"]
    for n in range(1, 4):
        await apply(http, f"{CM_URL}/a", cm("a", v=str(n)), "agent")
    replay = await read_events(http, CM_URL, 3, resourceVersion=start)
    assert replay == [("MODIFIED", "a")] * 3

    fake.history_window = 2  # keep only the last two changes
    await apply(http, f"{CM_URL}/a", cm("a", v="4"), "agent")
    gone = await read_events(http, CM_URL, 1, resourceVersion=start)
    assert gone == [("ERROR", "410 Expired")]
    latest = (await http.get(f"{CM_URL}/a")).json()["metadata"]["resourceVersion"]
    fake.compact()
    # Nothing happened since `latest`: resuming from it is still fine after a compaction.
    watching = asyncio.create_task(read_events(http, CM_URL, 1, resourceVersion=latest))
    await asyncio.sleep(0.05)
    await apply(http, f"{CM_URL}/a", cm("a", v="5"), "agent")
    assert await asyncio.wait_for(watching, 5) == [("MODIFIED", "a")]


async def test_watch_timeout_and_disconnect_end_the_stream(
    fake: FakeKube, http: httpx.AsyncClient
) -> None:
    async with http.stream(
        "GET", CM_URL, params={"watch": "true", "timeoutSeconds": "0.1", "resourceVersion": "1"}
    ) as response:
        assert [line async for line in response.aiter_lines()] == []
    async with http.stream("GET", CM_URL, params={"watch": "1", "resourceVersion": "1"}) as resp:
        await asyncio.sleep(0.05)
        fake.disconnect_watches()
        assert [json.loads(line)["type"] async for line in resp.aiter_lines()] == []


async def test_pod_logs(fake: FakeKube, http: httpx.AsyncClient) -> None:
    fake.add_pod("ns", "p", labels={}, containers=["main", "side"])
    fake.set_logs("ns", "p", "1\n2\n3", container="main")
    url = "/api/v1/namespaces/ns/pods/p/log"
    assert (await http.get(url, params={"container": "main"})).text == "1\n2\n3\n"
    tail = await http.get(url, params={"container": "main", "tailLines": "2", "timestamps": "true"})
    stamps = [line.split(" ") for line in tail.text.splitlines()]
    assert [text for _, text in stamps] == ["2", "3"] and stamps[0][0] < stamps[1][0]
    assert stamps[0][0].endswith("Z") and len(stamps[0][0]) == len("2025-01-01T00:00:00.000000000Z")
    unnamed = await http.get(url)
    assert unnamed.status_code == 400 and "choose one of: [main side]" in unnamed.json()["message"]
    assert (await http.get(url, params={"container": "nope"})).status_code == 400
    assert (await http.get("/api/v1/namespaces/ns/pods/zz/log")).status_code == 404


async def test_injected_failures_and_the_call_log(fake: FakeKube, http: httpx.AsyncClient) -> None:
    fake.fail_next("apply", kind="ConfigMap", name="cfg", code=422, message="bad data")
    refused = await apply(http, f"{CM_URL}/cfg", cm(), "agent")
    assert refused.status_code == 422
    assert (refused.json()["reason"], refused.json()["message"]) == ("Invalid", "bad data")
    assert (await apply(http, f"{CM_URL}/cfg", cm(), "agent")).status_code == 201  # once only
    assert fake.applied() == ["Namespace ns", "ConfigMap ns/cfg"]
    assert fake.count("apply", "configmaps", 422) == 1


def test_selector_parsing() -> None:
    reqs = ssa.parse_selector("a=1,b!=2,c,!d,e in (x,y),f notin (z)")
    assert reqs == [
        ("a", "=", {"1"}),
        ("b", "!=", {"2"}),
        ("c", "exists", set()),
        ("d", "!", set()),
        ("e", "in", {"x", "y"}),
        ("f", "notin", {"z"}),
    ]
    assert ssa.selector_matches(reqs, {"a": "1", "c": "", "e": "x"})
    assert not ssa.selector_matches(reqs, {"a": "1", "c": "", "e": "x", "d": "1"})
    assert not ssa.selector_matches(reqs, {"a": "1", "c": "", "e": "x", "f": "z"})
    with pytest.raises(ssa.SelectorError):
        ssa.parse_selector("a b")


def test_apply_ownership_model() -> None:
    live, owners = ssa.apply(None, {"spec": {"a": 1, "b": [1, 2]}}, {}, "m1", force=False)
    assert owners == {("m1", "Apply"): {("spec", "a"), ("spec", "b")}}
    live, owners = ssa.apply(live, {"spec": {"c": {"d": 1}}}, owners, "m2", force=False)
    # m1 drops b; m2 never owned it: gone. a is m1's still.
    live, owners = ssa.apply(live, {"spec": {"a": 1}}, owners, "m1", force=False)
    assert live == {"spec": {"a": 1, "c": {"d": 1}}}
    with pytest.raises(ssa.ApplyConflict):
        ssa.apply(live, {"spec": {"c": 5}}, owners, "m1", force=False)  # replaces m2's map
    live, owners = ssa.apply(live, {"spec": {"a": 1, "c": 5}}, owners, "m1", force=True)
    assert live == {"spec": {"a": 1, "c": 5}} and ("m2", "Apply") not in owners


MERGE = "application/merge-patch+json"


async def test_create_with_post(http: httpx.AsyncClient) -> None:
    created = await http.post(CM_URL, json=cm(a="1"), params={"fieldManager": "runs"})
    assert created.status_code == 201
    meta = created.json()["metadata"]
    assert (meta["name"], meta["namespace"], meta["generation"]) == ("cfg", "ns", 1)
    assert [(m["manager"], m["operation"]) for m in meta["managedFields"]] == [("runs", "Update")]
    assert (await http.get(f"{CM_URL}/cfg")).json()["data"] == {"a": "1"}

    taken = await http.post(CM_URL, json=cm(a="2"))
    assert taken.status_code == 409
    assert (taken.json()["reason"], taken.json()["message"]) == (
        "AlreadyExists",
        'configmaps "cfg" already exists',
    )
    generated = cm()
    generated["metadata"] = {"generateName": "run-", "namespace": "ns"}
    named = (await http.post(CM_URL, json=generated)).json()["metadata"]["name"]
    assert named.startswith("run-") and len(named) == len("run-") + 5
    nameless = cm()
    del nameless["metadata"]["name"]
    assert (await http.post(CM_URL, json=nameless)).status_code == 422
    mismatched = await http.post("/api/v1/namespaces/nope/configmaps", json=cm())
    assert mismatched.status_code == 400  # the body says namespace ns
    unplaced = cm()
    del unplaced["metadata"]["namespace"]
    elsewhere = await http.post("/api/v1/namespaces/nope/configmaps", json=unplaced)
    assert elsewhere.status_code == 404  # no such namespace
    assert (await http.post(CM_URL, json={**cm(), "apiVersion": "v2"})).status_code == 400


async def test_create_ignores_status_and_patches_of_status_change_only_status(
    fake: FakeKube, http: httpx.AsyncClient
) -> None:
    url = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts"
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"replicas": 2},
        "status": {"phase": "Healthy"},
    }
    created = (await http.post(url, json=body)).json()
    assert "status" not in created
    fake.set_status("Rollout", "ns", "web", {"phase": "Paused", "pauseConditions": [{"r": 1}]})
    patch = {"status": {"pauseConditions": None, "abort": True}, "spec": {"replicas": 9}}
    patched = await http.patch(
        f"{url}/web/status", content=json.dumps(patch), headers={"Content-Type": MERGE}
    )
    assert patched.status_code == 200
    result = patched.json()
    assert result["status"] == {"phase": "Paused", "abort": True}  # null removed a field
    assert result["spec"] == {"replicas": 2}  # the spec is not the status subresource's
    assert result["metadata"]["generation"] == created["metadata"]["generation"]
    assert int(result["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    missing = await http.patch(
        f"{url}/nope/status", content=json.dumps(patch), headers={"Content-Type": MERGE}
    )
    assert missing.status_code == 404


async def test_a_crd_without_a_status_subresource_has_no_status_endpoint(
    http: httpx.AsyncClient,
) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Gadget", "plural": "gadgets"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    await apply(
        http,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com",
        crd,
        "t",
    )
    url = "/apis/example.com/v1/namespaces/ns/gadgets"
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert (await http.post(url, json=gadget)).status_code == 201
    patched = await http.patch(
        f"{url}/g/status", content=json.dumps({"status": {}}), headers={"Content-Type": MERGE}
    )
    assert patched.status_code == 404


async def test_kinds_not_served(fake: FakeKube, http: httpx.AsyncClient) -> None:
    fake.unserve("argoproj.io")
    fake.unserve("keda.sh", "scaledobjects")
    group = await http.get("/apis/argoproj.io/v1alpha1/workflows")
    assert (group.status_code, group.text) == (404, "404 page not found\n")
    resource = await http.get("/apis/keda.sh/v1alpha1/scaledobjects", params={"watch": "true"})
    assert resource.status_code == 404 and resource.json()["reason"] == "NotFound"
    assert (await http.get("/apis/keda.sh/v1alpha1/scaledjobs")).status_code == 200
    fake.reinstate("argoproj.io")
    assert (await http.get("/apis/argoproj.io/v1alpha1/workflows")).status_code == 200
    assert [(c.verb, c.code) for c in fake.calls[-4:]] == [
        ("list", 404),
        ("watch", 404),
        ("list", 200),
        ("list", 200),
    ]


POD_URL = "/api/v1/namespaces/ns/pods"


def put_pod(
    fake: FakeKube,
    name: str,
    *,
    node: str | None,
    phase: str,
    namespace: str = "ns",
    labels: dict[str, str] | None = None,
) -> None:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "x"}]}
    if node is not None:
        spec["nodeName"] = node
    fake.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": spec,
            "status": {"phase": phase},
        }
    )


async def test_field_selectors_on_pods(fake: FakeKube, http: httpx.AsyncClient) -> None:
    put_pod(fake, "pending", node=None, phase="Pending", labels={"app": "x"})
    put_pod(fake, "run-1", node="n1", phase="Running", labels={"app": "x"})
    put_pod(fake, "run-2", node="n2", phase="Running")
    put_pod(fake, "done", node="n1", phase="Succeeded")
    put_pod(fake, "failed", node="n2", phase="Failed")
    put_pod(fake, "elsewhere", node="n1", phase="Running", namespace="other")

    async def names(fields: str, url: str = POD_URL, **params: str) -> list[str]:
        response = await http.get(url, params={"fieldSelector": fields, **params})
        assert response.status_code == 200, response.text
        return [item["metadata"]["name"] for item in response.json()["items"]]

    assert await names("spec.nodeName=n1") == ["done", "run-1"]
    assert await names("spec.nodeName==n1") == ["done", "run-1"]
    assert await names("spec.nodeName=") == ["pending"]  # an absent field is ""
    assert await names("spec.nodeName!=") == ["done", "failed", "run-1", "run-2"]
    assert await names("status.phase!=Succeeded,status.phase!=Failed") == [
        "pending",
        "run-1",
        "run-2",
    ]
    held = "spec.nodeName!=,status.phase!=Failed,status.phase!=Succeeded"
    assert await names(held) == ["run-1", "run-2"]
    assert await names(held, "/api/v1/pods") == ["run-1", "run-2", "elsewhere"]  # every namespace
    assert await names(held, labelSelector="app=x") == ["run-1"]  # both selectors hold
    assert await names("metadata.namespace=other,status.phase=Running", "/api/v1/pods") == [
        "elsewhere"
    ]
    assert await names("metadata.name!=run-1,spec.nodeName=n1") == ["done"]

    unknown = await http.get(POD_URL, params={"fieldSelector": "spec.nodeNames=n1"})
    assert unknown.status_code == 400
    assert unknown.json()["message"] == 'field label not supported: "spec.nodeNames"'
    not_a_pod = await http.get(CM_URL, params={"fieldSelector": "status.phase=Running"})
    assert not_a_pod.status_code == 400  # a pod's field, not a ConfigMap's
    malformed = await http.get(POD_URL, params={"fieldSelector": "spec.nodeName"})
    assert malformed.status_code == 400 and "can't understand" in malformed.json()["message"]
    watch = await http.get(POD_URL, params={"fieldSelector": "nope=1", "watch": "true"})
    assert watch.status_code == 400


async def test_watch_through_a_field_selector(fake: FakeKube, http: httpx.AsyncClient) -> None:
    """A pod entering the selection (bound to a node) is ADDED, one leaving it (finished) is
    DELETED, as from the real server's watch cache; the others are never seen."""
    held = "spec.nodeName!=,status.phase!=Failed,status.phase!=Succeeded"
    put_pod(fake, "a", node="n1", phase="Running")
    put_pod(fake, "b", node=None, phase="Pending")
    version = (await http.get(POD_URL)).json()["metadata"]["resourceVersion"]
    assert await read_events(http, POD_URL, 1, fieldSelector=held) == [("ADDED", "a")]  # from 0
    watching = asyncio.create_task(
        read_events(http, "/api/v1/pods", 4, fieldSelector=held, resourceVersion=version)
    )
    await asyncio.sleep(0.05)
    put_pod(fake, "c", node=None, phase="Pending")  # not selected
    put_pod(fake, "b", node="n2", phase="Pending")  # bound: ADDED
    put_pod(fake, "b", node="n2", phase="Running")  # MODIFIED
    put_pod(fake, "a", node="n1", phase="Succeeded")  # finished: DELETED
    fake.remove("Pod", "ns", "c")  # never selected
    fake.remove("Pod", "ns", "b")
    assert await asyncio.wait_for(watching, 5) == [
        ("ADDED", "b"),
        ("MODIFIED", "b"),
        ("DELETED", "a"),
        ("DELETED", "b"),
    ]
    # Replayed from the history through the same selector.
    replay = await read_events(http, POD_URL, 4, fieldSelector=held, resourceVersion=version)
    assert replay == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a"), ("DELETED", "b")]


async def test_lists_in_pages_are_a_snapshot(fake: FakeKube, http: httpx.AsyncClient) -> None:
    """``limit`` and ``continue``: every page carries the first page's resourceVersion and the
    objects as they were then; an unknown token answers 410 Expired."""
    for n in range(5):
        put_pod(fake, f"p{n}", node="n1", phase="Running")
    first = (await http.get(POD_URL, params={"limit": "2"})).json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["p0", "p1"]
    assert first["metadata"]["remainingItemCount"] == 3
    version = first["metadata"]["resourceVersion"]
    put_pod(fake, "p9", node="n1", phase="Running")  # after the snapshot: not in its pages
    names: list[str] = []
    token = first["metadata"]["continue"]
    while token:
        page = (await http.get(POD_URL, params={"limit": "2", "continue": token})).json()
        assert page["metadata"]["resourceVersion"] == version
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == ["p2", "p3", "p4"]
    again = await http.get(
        POD_URL, params={"limit": "2", "continue": first["metadata"]["continue"]}
    )
    assert [i["metadata"]["name"] for i in again.json()["items"]] == ["p2", "p3"]  # reusable
    r = await http.get(POD_URL, params={"limit": "2", "continue": "page-unknown"})
    assert r.status_code == 410 and r.json()["reason"] == "Expired"
    r = await http.get("/api/v1/nodes", params={"continue": first["metadata"]["continue"]})
    assert r.status_code == 410  # a token is of the list it came from
    r = await http.get(POD_URL, params={"limit": "two"})
    assert r.status_code == 400
    fake.compact()  # the snapshot goes with the history
    r = await http.get(POD_URL, params={"limit": "2", "continue": first["metadata"]["continue"]})
    assert r.status_code == 410
    whole = (await http.get(POD_URL)).json()
    assert "continue" not in whole["metadata"] and len(whole["items"]) == 6
