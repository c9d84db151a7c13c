"""Calls of the platform: clusters, workspaces, apps and versions, apply, secrets, audit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ironplane.api.apps import (
    App,
    AppDetail,
    AppLogs,
    ApplyRequest,
    ApplyResult,
    Change,
    PromoteRequest,
    Restarted,
    RollbackRequest,
    RolloutAction,
    SourceText,
    Version,
    VersionSummary,
)
from ironplane.api.audit import AuditEvent
from ironplane.api.clusters import Cluster, ClusterRegistered, DesiredState, Workspace
from ironplane.api.common import Deleted
from ironplane.api.gateway import (
    GatewayReplica,
    GatewaySnapshot,
    UsageAccepted,
    UsageBatch,
    UsageGroup,
    UsageRow,
)
from ironplane.api.identity import TokenCreated
from ironplane.api.runs import JobRun, RunLogs, RunRequest
from ironplane.api.secrets import SecretGroup, SecretGroupPatch, SecretGroupPut, SecretGroupValues
from ironplane.sdk._call import Call, body, many, one, path


def health() -> Call[dict[str, str]]:
    """``{"status": "ok"}`` when the server is up (no token needed)."""
    return Call("GET", "/health", one(dict[str, str]))


def apply(
    documents: Sequence[SourceText | tuple[str, str]],
    *,
    default_workspace: str | None = None,
    dry_run: bool = False,
    diff: bool = False,
    sync: str | None = None,
) -> Call[ApplyResult]:
    """Apply spec documents: each a ``SourceText`` or a ``(source, content)`` pair of raw text.

    The server parses and checks them; problems come back as a ``SpecError`` whose diagnostics
    name the source, line and column. ``sync`` names the source (say a git directory): apps
    applied earlier under the same name and absent now are deleted.
    """
    texts = [
        d if isinstance(d, SourceText) else {"source": d[0], "content": d[1]} for d in documents
    ]
    data = body(
        ApplyRequest,
        documents=texts,
        default_workspace=default_workspace,
        dry_run=dry_run,
        diff=diff,
        sync=sync,
    )
    return Call("POST", "/apply", one(ApplyResult), json=data)


# -- clusters and workspaces


def clusters_list() -> Call[list[Cluster]]:
    return Call("GET", "/clusters", many(Cluster))


def clusters_register(spec: Mapping[str, Any]) -> Call[ClusterRegistered]:
    """Register a cluster from its spec document; the agent token in the result is shown once."""
    return Call("POST", "/clusters", one(ClusterRegistered), json=dict(spec))


def clusters_get(name: str) -> Call[Cluster]:
    return Call("GET", path("clusters", name), one(Cluster))


def clusters_delete(name: str) -> Call[Deleted]:
    return Call("DELETE", path("clusters", name), one(Deleted))


def clusters_rotate_agent_token(name: str, *, revoke_old: bool = False) -> Call[TokenCreated]:
    """Mint a new token for the cluster's agent; its secret is shown once. The earlier tokens
    keep working until an agent connects with the new one; ``revoke_old`` revokes them now."""
    return Call(
        "POST",
        path("clusters", name, "agent-token"),
        one(TokenCreated),
        params={"revoke_old": True} if revoke_old else None,
    )


def clusters_desired(name: str) -> Call[DesiredState]:
    return Call("GET", path("clusters", name, "desired"), one(DesiredState))


def workspaces_list() -> Call[list[Workspace]]:
    return Call("GET", "/workspaces", many(Workspace))


def workspaces_create(spec: Mapping[str, Any]) -> Call[Workspace]:
    return Call("POST", "/workspaces", one(Workspace), json=dict(spec))


def workspaces_get(name: str) -> Call[Workspace]:
    return Call("GET", path("workspaces", name), one(Workspace))


def workspaces_delete(name: str) -> Call[Deleted]:
    return Call("DELETE", path("workspaces", name), one(Deleted))


# -- apps and versions


def apps_list(workspace: str | None = None) -> Call[list[App]]:
    """Every app the caller may see, or those of one workspace."""
    if workspace is None:
        return Call("GET", "/apps", many(App))
    return Call("GET", path("workspaces", workspace, "apps"), many(App))


def _app(workspace: str, app: str, *rest: str | int) -> str:
    return path("workspaces", workspace, "apps", app, *rest)


def apps_get(workspace: str, app: str) -> Call[AppDetail]:
    return Call("GET", _app(workspace, app), one(AppDetail))


def apps_delete(workspace: str, app: str) -> Call[Change]:
    """Delete the app from its cluster; its version history stays."""
    return Call("DELETE", _app(workspace, app), one(Change))


def apps_versions(workspace: str, app: str) -> Call[list[VersionSummary]]:
    return Call("GET", _app(workspace, app, "versions"), many(VersionSummary))


def apps_version(workspace: str, app: str, number: int) -> Call[Version]:
    return Call("GET", _app(workspace, app, "versions", number), one(Version))


def apps_rollback(workspace: str, app: str, *, to: int, dry_run: bool = False) -> Call[Change]:
    """Make version ``to`` active again, as a new version."""
    data = body(RollbackRequest, to=to, dry_run=dry_run)
    return Call("POST", _app(workspace, app, "rollback"), one(Change), json=data)


def apps_logs(workspace: str, app: str, *, lines: int = 100) -> Call[AppLogs]:
    """The app's last log lines, fetched through its cluster's agent (503 if not connected)."""
    return Call("GET", _app(workspace, app, "logs"), one(AppLogs), params={"lines": lines})


def apps_restart(workspace: str, app: str) -> Call[Restarted]:
    """Restart the app's processes or pods through its cluster's agent."""
    return Call("POST", _app(workspace, app, "restart"), one(Restarted))


def apps_promote(workspace: str, app: str, *, full: bool = False) -> Call[RolloutAction]:
    """Promote the app's canary or blue-green rollout past its pause (``full``: to the end)."""
    data = body(PromoteRequest, full=full)
    return Call("POST", _app(workspace, app, "rollout", "promote"), one(RolloutAction), json=data)


def apps_abort(workspace: str, app: str) -> Call[RolloutAction]:
    """Abort the app's canary or blue-green rollout: traffic back to the stable version."""
    return Call("POST", _app(workspace, app, "rollout", "abort"), one(RolloutAction))


# -- job runs


def runs_start(workspace: str, job: str, params: Mapping[str, str] | None = None) -> Call[JobRun]:
    """Start a run of the job; params not given take their defaults."""
    data = body(RunRequest, params=dict(params or {}))
    return Call("POST", path("workspaces", workspace, "jobs", job, "runs"), one(JobRun), json=data)


def runs_list(workspace: str, job: str, *, limit: int = 50) -> Call[list[JobRun]]:
    """The job's runs, newest first."""
    return Call(
        "GET",
        path("workspaces", workspace, "jobs", job, "runs"),
        many(JobRun),
        params={"limit": limit},
    )


def runs_get(workspace: str, run: str) -> Call[JobRun]:
    return Call("GET", path("workspaces", workspace, "runs", run), one(JobRun))


def runs_stop(workspace: str, run: str) -> Call[JobRun]:
    return Call("POST", path("workspaces", workspace, "runs", run, "stop"), one(JobRun))


def runs_logs(workspace: str, run: str, *, lines: int = 100) -> Call[RunLogs]:
    return Call(
        "GET",
        path("workspaces", workspace, "runs", run, "logs"),
        one(RunLogs),
        params={"lines": lines},
    )


# -- secrets


def secrets_list(workspace: str) -> Call[list[SecretGroup]]:
    return Call("GET", path("workspaces", workspace, "secrets"), many(SecretGroup))


def secrets_get(workspace: str, group: str) -> Call[SecretGroupValues]:
    return Call("GET", path("workspaces", workspace, "secrets", group), one(SecretGroupValues))


def secrets_put(workspace: str, group: str, values: Mapping[str, str]) -> Call[SecretGroup]:
    """Replace the group's keys and values."""
    data = body(SecretGroupPut, values=dict(values))
    return Call("PUT", path("workspaces", workspace, "secrets", group), one(SecretGroup), json=data)


def secrets_patch(
    workspace: str, group: str, values: Mapping[str, str | None]
) -> Call[SecretGroup]:
    """Set keys and delete keys (value ``None``) of a group, keeping its other keys; the group is
    created if absent. The merge happens on the server, so concurrent changes are not lost."""
    data = body(SecretGroupPatch, values=dict(values))
    return Call(
        "PATCH", path("workspaces", workspace, "secrets", group), one(SecretGroup), json=data
    )


def secrets_delete(workspace: str, group: str) -> Call[Deleted]:
    return Call("DELETE", path("workspaces", workspace, "secrets", group), one(Deleted))


# -- audit


def audit_list(*, limit: int | None = None, before: int | None = None) -> Call[list[AuditEvent]]:
    """The newest events first; ``before`` an event id pages back."""
    params = {"limit": limit, "before": before}
    return Call("GET", "/audit", many(AuditEvent), params=params)


# -- gateway


def gateway_snapshot() -> Call[GatewaySnapshot]:
    """What gateways serve from: providers and models from the Model apps, keys from the live
    API tokens (needs gateway.serve). Gateways themselves poll it with ``If-None-Match``."""
    return Call("GET", "/gateway/snapshot", one(GatewaySnapshot))


def gateway_report(
    records: Sequence[Mapping[str, Any]], *, gateway: str, dropped: int = 0
) -> Call[UsageAccepted]:
    """Post a batch of request logs (at most 5000) as gateway replica ``gateway``."""
    data = body(UsageBatch, gateway=gateway, dropped=dropped, records=list(records))
    return Call("POST", "/gateway/usage", one(UsageAccepted), json=data)


def gateway_usage(*, by: UsageGroup = "key", since: str = "24h") -> Call[list[UsageRow]]:
    """Requests, errors, tokens, cost and mean latency per key, model or team over the last
    ``since`` (15m, 24h, 7d; at most 90d), most expensive first (needs gateway.read)."""
    return Call("GET", "/gateway/usage", many(UsageRow), params={"by": by, "since": since})


def gateway_replicas() -> Call[list[GatewayReplica]]:
    """The gateway replicas that shipped request logs, with the records each dropped."""
    return Call("GET", "/gateway/replicas", many(GatewayReplica))
