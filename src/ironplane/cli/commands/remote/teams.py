"""``ironplane teams``: groups of users that role bindings can name."""

from __future__ import annotations

import typer

from ironplane.cli import session
from ironplane.cli.tables import Format, emit, output_option

app = typer.Typer(help="Manage teams.", no_args_is_help=True)


@app.command("list")
def list_teams(output: Format = output_option()) -> None:
    """List teams and their members."""
    with session.connect() as client:
        items = client.teams.list()
    emit(
        items,
        output,
        [
            ("NAME", lambda t: t.name),
            ("MEMBERS", lambda t: t.members),
            ("CREATED", lambda t: t.created_at),
        ],
        empty="no teams",
    )


@app.command("create")
def create(
    name: str = typer.Argument(...),
    members: list[str] = typer.Option([], "--member", "-m", help="A member (repeatable)."),
) -> None:
    """Create a team."""
    with session.connect() as client:
        team = client.teams.create(name, members=members)
    print(f"created team {team.name}: {', '.join(team.members) or 'no members'}")


@app.command("delete")
def delete(name: str = typer.Argument(...)) -> None:
    """Delete a team (its role bindings go with it)."""
    with session.connect() as client:
        client.teams.delete(name)
    print(f"deleted team {name}")


@app.command("add-member")
def add_member(team: str = typer.Argument(...), user: str = typer.Argument(...)) -> None:
    """Add a user to a team."""
    with session.connect() as client:
        result = client.teams.add_member(team, user)
    print(f"team {result.name}: {', '.join(result.members) or 'no members'}")


@app.command("remove-member")
def remove_member(team: str = typer.Argument(...), user: str = typer.Argument(...)) -> None:
    """Remove a user from a team."""
    with session.connect() as client:
        result = client.teams.remove_member(team, user)
    print(f"team {result.name}: {', '.join(result.members) or 'no members'}")
