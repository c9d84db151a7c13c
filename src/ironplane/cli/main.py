"""Entry point: the command registry and the one place errors become exit codes.

Exit codes: 0 success, 2 invalid input (bad specs, manifests that fail validation, bad flags),
1 any other failure.
"""

from __future__ import annotations

import sys

import typer

from ironplane import __version__
from ironplane.cli.commands import render, schema, validate
from ironplane.core.errors import InvalidError, IronplaneError

app = typer.Typer(
    name="ironplane",
    help="Ironplane: run AI workloads on bare-metal GPU Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("render")(render.render)
app.command("validate")(validate.validate)
app.command("schema")(schema.schema)


def _version(value: bool) -> None:
    if value:
        print(f"ironplane {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Ironplane: run AI workloads on bare-metal GPU Kubernetes."""


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except IronplaneError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, InvalidError) else 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except typer.exceptions.TyperException as exc:  # usage errors: exit code 2
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
