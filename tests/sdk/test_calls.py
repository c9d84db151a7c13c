"""Every endpoint, through both clients: the request built and the response parsed.

One table describes each call once; the same table runs against ``Client`` and ``AsyncClient``,
so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import TypeAdapter

from ironplane.api.apps import (
    App,
    AppDetail,
    AppLogs,
    ApplyResult,
    Change,
    Restarted,
    RolloutAction,
    SourceText,
    Version,
    VersionSummary,
)
from ironplane.api.audit import AuditEvent
from ironplane.api.bootstrap import BootstrapResult
from ironplane.api.clusters import Cluster, ClusterRegistered, DesiredState, Workspace
from ironplane.api.common import Deleted
from ironplane.api.gateway import GatewayReplica, GatewaySnapshot, UsageAccepted, UsageRow
from ironplane.api.identity import (
    LoginResponse,
    Role,
    RoleBinding,
    ServiceAccount,
    Team,
    Token,
    TokenCreated,
    User,
    Whoami,
)
from ironplane.api.progress import WorkspaceProgress
from ironplane.api.runs import JobRun, RunLogs
from ironplane.api.secrets import SecretGroup, SecretGroupValues
from ironplane.api.telemetry import SeriesSet, UsageSeriesSet
from ironplane.core.errors import InvalidError
from ironplane.sdk import AsyncClient, Client
from tests.sdk import samples as s

URL = "https://ironplane.test"
TOKEN = "ipt_test_token"


@dataclass
class Case:
    id: str
    invoke: Callable[[Any], Any]
    method: str
    path: str
    response: Any
    type: Any
    json: Any = None
    query: dict[str, list[str]] = field(default_factory=dict)
    status: int = 200


CLUSTER_SPEC = {"kind": "Cluster", "name": "oke-prod", "provider": "oci", "region": "r"}
WORKSPACE_SPEC = {"kind": "Workspace", "name": "team-a", "cluster": "oke-prod"}
ROLLOUT_ACTION = {"workspace": "team-a", "app": "chat-api", "action": "promote", "message": "ok"}
JOB_RUN = {
    "name": "nightly-1a2b",
    "workspace": "team-a",
    "job": "nightly",
    "phase": "Pending",
    "started_by": "user:alice",
    "params": {"dataset": "gsm8k"},
    "created_at": s.AT,
}

CASES = [
    Case("health", lambda c: c.health(), "GET", "/health", {"status": "ok"}, dict[str, str]),
    Case(
        "auth.login",
        lambda c: c.auth.login("alice", "correct horse"),
        "POST",
        "/auth/login",
        s.LOGIN,
        LoginResponse,
        json={"username": "alice", "password": "correct horse"},
    ),
    Case(
        "auth.logout",
        lambda c: c.auth.logout(),
        "POST",
        "/auth/logout",
        {**s.TOKEN, "revoked_at": s.AT},
        Token,
    ),
    Case("auth.whoami", lambda c: c.auth.whoami(), "GET", "/auth/whoami", s.WHOAMI, Whoami),
    Case("users.list", lambda c: c.users.list(), "GET", "/users", [s.USER], list[User]),
    Case(
        "users.create",
        lambda c: c.users.create("alice", email="alice@example.com", password="s3cret-pass"),
        "POST",
        "/users",
        s.USER,
        User,
        json={"name": "alice", "email": "alice@example.com", "password": "s3cret-pass"},
        status=201,
    ),
    Case("users.get", lambda c: c.users.get("alice"), "GET", "/users/alice", s.USER, User),
    Case(
        "users.update sends only what is given",
        lambda c: c.users.update("alice", active=False),
        "PATCH",
        "/users/alice",
        s.USER,
        User,
        json={"active": False},
    ),
    Case(
        "users.update of your own password sends the current one",
        lambda c: c.users.update("alice", password="new-password", current_password="old-pass"),
        "PATCH",
        "/users/alice",
        s.USER,
        User,
        json={"password": "new-password", "current_password": "old-pass"},
    ),
    Case(
        "users.delete",
        lambda c: c.users.delete("alice"),
        "DELETE",
        "/users/alice",
        s.deleted("alice"),
        Deleted,
    ),
    Case("teams.list", lambda c: c.teams.list(), "GET", "/teams", [s.TEAM], list[Team]),
    Case(
        "teams.create",
        lambda c: c.teams.create("ml", members=["alice"]),
        "POST",
        "/teams",
        s.TEAM,
        Team,
        json={"name": "ml", "members": ["alice"]},
        status=201,
    ),
    Case("teams.get", lambda c: c.teams.get("ml"), "GET", "/teams/ml", s.TEAM, Team),
    Case(
        "teams.delete",
        lambda c: c.teams.delete("ml"),
        "DELETE",
        "/teams/ml",
        s.deleted("ml"),
        Deleted,
    ),
    Case(
        "teams.add_member",
        lambda c: c.teams.add_member("ml", "bob"),
        "PUT",
        "/teams/ml/members/bob",
        s.TEAM,
        Team,
    ),
    Case(
        "teams.remove_member",
        lambda c: c.teams.remove_member("ml", "bob"),
        "DELETE",
        "/teams/ml/members/bob",
        s.TEAM,
        Team,
    ),
    Case(
        "service_accounts.list",
        lambda c: c.service_accounts.list(),
        "GET",
        "/service-accounts",
        [s.SERVICE_ACCOUNT],
        list[ServiceAccount],
    ),
    Case(
        "service_accounts.create",
        lambda c: c.service_accounts.create("ci", description="CI deploys"),
        "POST",
        "/service-accounts",
        s.SERVICE_ACCOUNT,
        ServiceAccount,
        json={"name": "ci", "description": "CI deploys"},
        status=201,
    ),
    Case(
        "service_accounts.delete",
        lambda c: c.service_accounts.delete("ci"),
        "DELETE",
        "/service-accounts/ci",
        s.deleted("ci"),
        Deleted,
    ),
    Case(
        "tokens.list",
        lambda c: c.tokens.list(),
        "GET",
        "/tokens",
        [s.TOKEN],
        list[Token],
        query={"all": ["false"]},
    ),
    Case(
        "tokens.list all",
        lambda c: c.tokens.list(all=True),
        "GET",
        "/tokens",
        [s.TOKEN],
        list[Token],
        query={"all": ["true"]},
    ),
    Case(
        "tokens.create without expiry for a service account",
        lambda c: c.tokens.create("deploy", expires_in_days=None, service_account="ci"),
        "POST",
        "/tokens",
        s.TOKEN_CREATED,
        TokenCreated,
        json={"name": "deploy", "expires_in_days": None, "service_account": "ci"},
        status=201,
    ),
    Case(
        "tokens.revoke",
        lambda c: c.tokens.revoke("tok_1a2b"),
        "DELETE",
        "/tokens/tok_1a2b",
        {**s.TOKEN, "revoked_at": s.AT},
        Token,
    ),
    Case("roles.list", lambda c: c.roles.list(), "GET", "/roles", [s.ROLE], list[Role]),
    Case(
        "roles.create",
        lambda c: c.roles.create("deployer", permissions=["apps.read", "apps.write"]),
        "POST",
        "/roles",
        s.ROLE,
        Role,
        json={"name": "deployer", "permissions": ["apps.read", "apps.write"], "description": ""},
        status=201,
    ),
    Case(
        "roles.delete",
        lambda c: c.roles.delete("deployer"),
        "DELETE",
        "/roles/deployer",
        s.deleted("deployer"),
        Deleted,
    ),
    Case(
        "role_bindings.list",
        lambda c: c.role_bindings.list(),
        "GET",
        "/role-bindings",
        [s.BINDING],
        list[RoleBinding],
    ),
    Case(
        "role_bindings.create",
        lambda c: c.role_bindings.create(
            "editor", subject_kind="team", subject="ml", scope_kind="workspace", scope="team-a"
        ),
        "POST",
        "/role-bindings",
        s.BINDING,
        RoleBinding,
        json={
            "role": "editor",
            "subject_kind": "team",
            "subject": "ml",
            "scope_kind": "workspace",
            "scope": "team-a",
        },
        status=201,
    ),
    Case(
        "role_bindings.delete",
        lambda c: c.role_bindings.delete(7),
        "DELETE",
        "/role-bindings/7",
        s.deleted("7"),
        Deleted,
    ),
    Case(
        "clusters.list", lambda c: c.clusters.list(), "GET", "/clusters", [s.CLUSTER], list[Cluster]
    ),
    Case(
        "clusters.register sends the spec document",
        lambda c: c.clusters.register(CLUSTER_SPEC),
        "POST",
        "/clusters",
        s.CLUSTER_REGISTERED,
        ClusterRegistered,
        json=CLUSTER_SPEC,
        status=201,
    ),
    Case(
        "clusters.get",
        lambda c: c.clusters.get("oke-prod"),
        "GET",
        "/clusters/oke-prod",
        s.CLUSTER,
        Cluster,
    ),
    Case(
        "clusters.delete",
        lambda c: c.clusters.delete("oke-prod"),
        "DELETE",
        "/clusters/oke-prod",
        s.deleted("oke-prod"),
        Deleted,
    ),
    Case(
        "clusters.rotate_agent_token",
        lambda c: c.clusters.rotate_agent_token("oke-prod"),
        "POST",
        "/clusters/oke-prod/agent-token",
        s.TOKEN_CREATED,
        TokenCreated,
        status=201,
    ),
    Case(
        "clusters.desired",
        lambda c: c.clusters.desired("oke-prod"),
        "GET",
        "/clusters/oke-prod/desired",
        s.DESIRED,
        DesiredState,
    ),
    Case(
        "workspaces.list",
        lambda c: c.workspaces.list(),
        "GET",
        "/workspaces",
        [s.WORKSPACE],
        list[Workspace],
    ),
    Case(
        "workspaces.create",
        lambda c: c.workspaces.create(WORKSPACE_SPEC),
        "POST",
        "/workspaces",
        s.WORKSPACE,
        Workspace,
        json=WORKSPACE_SPEC,
        status=201,
    ),
    Case(
        "workspaces.get",
        lambda c: c.workspaces.get("team-a"),
        "GET",
        "/workspaces/team-a",
        s.WORKSPACE,
        Workspace,
    ),
    Case(
        "workspaces.delete",
        lambda c: c.workspaces.delete("team-a"),
        "DELETE",
        "/workspaces/team-a",
        s.deleted("team-a"),
        Deleted,
    ),
    Case("apps.list all", lambda c: c.apps.list(), "GET", "/apps", [s.APP], list[App]),
    Case(
        "apps.list of a workspace",
        lambda c: c.apps.list("team-a"),
        "GET",
        "/workspaces/team-a/apps",
        [s.APP],
        list[App],
    ),
    Case(
        "apps.get",
        lambda c: c.apps.get("team-a", "chat-api"),
        "GET",
        "/workspaces/team-a/apps/chat-api",
        s.APP_DETAIL,
        AppDetail,
    ),
    Case(
        "apps.delete",
        lambda c: c.apps.delete("team-a", "chat-api"),
        "DELETE",
        "/workspaces/team-a/apps/chat-api",
        {**s.CHANGE, "action": "delete"},
        Change,
    ),
    Case(
        "apps.versions",
        lambda c: c.apps.versions("team-a", "chat-api"),
        "GET",
        "/workspaces/team-a/apps/chat-api/versions",
        [s.VERSION_SUMMARY],
        list[VersionSummary],
    ),
    Case(
        "apps.version",
        lambda c: c.apps.version("team-a", "chat-api", 3),
        "GET",
        "/workspaces/team-a/apps/chat-api/versions/3",
        s.VERSION,
        Version,
    ),
    Case(
        "apps.rollback",
        lambda c: c.apps.rollback("team-a", "chat-api", to=1, dry_run=True),
        "POST",
        "/workspaces/team-a/apps/chat-api/rollback",
        s.CHANGE,
        Change,
        json={"to": 1, "dry_run": True},
    ),
    Case(
        "apps.logs",
        lambda c: c.apps.logs("team-a", "chat-api", lines=5),
        "GET",
        "/workspaces/team-a/apps/chat-api/logs",
        {"workspace": "team-a", "app": "chat-api", "lines": ["a", "b"]},
        AppLogs,
        query={"lines": ["5"]},
    ),
    Case(
        "apps.restart",
        lambda c: c.apps.restart("team-a", "chat-api"),
        "POST",
        "/workspaces/team-a/apps/chat-api/restart",
        {"restarted": "team-a/chat-api"},
        Restarted,
    ),
    Case(
        "apps.promote",
        lambda c: c.apps.promote("team-a", "chat-api", full=True),
        "POST",
        "/workspaces/team-a/apps/chat-api/rollout/promote",
        ROLLOUT_ACTION,
        RolloutAction,
        json={"full": True},
    ),
    Case(
        "apps.abort",
        lambda c: c.apps.abort("team-a", "chat-api"),
        "POST",
        "/workspaces/team-a/apps/chat-api/rollout/abort",
        {**ROLLOUT_ACTION, "action": "abort"},
        RolloutAction,
    ),
    Case(
        "runs.start",
        lambda c: c.runs.start("team-a", "nightly", {"dataset": "gsm8k"}),
        "POST",
        "/workspaces/team-a/jobs/nightly/runs",
        JOB_RUN,
        JobRun,
        json={"params": {"dataset": "gsm8k"}},
    ),
    Case(
        "runs.list",
        lambda c: c.runs.list("team-a", "nightly", limit=7),
        "GET",
        "/workspaces/team-a/jobs/nightly/runs",
        [JOB_RUN],
        list[JobRun],
        query={"limit": ["7"]},
    ),
    Case(
        "runs.get",
        lambda c: c.runs.get("team-a", "nightly-1a2b"),
        "GET",
        "/workspaces/team-a/runs/nightly-1a2b",
        JOB_RUN,
        JobRun,
    ),
    Case(
        "runs.stop",
        lambda c: c.runs.stop("team-a", "nightly-1a2b"),
        "POST",
        "/workspaces/team-a/runs/nightly-1a2b/stop",
        {**JOB_RUN, "phase": "Running"},
        JobRun,
    ),
    Case(
        "runs.logs",
        lambda c: c.runs.logs("team-a", "nightly-1a2b", lines=3),
        "GET",
        "/workspaces/team-a/runs/nightly-1a2b/logs",
        {"workspace": "team-a", "run": "nightly-1a2b", "lines": ["x"]},
        RunLogs,
        query={"lines": ["3"]},
    ),
    Case(
        "apply with pairs and SourceText",
        lambda c: c.apply(
            [("a.yaml", "kind: Service\n"), SourceText(source="b.yaml", content="kind: Job\n")],
            default_workspace="team-a",
            diff=True,
            sync="git:repo#apps",
        ),
        "POST",
        "/apply",
        s.APPLY_RESULT,
        ApplyResult,
        json={
            "documents": [
                {"source": "a.yaml", "content": "kind: Service\n"},
                {"source": "b.yaml", "content": "kind: Job\n"},
            ],
            "default_workspace": "team-a",
            "dry_run": False,
            "diff": True,
            "sync": "git:repo#apps",
        },
    ),
    Case(
        "secrets.list",
        lambda c: c.secrets.list("team-a"),
        "GET",
        "/workspaces/team-a/secrets",
        [s.SECRET_GROUP],
        list[SecretGroup],
    ),
    Case(
        "secrets.get",
        lambda c: c.secrets.get("team-a", "hf"),
        "GET",
        "/workspaces/team-a/secrets/hf",
        s.SECRET_VALUES,
        SecretGroupValues,
    ),
    Case(
        "secrets.put sends the values in clear",
        lambda c: c.secrets.put("team-a", "hf", {"HF_TOKEN": "hf_xyz"}),
        "PUT",
        "/workspaces/team-a/secrets/hf",
        s.SECRET_GROUP,
        SecretGroup,
        json={"values": {"HF_TOKEN": "hf_xyz"}},
    ),
    Case(
        "secrets.patch sends null for a key to delete",
        lambda c: c.secrets.patch("team-a", "hf", {"HF_TOKEN": "hf_new", "OLD": None}),
        "PATCH",
        "/workspaces/team-a/secrets/hf",
        s.SECRET_GROUP,
        SecretGroup,
        json={"values": {"HF_TOKEN": "hf_new", "OLD": None}},
    ),
    Case(
        "secrets.delete",
        lambda c: c.secrets.delete("team-a", "hf"),
        "DELETE",
        "/workspaces/team-a/secrets/hf",
        s.deleted("hf"),
        Deleted,
    ),
    Case(
        "audit.list", lambda c: c.audit.list(), "GET", "/audit", [s.AUDIT_EVENT], list[AuditEvent]
    ),
    Case(
        "audit.list a page",
        lambda c: c.audit.list(limit=50, before=41),
        "GET",
        "/audit",
        [s.AUDIT_EVENT],
        list[AuditEvent],
        query={"limit": ["50"], "before": ["41"]},
    ),
]

SNAPSHOT = {
    "version": "ab" * 32,
    "generated_at": s.AT,
    "config": {
        "providers": [
            {"name": "model:prod/llama", "kind": "openai", "base_url": "http://127.0.0.1:8000/v1"}
        ],
        "models": [
            {
                "name": "llama",
                "targets": [{"provider": "model:prod/llama", "model": "llama", "weight": 100}],
                "cold_start": None,
            }
        ],
        "keys": [
            {
                "name": "user:alice",
                "token_id": "0123456789abcdef",
                "hash": "sha256:" + "cd" * 32,
                "team": "ml",
                "models": ["*"],
                "expires_at": 1795987100.0,
            }
        ],
    },
}
USAGE_RECORD = {
    "at": 1795987100.25,
    "key": "user:alice",
    "team": "ml",
    "model": "llama",
    "target": "model:prod/llama/llama",
    "status": 200,
    "latency_ms": 412.5,
    "prompt_tokens": 12,
    "completion_tokens": 40,
    "cost": 0.0000172,
    "stream": True,
}
USAGE_ROW = {
    "group": "user:alice",
    "requests": 10,
    "errors": 1,
    "prompt_tokens": 120,
    "completion_tokens": 400,
    "cost": 0.0123,
    "avg_latency_ms": 380.2,
}
REPLICA = {"gateway": "gw-1-42", "last_seen": s.AT, "accepted": 10, "dropped": 2}
CASES += [
    Case(
        "gateway.snapshot",
        lambda c: c.gateway.snapshot(),
        "GET",
        "/gateway/snapshot",
        SNAPSHOT,
        GatewaySnapshot,
    ),
    Case(
        "gateway.report",
        lambda c: c.gateway.report([USAGE_RECORD], gateway="gw-1-42", dropped=2),
        "POST",
        "/gateway/usage",
        {"accepted": 1},
        UsageAccepted,
        json={"gateway": "gw-1-42", "dropped": 2, "records": [USAGE_RECORD]},
        status=202,
    ),
    Case(
        "gateway.usage",
        lambda c: c.gateway.usage(by="team", since="7d"),
        "GET",
        "/gateway/usage",
        [USAGE_ROW],
        list[UsageRow],
        query={"by": ["team"], "since": ["7d"]},
    ),
    Case(
        "gateway.usage with the defaults",
        lambda c: c.gateway.usage(),
        "GET",
        "/gateway/usage",
        [],
        list[UsageRow],
        query={"by": ["key"], "since": ["24h"]},
    ),
    Case(
        "gateway.replicas",
        lambda c: c.gateway.replicas(),
        "GET",
        "/gateway/replicas",
        [REPLICA],
        list[GatewayReplica],
    ),
]


PROGRESS = {
    "workspace": "team-a",
    "cluster": "oke-prod",
    "revision": 14,
    "applied_revision": 13,
    "agent_connected": True,
    "apps": [
        {
            "name": "chat-api",
            "kind": "Service",
            "active_version": 4,
            "cluster_revision": 13,
            "version_label": "h0123456789ab",
            "status": {
                "phase": "Progressing",
                "ready": 0,
                "desired": 1,
                "version": "h0123456789ab",
                "weights": {"done": 1024, "total": 4096, "rate": 512.0, "eta": 6.0},
                "updated_at": s.AT,
            },
        }
    ],
}
CASES += [
    Case(
        "workspaces.progress",
        lambda c: c.workspaces.progress("team-a", ["chat-api", "web"]),
        "GET",
        "/workspaces/team-a/progress",
        PROGRESS,
        WorkspaceProgress,
        query={"apps": ["chat-api,web"]},
    ),
    Case(
        "workspaces.progress of every app",
        lambda c: c.workspaces.progress("team-a"),
        "GET",
        "/workspaces/team-a/progress",
        {**PROGRESS, "apps": []},
        WorkspaceProgress,
    ),
]

BOOTSTRAP_RESULT = {
    "cluster": "oke-prod",
    "dry_run": False,
    "changed": True,
    "revision": 13,
    "profile": "oci-bare-metal",
    "argocd_namespace": "argocd",
    "installs_argo_cd": True,
    "addons": ["argo-cd", "kueue", "prometheus"],
    "existing": ["prometheus"],
    "applications": [
        {
            "name": "kueue",
            "addon": "kueue",
            "namespace": "kueue-system",
            "source": "registry.k8s.io/kueue/charts kueue",
            "version": "0.19.2",
            "wave": 4,
        }
    ],
    "objects": 9,
}
CASES += [
    Case(
        "clusters.bootstrap sends the bootstrap section",
        lambda c: c.clusters.bootstrap(
            "oke-prod",
            profile="oci-bare-metal",
            existing={"prometheus": {"namespace": "obs", "endpoint": "http://p.obs.svc:9090"}},
            extras=["victoria-logs"],
            skip=["kuberay"],
        ),
        "POST",
        "/clusters/oke-prod/bootstrap",
        BOOTSTRAP_RESULT,
        BootstrapResult,
        json={
            "bootstrap": {
                "profile": "oci-bare-metal",
                "existing": {
                    "prometheus": {"namespace": "obs", "endpoint": "http://p.obs.svc:9090"}
                },
                "extras": ["victoria-logs"],
                "skip": ["kuberay"],
            },
            "dry_run": False,
        },
    ),
]


SERIES_SET = {
    "since": 1795992000.0,
    "until": 1795995600.0,
    "step": 300,
    "series": [
        {"name": "gpu_utilization", "labels": {"node": "n1"}, "points": [[1795992000.0, 87.5]]}
    ],
}
USAGE_SERIES = {
    "since": 1795992000.0,
    "until": 1795995600.0,
    "step": 300,
    "by": "model",
    "series": [
        {
            "group": "llama",
            "buckets": [
                {
                    "t": 1795992000.0,
                    "requests": 3,
                    "errors": 1,
                    "p50_ms": 380.5,
                    "p99_ms": 900.0,
                    "prompt_tokens": 30,
                    "completion_tokens": 60,
                    "cost": 0.01,
                }
            ],
        }
    ],
}
CASES += [
    Case(
        "clusters.metrics",
        lambda c: c.clusters.metrics("oke-prod", names=["gpu_utilization", "gpu_count"]),
        "GET",
        "/clusters/oke-prod/metrics",
        SERIES_SET,
        SeriesSet,
        query={"name": ["gpu_utilization,gpu_count"], "since": ["1h"]},
    ),
    Case(
        "apps.metrics",
        lambda c: c.apps.metrics("team-a", "chat-api", since="6h", step="5m"),
        "GET",
        "/workspaces/team-a/apps/chat-api/metrics",
        SERIES_SET,
        SeriesSet,
        query={"since": ["6h"], "step": ["5m"]},
    ),
    Case(
        "gateway.usage_series",
        lambda c: c.gateway.usage_series(since="7d", step="1h", by="model"),
        "GET",
        "/gateway/usage/series",
        USAGE_SERIES,
        UsageSeriesSet,
        query={"since": ["7d"], "step": ["1h"], "by": ["model"]},
    ),
]


def test_a_bad_usage_record_is_refused_before_sending() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(202, json={"accepted": 1})

    client = Client(URL, TOKEN, transport=httpx.MockTransport(handle))
    with client, pytest.raises(InvalidError, match=r"records\.0\.status"):
        client.gateway.report([USAGE_RECORD | {"status": 42}], gateway="gw")
    assert calls == []


class Recorder:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.case.status, json=self.case.response)

    def check(self, result: Any) -> None:
        case = self.case
        [request] = self.requests
        assert request.method == case.method
        assert request.url.raw_path.decode().partition("?")[0] == "/api/v1" + case.path
        assert request.url.host == "ironplane.test"
        assert parse_qs(request.url.query.decode()) == case.query
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        if case.json is None:
            assert request.content == b""
        else:
            assert request.headers["content-type"] == "application/json"
            assert json.loads(request.content) == case.json
        expected = TypeAdapter(case.type).validate_python(case.response)
        assert result == expected
        assert type(result) is type(expected)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sync_client(case: Case) -> None:
    recorder = Recorder(case)
    with Client(URL, TOKEN, transport=httpx.MockTransport(recorder)) as client:
        result = case.invoke(client)
    recorder.check(result)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_async_client(case: Case) -> None:
    recorder = Recorder(case)

    async def go() -> Any:
        async with AsyncClient(URL, TOKEN, transport=httpx.MockTransport(recorder)) as client:
            return await case.invoke(client)

    recorder.check(asyncio.run(go()))


def test_every_group_method_is_covered() -> None:
    """A new endpoint added to a group without a row in CASES fails here."""
    from ironplane.sdk._call import endpoint
    from ironplane.sdk._groups import Api

    client = Client(URL, TOKEN)
    methods = {name for name, v in vars(Api).items() if isinstance(v, endpoint)}
    for group_name, group in vars(client).items():
        if group_name.startswith("_") or not hasattr(group, "_send"):
            continue
        methods |= {
            f"{group_name}.{name}"
            for name, v in vars(type(group)).items()
            if isinstance(v, endpoint)
        }
    client.close()
    covered = {c.id.split(" ")[0] for c in CASES}
    assert methods - covered == set()
    assert len(methods) == 68
