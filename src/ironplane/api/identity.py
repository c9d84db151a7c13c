"""Users, teams, service accounts, API tokens, roles and role bindings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, SecretStr

from ironplane.api.common import ObjectName, Request, Response

SubjectKind = Literal["user", "team", "service_account"]
ScopeKind = Literal["tenant", "cluster", "workspace"]


class LoginRequest(Request):
    username: str = Field(max_length=63)
    password: SecretStr = Field(max_length=1024)


class LoginResponse(Response):
    token: str
    expires_at: datetime


class UserCreate(Request):
    name: ObjectName
    email: str | None = Field(default=None, max_length=254)
    password: SecretStr | None = Field(default=None, min_length=8, max_length=1024)


class UserUpdate(Request):
    email: str | None = Field(default=None, max_length=254)
    password: SecretStr | None = Field(default=None, min_length=8, max_length=1024)
    current_password: SecretStr | None = Field(default=None, max_length=1024)
    """Needed to change your own password, if you have one; not for an admin resetting another
    user's."""
    active: bool | None = None


class User(Response):
    name: str
    email: str | None = None
    active: bool = True
    has_password: bool = False
    teams: list[str] = []
    created_at: datetime


class TeamCreate(Request):
    name: ObjectName
    members: list[ObjectName] = Field(default=[], max_length=1000)


class Team(Response):
    name: str
    members: list[str] = []
    created_at: datetime


class ServiceAccountCreate(Request):
    name: ObjectName
    description: str = Field(default="", max_length=500)


class ServiceAccount(Response):
    name: str
    description: str = ""
    created_at: datetime


class TokenCreate(Request):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)
    """None: never expires."""
    service_account: ObjectName | None = None
    """Mint the token for this service account instead of the caller."""


class Token(Response):
    id: str
    name: str
    subject: str
    """``user:alice``, ``service_account:ci`` or ``agent:oke-prod``."""
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class TokenCreated(Response):
    token: Token
    secret: str
    """The bearer token. Shown once; only its hash is stored."""


class RoleCreate(Request):
    name: ObjectName
    permissions: list[str] = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)


class Role(Response):
    name: str
    permissions: list[str]
    description: str = ""
    builtin: bool = False


class RoleBindingCreate(Request):
    role: ObjectName
    subject_kind: SubjectKind
    subject: ObjectName
    scope_kind: ScopeKind = "tenant"
    scope: ObjectName | None = None
    """The cluster or workspace name; omit for the tenant scope."""


class RoleBinding(Response):
    id: int
    role: str
    subject_kind: SubjectKind
    subject: str
    scope_kind: ScopeKind
    scope: str | None = None
    created_at: datetime


class Whoami(Response):
    subject_kind: str
    name: str
    bindings: list[RoleBinding] = []
