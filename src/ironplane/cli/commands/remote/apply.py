"""``ironplane apply``: send spec files to the server, which checks, compiles and stores them;
then wait until what was applied is ready (``apply_follow``, rules in ``apply_wait``).

The CLI reads files and nothing more: the server parses and validates the raw text, and its
diagnostics name each file, line and column as given here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import typer

from ironplane.cli import session
from ironplane.cli.tables import Format, output_option, print_table
from ironplane.core.errors import InvalidError

if TYPE_CHECKING:
    from ironplane.api.apps import ApplyResult

SUFFIXES = (".yaml", ".yml", ".json")


def apply(
    files: list[str] = typer.Option(
        ..., "-f", "--file", help="Spec file or directory (repeatable); '-' reads stdin."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", "-w", help="Workspace for documents that name none."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; change nothing."),
    diff: bool = typer.Option(False, "--diff", help="Print each changed app's manifest diff."),
    sync: bool = typer.Option(
        False,
        "--sync",
        help="Make the server match this one directory: delete apps applied from it earlier "
        "that are no longer in it.",
    ),
    sync_id: str | None = typer.Option(
        None,
        "--sync-id",
        help="Name of the synced source (default: git:<origin>#<directory in the repo>).",
    ),
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="Wait until every applied object is ready (or one failed), showing its progress; "
        "exit 3 when one failed, 4 on --timeout.",
    ),
    timeout: str = typer.Option("10m", "--timeout", help="How long to wait at most: 90s, 10m, 1h."),
    output: Format = output_option(),
) -> None:
    """Apply spec files to the control plane, then wait until what changed is ready."""
    source = None
    if sync_id is not None and not sync:
        raise InvalidError("--sync-id needs --sync")
    if sync:
        if len(files) != 1 or not Path(files[0]).is_dir():
            raise InvalidError("--sync needs exactly one directory: -f DIR")
        source = sync_id or sync_id_for(Path(files[0]))
    timeout_s = _timeout(timeout)
    documents = collect_sources(files)
    with session.connect() as client:
        result = client.apply(
            documents, default_workspace=workspace, dry_run=dry_run, diff=diff, sync=source
        )
        report(result, output)
        if dry_run or result.dry_run or not wait:
            return
        from ironplane.cli.commands.remote.apply_follow import follow

        live = output == Format.table and sys.stderr.isatty()
        code = follow(client, result, timeout_s=timeout_s, live=live)
    if code:
        raise typer.Exit(code)


def _timeout(text: str) -> int:
    from ironplane.core.quantities import QuantityProblem, parse_duration

    try:
        seconds = parse_duration(text)
    except QuantityProblem as exc:
        raise InvalidError(f"--timeout {text!r}: write a duration such as 90s, 10m or 1h") from exc
    if seconds <= 0:
        raise InvalidError("--timeout must be more than 0s")
    return seconds


def collect_sources(entries: Sequence[str]) -> list[tuple[str, str]]:
    """``(source, text)`` of every file named, and of every spec file under each directory.

    Directories are walked recursively in sorted order for ``.yaml``, ``.yml`` and ``.json``
    files, skipping hidden files and directories; a file named directly is read whatever its
    name. A file named twice is read once.
    """
    paths: list[tuple[str, Path | None]] = []
    for entry in entries:
        if entry == "-":
            paths.append(("<stdin>", None))
            continue
        path = Path(entry)
        if path.is_dir():
            found = [
                p
                for p in sorted(path.rglob("*"))
                if p.suffix.lower() in SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]
            if not found:
                raise InvalidError(f"{entry}: directory holds no .yaml, .yml or .json file")
            paths.extend((str(p), p) for p in found)
        elif path.exists():
            paths.append((entry, path))
        else:
            raise InvalidError(f"{entry}: no such file or directory")
    out: list[tuple[str, str]] = []
    seen: set[Path | None] = set()
    for source, p in paths:
        key = p.resolve() if p is not None else None
        if key in seen:
            continue
        seen.add(key)
        out.append((source, _read(source, p)))
    return out


def _read(source: str, path: Path | None) -> str:
    if path is None:
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidError(f"{source}: cannot read: {exc}") from None


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _without_credentials(url: str) -> str:
    """``https://user:secret@host/x`` -> ``https://host/x``: a sync id is stored and shown."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url


def sync_id_for(directory: Path) -> str:
    """``git:<origin remote URL, or the repo's directory name>#<directory within the repo>``."""
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top is None:
        raise InvalidError(
            f"{directory}: not in a git repository (or git is missing), so --sync cannot name "
            "this source; pass --sync-id ID, a name that stays the same for this directory"
        )
    root = Path(top).resolve()
    origin = _git(directory, "config", "--get", "remote.origin.url")
    repo = _without_credentials(origin) if origin else root.name
    inside = directory.resolve().relative_to(root).as_posix()
    return f"git:{repo}#{inside}"


def report(result: ApplyResult, output: Format) -> None:
    from ironplane.cli.output import warn
    from ironplane.cli.tables import dump

    warn([w.diagnostic() for w in result.warnings])
    if dump(result, output):
        return
    rows = [
        [c.kind, c.workspace, c.name, c.action, c.version, c.cluster_revision]
        for c in result.changes
    ]
    if rows:
        print_table(["KIND", "WORKSPACE", "NAME", "ACTION", "VERSION", "CLUSTER REVISION"], rows)
    for change in result.changes:
        if change.diff:
            where = f"{change.workspace}/{change.name}" if change.workspace else change.name
            print(f"\n# diff of {change.kind} {where}")
            sys.stdout.write(change.diff if change.diff.endswith("\n") else change.diff + "\n")
    for change in result.changes:
        if change.agent_token is not None:
            print(
                f"\nagent token for cluster {change.name} (shown only once; store it now, "
                "e.g. as the agent's secret):"
            )
            print(change.agent_token.secret)
    counts: dict[str, int] = {}
    for change in result.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    summary = ", ".join(f"{n} {action}" for action, n in counts.items()) or "no changes"
    prefix = "dry run, nothing changed: " if result.dry_run else ""
    print(f"{prefix}{summary}", file=sys.stderr)
