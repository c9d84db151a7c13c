"""``ironplane service-accounts``: machine identities for CI and automation."""

from __future__ import annotations

import typer

from ironplane.cli import session
from ironplane.cli.tables import Format, emit, output_option

app = typer.Typer(
    help="Manage service accounts (mint their tokens with `tokens create`).", no_args_is_help=True
)


@app.command("list")
def list_accounts(output: Format = output_option()) -> None:
    """List service accounts."""
    with session.connect() as client:
        items = client.service_accounts.list()
    emit(
        items,
        output,
        [
            ("NAME", lambda s: s.name),
            ("DESCRIPTION", lambda s: s.description),
            ("CREATED", lambda s: s.created_at),
        ],
        empty="no service accounts",
    )


@app.command("create")
def create(
    name: str = typer.Argument(...),
    description: str = typer.Option("", "--description", "-d"),
) -> None:
    """Create a service account; bind it a role with `roles bind` and mint a token for it."""
    with session.connect() as client:
        account = client.service_accounts.create(name, description=description)
    print(f"created service account {account.name}")


@app.command("delete")
def delete(name: str = typer.Argument(...)) -> None:
    """Delete a service account; its tokens and role bindings go with it."""
    with session.connect() as client:
        client.service_accounts.delete(name)
    print(f"deleted service account {name}")
