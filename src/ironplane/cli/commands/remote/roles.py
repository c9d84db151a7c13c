"""``ironplane roles``: named sets of permissions, and the bindings that grant them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ironplane.cli import session
from ironplane.cli.tables import Format, emit, output_option
from ironplane.core.errors import InvalidError

if TYPE_CHECKING:
    from ironplane.api.identity import ScopeKind, SubjectKind

app = typer.Typer(help="Manage roles and role bindings.", no_args_is_help=True)


@app.command("list")
def list_roles(output: Format = output_option()) -> None:
    """List roles, built-in and custom."""
    with session.connect() as client:
        items = client.roles.list()
    emit(
        items,
        output,
        [
            ("NAME", lambda r: r.name),
            ("BUILTIN", lambda r: r.builtin),
            ("PERMISSIONS", lambda r: r.permissions),
            ("DESCRIPTION", lambda r: r.description),
        ],
        empty="no roles",
    )


@app.command("create")
def create(
    name: str = typer.Argument(...),
    permissions: list[str] = typer.Option(
        ..., "--permission", "-p", help="A permission, e.g. apps.write (repeatable)."
    ),
    description: str = typer.Option("", "--description"),
) -> None:
    """Create a role."""
    with session.connect() as client:
        role = client.roles.create(name, permissions=permissions, description=description)
    print(f"created role {role.name}: {', '.join(role.permissions)}")


@app.command("delete")
def delete(name: str = typer.Argument(...)) -> None:
    """Delete a custom role."""
    with session.connect() as client:
        client.roles.delete(name)
    print(f"deleted role {name}")


@app.command("bindings")
def bindings(output: Format = output_option()) -> None:
    """List role bindings: who holds which role, where."""
    with session.connect() as client:
        items = client.role_bindings.list()
    emit(
        items,
        output,
        [
            ("ID", lambda b: b.id),
            ("ROLE", lambda b: b.role),
            ("SUBJECT", lambda b: f"{b.subject_kind}:{b.subject}"),
            ("SCOPE", lambda b: f"{b.scope_kind}:{b.scope}" if b.scope else b.scope_kind),
            ("CREATED", lambda b: b.created_at),
        ],
        empty="no role bindings",
    )


@app.command("bind")
def bind(
    role: str = typer.Argument(...),
    user: str | None = typer.Option(None, "--user"),
    team: str | None = typer.Option(None, "--team"),
    service_account: str | None = typer.Option(None, "--service-account"),
    cluster: str | None = typer.Option(None, "--cluster", help="Only on this cluster."),
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="Only in this workspace."),
) -> None:
    """Grant a role to one user, team or service account: everywhere, or on a cluster/workspace."""
    given: dict[SubjectKind, str | None] = {
        "user": user,
        "team": team,
        "service_account": service_account,
    }
    subjects = [(kind, name) for kind, name in given.items() if name is not None]
    if len(subjects) != 1:
        raise InvalidError("name exactly one of --user, --team or --service-account")
    if cluster is not None and workspace is not None:
        raise InvalidError("pass --cluster or --workspace, not both")
    subject_kind, subject = subjects[0]
    scope_kind: ScopeKind = "tenant"
    scope = None
    if cluster is not None:
        scope_kind, scope = "cluster", cluster
    elif workspace is not None:
        scope_kind, scope = "workspace", workspace
    with session.connect() as client:
        binding = client.role_bindings.create(
            role, subject_kind=subject_kind, subject=subject, scope_kind=scope_kind, scope=scope
        )
    where = f"{binding.scope_kind} {binding.scope}" if binding.scope else "the whole tenant"
    print(
        f"bound role {binding.role} to {binding.subject_kind} {binding.subject} on {where} "
        f"(binding {binding.id})"
    )


@app.command("unbind")
def unbind(binding_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Remove a role binding."""
    with session.connect() as client:
        client.role_bindings.delete(binding_id)
    print(f"deleted role binding {binding_id}")
