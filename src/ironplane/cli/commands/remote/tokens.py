"""``ironplane tokens``: API tokens for scripts, CI and service accounts."""

from __future__ import annotations

import sys

import typer

from ironplane.cli import session
from ironplane.cli.tables import Format, cell, emit, output_option
from ironplane.core.errors import InvalidError

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="What the token is for, e.g. ci-deploy."),
    expires_in_days: int | None = typer.Option(
        None, "--expires-in-days", min=1, max=3650, help="Lifetime in days [default: 90]."
    ),
    no_expiry: bool = typer.Option(False, "--no-expiry", help="The token never expires."),
    service_account: str | None = typer.Option(
        None, "--service-account", help="Mint it for this service account instead of you."
    ),
) -> None:
    """Create a token and print its secret, once: stdout holds the secret alone."""
    if no_expiry and expires_in_days is not None:
        raise InvalidError("pass either --expires-in-days or --no-expiry, not both")
    days = None if no_expiry else (expires_in_days or 90)
    with session.connect() as client:
        created = client.tokens.create(name, expires_in_days=days, service_account=service_account)
    t = created.token
    expiry = f"expires {cell(t.expires_at)}" if t.expires_at else "never expires"
    print(f"created token {t.id} ({t.name}) for {t.subject}; it {expiry}", file=sys.stderr)
    print("the secret below is shown only once; store it now:", file=sys.stderr)
    print(created.secret)


@app.command("list")
def list_tokens(
    all: bool = typer.Option(False, "--all", help="Everyone's tokens (admins)."),
    output: Format = output_option(),
) -> None:
    """List your API tokens (with --all, everyone's)."""
    with session.connect() as client:
        items = client.tokens.list(all=all)
    emit(
        items,
        output,
        [
            ("ID", lambda t: t.id),
            ("NAME", lambda t: t.name),
            ("SUBJECT", lambda t: t.subject),
            ("CREATED", lambda t: t.created_at),
            ("EXPIRES", lambda t: t.expires_at or "never"),
            ("LAST USED", lambda t: t.last_used_at),
            ("REVOKED", lambda t: t.revoked_at),
        ],
        empty="no tokens",
    )


@app.command("revoke")
def revoke(token_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Revoke a token: it stops working at once."""
    with session.connect() as client:
        token = client.tokens.revoke(token_id)
    print(f"revoked token {token.id} ({token.name}) of {token.subject}")
