"""``ironplane secrets``: secret groups of a workspace (values encrypted at rest)."""

from __future__ import annotations

from pathlib import Path

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote._common import confirm
from ironplane.cli.tables import Format, dump, emit, output_option, print_table
from ironplane.core.errors import InvalidError

app = typer.Typer(help="Manage secret groups: {secret: GROUP/KEY} in specs.", no_args_is_help=True)

_WS = typer.Option(..., "--workspace", "-w", help="The workspace that holds the group.")


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs; ``KEY=@FILE`` reads the value from a file (keeps it out of history)."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidError(f"{pair.split('=', 1)[0]!r}: write KEY=VALUE or KEY=@FILE")
        if value.startswith("@"):
            source = Path(value[1:])
            try:
                value = source.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise InvalidError(f"{key}: cannot read {source}: {exc.strerror}") from None
        values[key] = value
    return values


@app.command("list")
def list_groups(workspace: str = _WS, output: Format = output_option()) -> None:
    """List the workspace's secret groups and their keys (never the values)."""
    with session.connect() as client:
        items = client.secrets.list(workspace)
    emit(
        items,
        output,
        [
            ("GROUP", lambda g: g.name),
            ("KEYS", lambda g: g.keys),
            ("UPDATED", lambda g: g.updated_at),
        ],
        empty=f"no secret groups in {workspace}",
    )


@app.command("set")
def set_values(
    group: str = typer.Argument(..., help="The group, e.g. llm."),
    pairs: list[str] = typer.Argument(..., help="KEY=VALUE or KEY=@FILE, one or more."),
    workspace: str = _WS,
    replace: bool = typer.Option(
        False, "--replace", help="Drop the group's other keys instead of keeping them."
    ),
) -> None:
    """Set keys of a secret group (created if absent); other keys are kept unless --replace."""
    values = parse_pairs(pairs)
    with session.connect() as client:
        if replace:
            result = client.secrets.put(workspace, group, values)
        else:
            # The server merges: no read of the old values, no key lost to a concurrent change.
            result = client.secrets.patch(workspace, group, dict(values))
    print(f"secret group {workspace}/{result.name}: keys {', '.join(result.keys)}")


@app.command("unset")
def unset_keys(
    group: str = typer.Argument(..., help="The group, e.g. llm."),
    keys: list[str] = typer.Argument(..., help="The keys to delete, one or more."),
    workspace: str = _WS,
) -> None:
    """Delete keys of a secret group; the group keeps its other keys (delete it to drop all)."""
    with session.connect() as client:
        result = client.secrets.patch(workspace, group, dict.fromkeys(keys))
    print(f"secret group {workspace}/{result.name}: keys {', '.join(result.keys)}")


@app.command("get")
def get_values(
    group: str = typer.Argument(...),
    workspace: str = _WS,
    output: Format = output_option(),
) -> None:
    """Print a group's values (needs secrets.read)."""
    with session.connect() as client:
        result = client.secrets.get(workspace, group)
    if not dump(result, output):
        print_table(["KEY", "VALUE"], sorted(result.values.items()))


@app.command("delete")
def delete(
    group: str = typer.Argument(...),
    workspace: str = _WS,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a secret group; pods that use it stop starting."""
    confirm(f"delete secret group {workspace}/{group}?", yes=yes)
    with session.connect() as client:
        client.secrets.delete(workspace, group)
    print(f"deleted secret group {workspace}/{group}")
