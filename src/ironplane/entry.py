"""The ``ironplane`` executable: ``ironplane gateway`` goes straight to the gateway, so that its
process never loads the CLI's dependencies (Typer, Rich, pydantic, the control plane); every
other command goes to the CLI, and so does ``ironplane gateway usage``, a query of the control
plane rather than a gateway process.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["gateway"] and args[1:2] != ["usage"]:
        from ironplane.gateway.main import main as gateway

        return gateway(args[1:])
    from ironplane.cli.main import main as cli

    return cli(args)


if __name__ == "__main__":
    sys.exit(main())
