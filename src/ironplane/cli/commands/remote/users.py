"""``ironplane users``: people who log in with a password or their tokens."""

from __future__ import annotations

import sys

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import read_secret
from ironplane.cli.tables import Format, emit, output_option
from ironplane.core.errors import InvalidError

app = typer.Typer(help="Manage users.", no_args_is_help=True)

_PASSWORD_STDIN = "Read the password from stdin instead of a prompt."


@app.command("list")
def list_users(output: Format = output_option()) -> None:
    """List users."""
    with session.connect() as client:
        items = client.users.list()
    emit(
        items,
        output,
        [
            ("NAME", lambda u: u.name),
            ("EMAIL", lambda u: u.email),
            ("ACTIVE", lambda u: u.active),
            ("PASSWORD", lambda u: u.has_password),
            ("TEAMS", lambda u: u.teams),
            ("CREATED", lambda u: u.created_at),
        ],
        empty="no users",
    )


@app.command("create")
def create(
    name: str = typer.Argument(...),
    email: str | None = typer.Option(None, "--email"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Set a password, read from stdin (else: token login only)."
    ),
) -> None:
    """Create a user; with --password-stdin they can also log in with a password."""
    password = read_secret("Password", from_stdin=True) if password_stdin else None
    with session.connect() as client:
        user = client.users.create(name, email=email, password=password)
    print(f"created user {user.name}")


@app.command("delete")
def delete(name: str = typer.Argument(...)) -> None:
    """Delete a user; their tokens stop working."""
    with session.connect() as client:
        client.users.delete(name)
    print(f"deleted user {name}")


@app.command("set-password")
def set_password(
    name: str = typer.Argument(...),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="Read the password from stdin; when you change your own and have one, stdin holds "
        "two lines: the current password, then the new one.",
    ),
) -> None:
    """Set a user's password (prompted unless --password-stdin). Changing your own needs your
    current password; it ends your other login sessions."""
    with session.connect() as client:
        me = client.auth.whoami()
        own = me.subject_kind == "user" and me.name == name and client.users.get(name).has_password
        current: str | None = None
        if own and password_stdin:
            current, _, password = sys.stdin.read().rstrip("\r\n").partition("\n")
            if not current or not password:
                raise InvalidError(
                    "changing your own password: stdin must hold the current password and the "
                    "new one, on two lines"
                )
        else:
            if own:
                current = read_secret("Current password", from_stdin=False)
            password = read_secret("New password", from_stdin=password_stdin, confirm=True)
        client.users.update(name, password=password, current_password=current)
    print(f"password of {name} set")
