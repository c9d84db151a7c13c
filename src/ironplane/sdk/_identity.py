"""Calls of identity and access: login, users, teams, service accounts, tokens, roles, bindings."""

from __future__ import annotations

from ironplane.api.common import Deleted
from ironplane.api.identity import (
    LoginRequest,
    LoginResponse,
    Role,
    RoleBinding,
    RoleBindingCreate,
    RoleCreate,
    ScopeKind,
    ServiceAccount,
    ServiceAccountCreate,
    SubjectKind,
    Team,
    TeamCreate,
    Token,
    TokenCreate,
    TokenCreated,
    User,
    UserCreate,
    UserUpdate,
    Whoami,
)
from ironplane.sdk._call import Call, body, many, one, path

# -- auth


def login(username: str, password: str) -> Call[LoginResponse]:
    """Exchange a user's password for a session token."""
    data = body(LoginRequest, username=username, password=password)
    return Call("POST", "/auth/login", one(LoginResponse), json=data)


def logout() -> Call[Token]:
    """Revoke the token the client sends (say the session of a password login)."""
    return Call("POST", "/auth/logout", one(Token))


def whoami() -> Call[Whoami]:
    """Who the token belongs to, and its role bindings."""
    return Call("GET", "/auth/whoami", one(Whoami))


# -- users


def users_list() -> Call[list[User]]:
    return Call("GET", "/users", many(User))


def users_create(name: str, *, email: str | None = None, password: str | None = None) -> Call[User]:
    data = body(UserCreate, name=name, email=email, password=password)
    return Call("POST", "/users", one(User), json=data)


def users_get(name: str) -> Call[User]:
    return Call("GET", path("users", name), one(User))


def users_update(
    name: str,
    *,
    email: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
    active: bool | None = None,
) -> Call[User]:
    """Change only the fields given (not None).

    Changing your own password needs ``current_password`` (if you have one); an admin resetting
    another user's does not. A new password ends that user's other login sessions.
    """
    given = {
        "email": email,
        "password": password,
        "current_password": current_password,
        "active": active,
    }
    data = body(UserUpdate, exclude_unset=True, **{k: v for k, v in given.items() if v is not None})
    return Call("PATCH", path("users", name), one(User), json=data)


def users_delete(name: str) -> Call[Deleted]:
    return Call("DELETE", path("users", name), one(Deleted))


# -- teams


def teams_list() -> Call[list[Team]]:
    return Call("GET", "/teams", many(Team))


def teams_create(name: str, *, members: list[str] | None = None) -> Call[Team]:
    data = body(TeamCreate, name=name, members=members or [])
    return Call("POST", "/teams", one(Team), json=data)


def teams_get(name: str) -> Call[Team]:
    return Call("GET", path("teams", name), one(Team))


def teams_delete(name: str) -> Call[Deleted]:
    return Call("DELETE", path("teams", name), one(Deleted))


def teams_add_member(team: str, user: str) -> Call[Team]:
    return Call("PUT", path("teams", team, "members", user), one(Team))


def teams_remove_member(team: str, user: str) -> Call[Team]:
    return Call("DELETE", path("teams", team, "members", user), one(Team))


# -- service accounts


def service_accounts_list() -> Call[list[ServiceAccount]]:
    return Call("GET", "/service-accounts", many(ServiceAccount))


def service_accounts_create(name: str, *, description: str = "") -> Call[ServiceAccount]:
    data = body(ServiceAccountCreate, name=name, description=description)
    return Call("POST", "/service-accounts", one(ServiceAccount), json=data)


def service_accounts_delete(name: str) -> Call[Deleted]:
    return Call("DELETE", path("service-accounts", name), one(Deleted))


# -- API tokens


def tokens_list(*, all: bool = False) -> Call[list[Token]]:
    """The caller's tokens; ``all=True`` lists everyone's (admin)."""
    return Call("GET", "/tokens", many(Token), params={"all": all})


def tokens_create(
    name: str, *, expires_in_days: int | None = 90, service_account: str | None = None
) -> Call[TokenCreated]:
    """Mint a token (``expires_in_days=None``: it never expires); its secret is returned once."""
    data = body(
        TokenCreate,
        name=name,
        expires_in_days=expires_in_days,
        service_account=service_account,
    )
    return Call("POST", "/tokens", one(TokenCreated), json=data)


def tokens_revoke(token_id: str) -> Call[Token]:
    return Call("DELETE", path("tokens", token_id), one(Token))


# -- roles and role bindings


def roles_list() -> Call[list[Role]]:
    return Call("GET", "/roles", many(Role))


def roles_create(name: str, *, permissions: list[str], description: str = "") -> Call[Role]:
    data = body(RoleCreate, name=name, permissions=permissions, description=description)
    return Call("POST", "/roles", one(Role), json=data)


def roles_delete(name: str) -> Call[Deleted]:
    return Call("DELETE", path("roles", name), one(Deleted))


def role_bindings_list() -> Call[list[RoleBinding]]:
    return Call("GET", "/role-bindings", many(RoleBinding))


def role_bindings_create(
    role: str,
    *,
    subject_kind: SubjectKind,
    subject: str,
    scope_kind: ScopeKind = "tenant",
    scope: str | None = None,
) -> Call[RoleBinding]:
    """Grant ``role`` to a user, team or service account on the tenant, a cluster or a workspace."""
    data = body(
        RoleBindingCreate,
        role=role,
        subject_kind=subject_kind,
        subject=subject,
        scope_kind=scope_kind,
        scope=scope,
    )
    return Call("POST", "/role-bindings", one(RoleBinding), json=data)


def role_bindings_delete(binding_id: int) -> Call[Deleted]:
    return Call("DELETE", path("role-bindings", binding_id), one(Deleted))
