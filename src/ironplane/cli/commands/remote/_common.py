"""Options and helpers shared by the remote commands."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from ironplane.core.errors import InvalidError, NotFoundError

if TYPE_CHECKING:
    from ironplane.sdk import Client


def workspace_option(help: str = "The app's workspace (or name the app WS/APP).") -> Any:
    return typer.Option(None, "--workspace", "-w", help=help)


def interactive() -> bool:
    return sys.stdin.isatty()


def read_secret(what: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """A password: the whole of stdin (less its final newline), or typed at a hidden prompt."""
    if from_stdin:
        value = sys.stdin.read().rstrip("\r\n")
    elif interactive():
        value = typer.prompt(what, hide_input=True, confirmation_prompt=confirm)
    else:
        raise InvalidError(f"no terminal to type the {what.lower()} at: pass --password-stdin")
    if not value:
        raise InvalidError(f"empty {what.lower()}")
    return value


def confirm(question: str, *, yes: bool) -> None:
    """Go on when ``--yes`` was passed or the user agrees; stop otherwise."""
    if yes:
        return
    if not interactive():
        raise InvalidError("refusing to go on without confirmation: pass --yes")
    if not typer.confirm(question, default=False):
        raise typer.Abort()


def resolve_app(client: Client, ref: str, workspace: str | None) -> tuple[str, str]:
    """``(workspace, app)`` for ``APP`` or ``WS/APP``; a bare name must be unique among apps."""
    if "/" in ref:
        ws, _, name = ref.partition("/")
        if not ws or not name or "/" in name:
            raise InvalidError(f"app {ref!r}: name it APP or WORKSPACE/APP")
        if workspace is not None and workspace != ws:
            raise InvalidError(f"app {ref!r} is in workspace {ws!r}, not {workspace!r}")
        return ws, name
    if workspace is not None:
        return workspace, ref
    found = sorted({app.workspace for app in client.apps.list() if app.name == ref})
    if not found:
        raise NotFoundError(f"no app named {ref!r} in the workspaces you can see")
    if len(found) > 1:
        raise InvalidError(
            f"app {ref!r} exists in workspaces {', '.join(found)}: "
            "pick one with --workspace/-w or name it WORKSPACE/APP"
        )
    return found[0], ref
