"""``ironplane login``: check credentials against a server and save them for later commands."""

from __future__ import annotations

import sys

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import interactive, read_secret
from ironplane.cli.config import load_config, save_config
from ironplane.cli.tables import cell
from ironplane.core.errors import InvalidError


def login(
    url: str | None = typer.Option(
        None,
        "--url",
        help="The server, e.g. https://ironplane.example.com [default: the saved one].",
    ),
    token: str | None = typer.Option(
        None, "--token", help="An API token (prompted for when neither --token nor --username)."
    ),
    username: str | None = typer.Option(
        None, "--username", "-u", help="Log in with a password instead; it returns a session token."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin instead of a prompt."
    ),
) -> None:
    """Log in to an Ironplane server and save the URL and token (mode 0600)."""
    from ironplane.sdk.client import server_url

    config = load_config()
    url = server_url(url or config.url or _no_url())
    if token and username:
        raise InvalidError("pass either --token or --username, not both")
    if password_stdin and not username:
        raise InvalidError("--password-stdin needs --username")
    expires = None
    if username:
        password = read_secret("Password", from_stdin=password_stdin)
        with session.build_client(url, None) as client:
            answer = client.auth.login(username, password)
        token, expires = answer.token, answer.expires_at
    elif not token:
        if not interactive():
            raise InvalidError("pass --token TOKEN or --username NAME")
        token = typer.prompt("API token", hide_input=True)
    with session.build_client(url, token) as client:
        me = client.auth.whoami()
    save_config(config.path, url=url, token=token)
    print(f"logged in to {url} as {me.subject_kind} {me.name}")
    ends = f"; the session ends {cell(expires)} UTC" if expires else ""
    print(f"saved to {config.path}{ends}", file=sys.stderr)
    if config.env_overrides:
        names = " and ".join(config.env_overrides)
        print(f"note: {names} set in the environment override the saved values", file=sys.stderr)


def _no_url() -> str:
    raise InvalidError("pass --url URL: no server is configured yet")
