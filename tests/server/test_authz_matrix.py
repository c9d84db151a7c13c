"""The authorization matrix: every endpoint x every principal x every scope, allow or deny.

The expected outcome is computed from the table below (the product's role definitions, written
out here independently of the server's code) and each binding's scope:

- a binding on the tenant covers everything; on a cluster, that cluster and its workspaces; on a
  workspace, that workspace alone;
- allowed: the call succeeds (its listed success statuses);
- denied: 403 ``forbidden`` when one of the caller's bindings reaches the object, else 404
  ``not_found`` (the object's existence does not leak; apply reports such a workspace as
  missing, like one that does not exist); tenant-level denials are always 403.

An endpoint in the OpenAPI document without an entry in ENDPOINTS fails the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ironplane.server.db.tables import ClusterRow, JobRunRow
from tests.server.conftest import Server

pytestmark = pytest.mark.anyio

VIEWER = {
    "users.read",
    "teams.read",
    "service_accounts.read",
    "roles.read",
    "clusters.read",
    "workspaces.read",
    "apps.read",
    "secrets.list",
}
EDITOR = VIEWER | {"apps.write", "secrets.read", "secrets.write"}
ADMIN = EDITOR | {
    "users.write",
    "teams.write",
    "service_accounts.write",
    "roles.write",
    "audit.read",
    "clusters.create",
    "clusters.write",
    "workspaces.create",
    "workspaces.write",
    "gateway.serve",
    "gateway.read",
}
ROLES = {"admin": ADMIN, "editor": EDITOR, "viewer": VIEWER}

# Topology: clusters cla and clb; workspaces wa1, wa2 on cla and wb1 on clb.
CLUSTER_OF = {"wa1": "cla", "wa2": "cla", "wb1": "clb"}


@dataclass(frozen=True)
class Actor:
    name: str
    role: str | None = None
    scope_kind: str | None = None  # tenant | cluster | workspace
    scope: str | None = None
    agent_of: str | None = None

    def covers(self, target: str | None) -> bool:
        """Whether this actor's binding reaches the target (None: the tenant itself)."""
        if self.scope_kind is None:
            return False
        if self.scope_kind == "tenant":
            return True
        if target is None:
            return False
        if self.scope_kind == "cluster":
            return target == self.scope or CLUSTER_OF.get(target) == self.scope
        return target == self.scope

    def has(self, permission: str, target: str | None) -> bool:
        return self.role is not None and permission in ROLES[self.role] and self.covers(target)


ACTORS = [
    Actor("agent-ca", agent_of="cla"),  # first: later cases rotate cla's agent token
    Actor("admin", "admin", "tenant"),  # the bootstrap admin
    Actor("t-editor", "editor", "tenant"),
    Actor("t-viewer", "viewer", "tenant"),
    Actor("ca-admin", "admin", "cluster", "cla"),
    Actor("ca-editor", "editor", "cluster", "cla"),
    Actor("ca-viewer", "viewer", "cluster", "cla"),
    Actor("wa1-admin", "admin", "workspace", "wa1"),
    Actor("wa1-editor", "editor", "workspace", "wa1"),
    Actor("wa1-viewer", "viewer", "workspace", "wa1"),
    Actor("nobody"),
]

SERVICE = "kind: Service\nname: {name}\nworkspace: {ws}\nimage: example.com/app:{tag}\n"
BLUE_GREEN = SERVICE + "ports: [{{port: 8000}}]\nrollout: {{strategy: blue_green}}\n"
JOB = (
    "kind: Job\nname: {name}\nworkspace: {ws}\nimage: example.com/job:1\n"
    "command: [run, '{{{{n}}}}']\nparams: [{{name: n, default: '0'}}]\n"
)


@dataclass
class World:
    server: Server
    tokens: dict[str, str] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def fresh(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    @property
    def admin(self) -> httpx.AsyncClient:
        return self.server.admin

    async def ok(self, method: str, url: str, json: Any = None) -> Any:
        r = await self.admin.request(method, url, json=json)
        assert r.status_code < 300, (method, url, r.status_code, r.text)
        return r.json()

    async def app(self, ws: str, versions: int = 1) -> str:
        name = self.fresh("app")
        for tag in range(versions):
            doc = SERVICE.format(name=name, ws=ws, tag=tag)
            await self.ok("POST", "/apply", {"documents": [{"source": "a.yaml", "content": doc}]})
        return name


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: Any = None
    ok: frozenset[int] = frozenset({200})


Build = Callable[[World, Actor, str | None], Awaitable[Call]]


@dataclass(frozen=True)
class Rule:
    """``level``: public | authenticated | tenant | cluster | workspace."""

    level: str
    permission: str | None = None
    agent: bool = False
    in_body: bool = False
    """The target is named in the body, not the path: the route admits any user or service
    account and checks the permission per object (agents are refused with 403)."""
    unseen: tuple[int, str] = (404, "not_found")
    """The answer when no binding reaches the target."""


def call(method: str, url: str, json: Any = None, ok: set[int] | None = None) -> Call:
    return Call(method, url, json, frozenset(ok or ({201} if method == "POST" else {200})))


async def _user(w: World, a: Actor, t: str | None) -> Call:
    name = await _fresh_user(w)
    return call("DELETE", f"/users/{name}")


async def _fresh_user(w: World) -> str:
    name = w.fresh("user")
    await w.ok("POST", "/users", {"name": name})
    return name


async def _fresh_team(w: World, members: list[str] | None = None) -> str:
    name = w.fresh("team")
    await w.ok("POST", "/teams", {"name": name, "members": members or []})
    return name


async def _own_token(w: World, a: Actor, t: str | None) -> Call:
    if a.agent_of or a.name not in w.tokens:
        return call("DELETE", "/tokens/0000000000000000")
    client = w.server.client(w.tokens[a.name])
    r = await client.post("/tokens", json={"name": "to-revoke"})
    assert r.status_code == 201, r.text
    return call("DELETE", f"/tokens/{r.json()['token']['id']}")


async def _role_binding(w: World, a: Actor, t: str | None) -> Call:
    user = await _fresh_user(w)
    b = await w.ok(
        "POST", "/role-bindings", {"role": "viewer", "subject_kind": "user", "subject": user}
    )
    return call("DELETE", f"/role-bindings/{b['id']}")


async def _apply(w: World, a: Actor, t: str | None) -> Call:
    doc = SERVICE.format(name=w.fresh("new"), ws=t, tag=1)
    return call("POST", "/apply", {"documents": [{"source": "x.yaml", "content": doc}]}, {200})


async def _rollback(w: World, a: Actor, t: str | None) -> Call:
    app = await w.app(str(t), versions=2)
    return call("POST", f"/workspaces/{t}/apps/{app}/rollback", {"to": 1}, {200})


async def _delete_app(w: World, a: Actor, t: str | None) -> Call:
    app = await w.app(str(t))
    return call("DELETE", f"/workspaces/{t}/apps/{app}")


async def _delete_group(w: World, a: Actor, t: str | None) -> Call:
    group = w.fresh("grp")
    await w.ok("PUT", f"/workspaces/{t}/secrets/{group}", {"values": {"k": "v"}})
    return call("DELETE", f"/workspaces/{t}/secrets/{group}")


async def _new_workspace(w: World, a: Actor, t: str | None) -> Call:
    spec = {"kind": "Workspace", "name": w.fresh("ws"), "cluster": t}
    return call("POST", "/workspaces", spec)


def simple(method: str, url: str, json: Any = None, ok: set[int] | None = None) -> Build:
    async def build(w: World, a: Actor, t: str | None) -> Call:
        body = json(w) if callable(json) else json
        return call(method, url.format(t=t), body, ok)

    return build


def with_fresh(method: str, url: str, make: Callable[[World], Awaitable[str]]) -> Build:
    async def build(w: World, a: Actor, t: str | None) -> Call:
        return call(method, url.format(t=t, x=await make(w)))

    return build


ENDPOINTS: dict[tuple[str, str], tuple[Rule, Build]] = {
    ("GET", "/health"): (Rule("public"), simple("GET", "/health")),
    ("POST", "/auth/login"): (
        Rule("public"),
        simple(
            "POST", "/auth/login", {"username": "pw-user", "password": "pw-user-password"}, {200}
        ),
    ),
    ("GET", "/auth/whoami"): (Rule("authenticated"), simple("GET", "/auth/whoami")),
    ("GET", "/users"): (Rule("tenant", "users.read"), simple("GET", "/users")),
    ("POST", "/users"): (
        Rule("tenant", "users.write"),
        simple("POST", "/users", lambda w: {"name": w.fresh("user")}),
    ),
    ("GET", "/users/{name}"): (Rule("tenant", "users.read"), simple("GET", "/users/someone")),
    ("PATCH", "/users/{name}"): (
        Rule("tenant", "users.write"),
        simple("PATCH", "/users/someone", {"email": "someone@example.com"}),
    ),
    ("DELETE", "/users/{name}"): (Rule("tenant", "users.write"), _user),
    ("GET", "/teams"): (Rule("tenant", "teams.read"), simple("GET", "/teams")),
    ("POST", "/teams"): (
        Rule("tenant", "teams.write"),
        simple("POST", "/teams", lambda w: {"name": w.fresh("team")}),
    ),
    ("GET", "/teams/{name}"): (Rule("tenant", "teams.read"), simple("GET", "/teams/team-x")),
    ("DELETE", "/teams/{name}"): (
        Rule("tenant", "teams.write"),
        with_fresh("DELETE", "/teams/{x}", _fresh_team),
    ),
    ("PUT", "/teams/{name}/members/{user}"): (
        Rule("tenant", "teams.write"),
        with_fresh("PUT", "/teams/{x}/members/someone", _fresh_team),
    ),
    ("DELETE", "/teams/{name}/members/{user}"): (
        Rule("tenant", "teams.write"),
        with_fresh("DELETE", "/teams/{x}/members/someone", lambda w: _fresh_team(w, ["someone"])),
    ),
    ("GET", "/service-accounts"): (
        Rule("tenant", "service_accounts.read"),
        simple("GET", "/service-accounts"),
    ),
    ("POST", "/service-accounts"): (
        Rule("tenant", "service_accounts.write"),
        simple("POST", "/service-accounts", lambda w: {"name": w.fresh("sa")}),
    ),
    ("DELETE", "/service-accounts/{name}"): (
        Rule("tenant", "service_accounts.write"),
        with_fresh(
            "DELETE",
            "/service-accounts/{x}",
            lambda w: _named(w, "/service-accounts", w.fresh("sa")),
        ),
    ),
    ("GET", "/tokens"): (Rule("authenticated"), simple("GET", "/tokens")),
    ("POST", "/tokens"): (Rule("authenticated"), simple("POST", "/tokens", {"name": "mine"})),
    ("DELETE", "/tokens/{token_id}"): (Rule("authenticated"), _own_token),
    ("GET", "/roles"): (Rule("tenant", "roles.read"), simple("GET", "/roles")),
    ("POST", "/roles"): (
        Rule("tenant", "roles.write"),
        simple("POST", "/roles", lambda w: {"name": w.fresh("role"), "permissions": ["apps.read"]}),
    ),
    ("DELETE", "/roles/{name}"): (
        Rule("tenant", "roles.write"),
        with_fresh(
            "DELETE",
            "/roles/{x}",
            lambda w: _named(w, "/roles", w.fresh("role"), permissions=["apps.read"]),
        ),
    ),
    ("GET", "/role-bindings"): (Rule("tenant", "roles.read"), simple("GET", "/role-bindings")),
    ("POST", "/role-bindings"): (
        Rule("tenant", "roles.write"),
        simple(
            "POST",
            "/role-bindings",
            {"role": "viewer", "subject_kind": "user", "subject": "someone"},
        ),
    ),
    ("DELETE", "/role-bindings/{binding_id}"): (Rule("tenant", "roles.write"), _role_binding),
    ("GET", "/clusters"): (Rule("authenticated"), simple("GET", "/clusters")),
    ("POST", "/clusters"): (
        Rule("tenant", "clusters.create"),
        simple("POST", "/clusters", lambda w: {"kind": "Cluster", "name": w.fresh("cl")}),
    ),
    ("GET", "/clusters/{cluster}"): (
        Rule("cluster", "clusters.read"),
        simple("GET", "/clusters/{t}"),
    ),
    ("DELETE", "/clusters/{cluster}"): (
        # The clusters hold workspaces: an allowed call reaches the service and gets 409.
        Rule("cluster", "clusters.write"),
        simple("DELETE", "/clusters/{t}", ok={409}),
    ),
    ("POST", "/clusters/{cluster}/agent-token"): (
        Rule("cluster", "clusters.write"),
        simple("POST", "/clusters/{t}/agent-token"),
    ),
    ("GET", "/clusters/{cluster}/desired"): (
        Rule("cluster", "clusters.read", agent=True),
        simple("GET", "/clusters/{t}/desired"),
    ),
    ("GET", "/workspaces"): (Rule("authenticated"), simple("GET", "/workspaces")),
    ("POST", "/workspaces"): (
        Rule("cluster", "workspaces.create", in_body=True),
        _new_workspace,
    ),
    ("GET", "/workspaces/{workspace}"): (
        Rule("workspace", "workspaces.read"),
        simple("GET", "/workspaces/{t}"),
    ),
    ("DELETE", "/workspaces/{workspace}"): (
        # The workspaces run apps: an allowed call reaches the service and gets 409.
        Rule("workspace", "workspaces.write"),
        simple("DELETE", "/workspaces/{t}", ok={409}),
    ),
    # A workspace the caller cannot see is reported like a missing one: a located spec error.
    ("POST", "/apply"): (
        Rule("workspace", "apps.write", in_body=True, unseen=(400, "invalid_spec")),
        _apply,
    ),
    ("GET", "/apps"): (Rule("authenticated"), simple("GET", "/apps")),
    ("GET", "/workspaces/{workspace}/apps"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/apps"),
    ),
    ("GET", "/workspaces/{workspace}/apps/{app}"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/apps/base-{t}"),
    ),
    ("DELETE", "/workspaces/{workspace}/apps/{app}"): (
        Rule("workspace", "apps.write"),
        _delete_app,
    ),
    ("GET", "/workspaces/{workspace}/apps/{app}/versions"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/apps/base-{t}/versions"),
    ),
    ("GET", "/workspaces/{workspace}/apps/{app}/versions/{number}"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/apps/base-{t}/versions/1"),
    ),
    ("POST", "/workspaces/{workspace}/apps/{app}/rollback"): (
        Rule("workspace", "apps.write"),
        _rollback,
    ),
    # No agent is connected in this test: an allowed call reaches the hub and gets 503.
    ("GET", "/workspaces/{workspace}/apps/{app}/logs"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/apps/base-{t}/logs", ok={503}),
    ),
    ("POST", "/workspaces/{workspace}/apps/{app}/restart"): (
        Rule("workspace", "apps.write"),
        simple("POST", "/workspaces/{t}/apps/base-{t}/restart", ok={503}),
    ),
    ("POST", "/workspaces/{workspace}/apps/{app}/rollout/promote"): (
        Rule("workspace", "apps.write"),
        simple("POST", "/workspaces/{t}/apps/bg-{t}/rollout/promote", {"full": True}, ok={503}),
    ),
    ("POST", "/workspaces/{workspace}/apps/{app}/rollout/abort"): (
        Rule("workspace", "apps.write"),
        simple("POST", "/workspaces/{t}/apps/bg-{t}/rollout/abort", ok={503}),
    ),
    ("POST", "/workspaces/{workspace}/jobs/{job}/runs"): (
        Rule("workspace", "apps.write"),
        simple("POST", "/workspaces/{t}/jobs/job-{t}/runs", {"params": {"n": "1"}}, ok={503}),
    ),
    ("GET", "/workspaces/{workspace}/jobs/{job}/runs"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/jobs/job-{t}/runs"),
    ),
    ("GET", "/workspaces/{workspace}/runs/{run}"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/runs/run-{t}"),
    ),
    ("POST", "/workspaces/{workspace}/runs/{run}/stop"): (
        Rule("workspace", "apps.write"),
        simple("POST", "/workspaces/{t}/runs/run-{t}/stop", ok={503}),
    ),
    ("GET", "/workspaces/{workspace}/runs/{run}/logs"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/runs/run-{t}/logs", ok={503}),
    ),
    ("GET", "/workspaces/{workspace}/secrets"): (
        Rule("workspace", "secrets.list"),
        simple("GET", "/workspaces/{t}/secrets"),
    ),
    ("GET", "/workspaces/{workspace}/secrets/{group}"): (
        Rule("workspace", "secrets.read"),
        simple("GET", "/workspaces/{t}/secrets/base"),
    ),
    ("PUT", "/workspaces/{workspace}/secrets/{group}"): (
        Rule("workspace", "secrets.write"),
        simple("PUT", "/workspaces/{t}/secrets/base", {"values": {"k": "v2"}}),
    ),
    ("PATCH", "/workspaces/{workspace}/secrets/{group}"): (
        Rule("workspace", "secrets.write"),
        simple("PATCH", "/workspaces/{t}/secrets/base", {"values": {"k": "v3", "gone": None}}),
    ),
    ("DELETE", "/workspaces/{workspace}/secrets/{group}"): (
        Rule("workspace", "secrets.write"),
        _delete_group,
    ),
    ("GET", "/audit"): (Rule("tenant", "audit.read"), simple("GET", "/audit")),
    ("GET", "/gateway/snapshot"): (
        Rule("tenant", "gateway.serve"),
        simple("GET", "/gateway/snapshot"),
    ),
    ("POST", "/gateway/usage"): (
        Rule("tenant", "gateway.serve"),
        simple("POST", "/gateway/usage", {"gateway": "gw-1", "records": []}, ok={202}),
    ),
    ("GET", "/gateway/usage"): (Rule("tenant", "gateway.read"), simple("GET", "/gateway/usage")),
    ("GET", "/gateway/replicas"): (
        Rule("tenant", "gateway.read"),
        simple("GET", "/gateway/replicas"),
    ),
    ("GET", "/workspaces/{workspace}/progress"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/progress?apps=base-{t}"),
    ),
    ("GET", "/clusters/{cluster}/metrics"): (
        Rule("cluster", "clusters.read"),
        simple("GET", "/clusters/{t}/metrics?since=1h"),
    ),
    ("GET", "/workspaces/{workspace}/apps/{app}/metrics"): (
        Rule("workspace", "apps.read"),
        simple("GET", "/workspaces/{t}/apps/base-{t}/metrics?name=gpu_utilization"),
    ),
    ("GET", "/gateway/usage/series"): (
        Rule("tenant", "gateway.read"),
        simple("GET", "/gateway/usage/series?since=1h&step=5m&by=model"),
    ),
}


async def _logout(w: World, a: Actor, t: str | None) -> Call:
    """Logging out revokes the token the actor calls with; the matrix calls with one client per
    actor, so this entry comes last (below). The helpers act with the bootstrap admin's token:
    before the admin logs out, they get a token of their own."""
    if a.name == "admin":
        created = await w.ok("POST", "/tokens", {"name": "matrix-helpers"})
        w.server.admin_token = created["secret"]
    return call("POST", "/auth/logout", ok={200})


# The cluster bootstrap (a dry run: the matrix calls it for every actor, and the world stays
# as it is for the other entries).
ENDPOINTS[("POST", "/clusters/{cluster}/bootstrap")] = (
    Rule("cluster", "clusters.write"),
    simple("POST", "/clusters/{t}/bootstrap", {"bootstrap": {}, "dry_run": True}, {200}),
)


# Last, for the reason in _logout: added after every other entry, wherever those are written.
ENDPOINTS[("POST", "/auth/logout")] = (Rule("authenticated"), _logout)


async def _named(w: World, url: str, name: str, **extra: Any) -> str:
    await w.ok("POST", url, {"name": name, **extra})
    return name


TARGETS = {
    "public": [None],
    "authenticated": [None],
    "tenant": [None],
    "cluster": ["cla", "clb"],
    "workspace": ["wa1", "wa2", "wb1"],
}


def expected(rule: Rule, actor: Actor, target: str | None) -> str:
    """allow | 403 | 404."""
    if rule.level == "public":
        return "allow"
    if actor.agent_of:
        if rule.agent and target == actor.agent_of:
            return "allow"
        return "404" if rule.level in ("cluster", "workspace") and not rule.in_body else "403"
    if rule.level == "authenticated":
        return "allow"
    assert rule.permission is not None
    level_target = None if rule.level == "tenant" else target
    if actor.has(rule.permission, level_target):
        return "allow"
    if rule.level == "tenant" or actor.covers(target):
        return "403"
    return "404"


async def setup_world(server: Server) -> World:
    w = World(server)
    admin = server.admin
    docs = [
        "kind: Cluster\nname: cla\n",
        "kind: Cluster\nname: clb\n",
        "kind: Workspace\nname: wa1\ncluster: cla\n",
        "kind: Workspace\nname: wa2\ncluster: cla\n",
        "kind: Workspace\nname: wb1\ncluster: clb\n",
    ]
    for ws in CLUSTER_OF:
        docs.append(SERVICE.format(name=f"base-{ws}", ws=ws, tag=0))
        docs.append(BLUE_GREEN.format(name=f"bg-{ws}", ws=ws, tag=0))
        docs.append(JOB.format(name=f"job-{ws}", ws=ws))
    r = await admin.post(
        "/apply", json={"documents": [{"source": "w.yaml", "content": "---\n".join(docs)}]}
    )
    assert r.status_code == 200, r.text
    tokens = {
        c["name"]: c["agent_token"]["secret"] for c in r.json()["changes"] if c["agent_token"]
    }
    w.tokens["agent-ca"] = tokens["cla"]
    w.tokens["admin"] = server.admin_token
    for ws in CLUSTER_OF:
        await w.ok("PUT", f"/workspaces/{ws}/secrets/base", {"values": {"k": "v"}})
    await _record_runs(server)
    await w.ok("POST", "/users", {"name": "someone"})
    await w.ok("POST", "/users", {"name": "pw-user", "password": "pw-user-password"})
    await w.ok("POST", "/teams", {"name": "team-x"})
    for actor in ACTORS:
        if actor.agent_of or actor.name == "admin":
            continue
        await w.ok("POST", "/users", {"name": actor.name})
        if actor.role:
            await w.ok(
                "POST",
                "/role-bindings",
                {
                    "role": actor.role,
                    "subject_kind": "user",
                    "subject": actor.name,
                    "scope_kind": actor.scope_kind,
                    "scope": actor.scope,
                },
            )
        # Tokens are minted for their caller only, so each actor logs in for its own.
        await w.ok("PATCH", f"/users/{actor.name}", {"password": f"{actor.name}-password"})
        r = await server.client().post(
            "/auth/login", json={"username": actor.name, "password": f"{actor.name}-password"}
        )
        assert r.status_code == 200, r.text
        w.tokens[actor.name] = r.json()["token"]
    return w


async def _record_runs(server: Server) -> None:
    """One run per job, as an agent's report would record it (no agent runs in this test)."""
    async with server.app.state.services.db.session() as s:
        clusters = {r.name: r.id for r in await s.scalars(select(ClusterRow))}
        for ws, cluster in CLUSTER_OF.items():
            s.add(
                JobRunRow(
                    cluster_id=clusters[cluster],
                    workspace=ws,
                    job=f"job-{ws}",
                    name=f"run-{ws}",
                    started_by="user:admin",
                    params={},
                    scheduled=False,
                    phase="Running",
                )
            )


def _openapi_endpoints(server: Server) -> set[tuple[str, str]]:
    paths = server.app.openapi()["paths"]
    return {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, ops in paths.items()
        for method in ops
    }


async def test_every_endpoint_has_a_matrix_entry(server: Server) -> None:
    declared = _openapi_endpoints(server)
    assert declared == set(ENDPOINTS), (
        f"missing from the matrix: {sorted(declared - set(ENDPOINTS))}; "
        f"in the matrix but not served: {sorted(set(ENDPOINTS) - declared)}"
    )


async def test_authorization_matrix(server: Server) -> None:
    w = await setup_world(server)
    failures: list[str] = []
    checked = 0
    for actor in ACTORS:
        client = server.client(w.tokens[actor.name])
        for (method, path), (rule, build) in ENDPOINTS.items():
            for target in TARGETS[rule.level]:
                want = expected(rule, actor, target)
                req = await build(w, actor, target)
                r = await client.request(req.method, req.url, json=req.json)
                checked += 1
                code = r.json().get("error", {}).get("code") if r.status_code >= 400 else None
                if want == "allow":
                    good = r.status_code in req.ok
                elif want == "403":
                    good = r.status_code == 403 and code == "forbidden"
                else:
                    good = (r.status_code, code) == rule.unseen
                if not good:
                    failures.append(
                        f"{actor.name:10} {method:6} {path} on {target or 'tenant'}: "
                        f"expected {want}, got {r.status_code} {r.text[:160]}"
                    )
    assert checked > 600
    assert not failures, f"{len(failures)} of {checked} cases wrong:\n" + "\n".join(failures)


async def test_no_token_is_refused_everywhere_but_public_routes(server: Server) -> None:
    w = await setup_world(server)
    anonymous = server.client()
    for (method, path), (rule, build) in ENDPOINTS.items():
        for target in TARGETS[rule.level]:
            req = await build(w, Actor("anonymous"), target)
            r = await anonymous.request(req.method, req.url, json=req.json)
            if rule.level == "public":
                assert r.status_code in req.ok, (method, path, r.text)
            else:
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.json()["error"]["code"] == "unauthenticated"
