"""JSON bodies the server answers with, one per response model, for the SDK and CLI tests."""

from __future__ import annotations

from typing import Any

AT = "2025-03-04T05:06:07Z"

USER: dict[str, Any] = {
    "name": "alice",
    "email": "alice@example.com",
    "active": True,
    "has_password": True,
    "teams": ["ml"],
    "created_at": AT,
}
TEAM: dict[str, Any] = {"name": "ml", "members": ["alice", "bob"], "created_at": AT}
SERVICE_ACCOUNT: dict[str, Any] = {"name": "ci", "description": "CI deploys", "created_at": AT}
TOKEN: dict[str, Any] = {
    "id": "tok_1a2b",
    "name": "laptop",
    "subject": "user:alice",
    "created_at": AT,
    "expires_at": "2025-06-02T05:06:07Z",
}
TOKEN_CREATED: dict[str, Any] = {"token": TOKEN, "secret": "ipt_SECRET_VALUE_123"}
ROLE: dict[str, Any] = {
    "name": "deployer",
    "permissions": ["apps.read", "apps.write"],
    "description": "",
    "builtin": False,
}
BINDING: dict[str, Any] = {
    "id": 7,
    "role": "editor",
    "subject_kind": "team",
    "subject": "ml",
    "scope_kind": "workspace",
    "scope": "team-a",
    "created_at": AT,
}
WHOAMI: dict[str, Any] = {"subject_kind": "user", "name": "alice", "bindings": [BINDING]}
LOGIN: dict[str, Any] = {"token": "ips_SESSION_456", "expires_at": "2025-03-04T17:06:07Z"}
CLUSTER: dict[str, Any] = {
    "name": "oke-prod",
    "provider": "oci",
    "region": "eu-frankfurt-1",
    "enhanced": True,
    "revision": 12,
    "spec": {"kind": "Cluster", "name": "oke-prod", "provider": "oci"},
    "created_at": AT,
    "updated_at": AT,
}
CLUSTER_REGISTERED: dict[str, Any] = {"cluster": CLUSTER, "agent_token": TOKEN_CREATED}
WORKSPACE: dict[str, Any] = {
    "name": "team-a",
    "cluster": "oke-prod",
    "namespace": "team-a",
    "gpu": True,
    "privileged": False,
    "spec": {"kind": "Workspace", "name": "team-a", "cluster": "oke-prod"},
    "created_at": AT,
    "updated_at": AT,
}
DESIRED: dict[str, Any] = {
    "cluster": "oke-prod",
    "revision": 12,
    "hash": "sha256:abc",
    "objects": [{"kind": "Namespace", "metadata": {"name": "team-a"}}],
}
APP: dict[str, Any] = {
    "workspace": "team-a",
    "name": "chat-api",
    "kind": "Service",
    "active_version": 3,
    "latest_version": 3,
    "source": "git:https://git.example.com/apps.git#prod",
    "created_at": AT,
    "updated_at": AT,
}
VERSION_SUMMARY: dict[str, Any] = {
    "workspace": "team-a",
    "app": "chat-api",
    "number": 3,
    "hash": "sha256:0123456789abcdef0123",
    "reason": "rollback",
    "rollback_of": 1,
    "author": "user:alice",
    "created_at": AT,
    "cluster_revision": 12,
    "active": True,
}
VERSION: dict[str, Any] = {
    **VERSION_SUMMARY,
    "spec": {"kind": "Service", "name": "chat-api"},
    "objects": [
        {"kind": "Deployment", "metadata": {"name": "chat-api"}},
        {"kind": "Service", "metadata": {"name": "chat-api"}},
    ],
}
APP_DETAIL: dict[str, Any] = {
    "app": APP,
    "active": VERSION,
    "versions": [
        {**VERSION_SUMMARY, "number": 1, "reason": "apply", "rollback_of": None, "active": False},
        {**VERSION_SUMMARY, "number": 2, "reason": "apply", "rollback_of": None, "active": False},
        VERSION_SUMMARY,
    ],
}
CHANGE: dict[str, Any] = {
    "kind": "Service",
    "name": "chat-api",
    "workspace": "team-a",
    "action": "update",
    "version": 4,
    "cluster_revision": 13,
}
APPLY_RESULT: dict[str, Any] = {
    "dry_run": False,
    "changes": [CHANGE],
    "warnings": [{"message": "no GPU requested", "source": "apps/chat.yaml", "line": 3}],
}
SECRET_GROUP: dict[str, Any] = {
    "workspace": "team-a",
    "name": "hf",
    "keys": ["HF_TOKEN"],
    "updated_at": AT,
}
SECRET_VALUES: dict[str, Any] = {**SECRET_GROUP, "values": {"HF_TOKEN": "hf_xyz"}}
AUDIT_EVENT: dict[str, Any] = {
    "id": 41,
    "at": AT,
    "actor": "user:alice",
    "action": "apps.apply",
    "target": "team-a/chat-api",
    "outcome": "ok",
    "details": {"version": 4},
}


def deleted(name: str) -> dict[str, Any]:
    return {"deleted": name}


def error(code: str, message: str, diagnostics: list[dict[str, Any]] | None = None) -> Any:
    return {"error": {"code": code, "message": message, "diagnostics": diagnostics or []}}
