"""``ironplane gateway usage``: the gateways' request logs, added up per key, model or team.

``ironplane gateway ...`` runs the gateway process itself; ``usage`` is the one subcommand that
talks to the control plane instead. ``entry.py`` sends it here rather than to the gateway, and
the CLI's ``gateway`` passthrough hands it to ``run`` below.
"""

from __future__ import annotations

from enum import StrEnum

import typer

from ironplane.cli import session
from ironplane.cli.tables import Format, emit, output_option

PROG = "ironplane gateway usage"


class By(StrEnum):
    key = "key"
    model = "model"
    team = "team"


def _cost(value: float) -> str:
    """USD: cents once it is worth it, otherwise enough digits to see fractions of a cent."""
    if value == 0:
        return "0"
    return f"{value:.2f}" if value >= 1 else f"{value:.6f}".rstrip("0")


def _count(value: int) -> str:
    return f"{value:,}"


def usage(
    by: By = typer.Option(By.key, "--by", help="Group by key, model or team."),
    since: str = typer.Option("24h", "--since", help="How far back: 15m, 24h, 7d (at most 90d)."),
    output: Format = output_option(),
) -> None:
    """Requests, errors, tokens, cost (USD) and mean latency per group (needs gateway.read)."""
    with session.connect() as client:
        rows = client.gateway.usage(by=by.value, since=since)
    emit(
        rows,
        output,
        [
            (by.value.upper(), lambda r: r.group if r.group is not None else "(none)"),
            ("REQUESTS", lambda r: _count(r.requests)),
            ("ERRORS", lambda r: _count(r.errors)),
            ("TOKENS IN", lambda r: _count(r.prompt_tokens)),
            ("TOKENS OUT", lambda r: _count(r.completion_tokens)),
            ("COST", lambda r: _cost(r.cost)),
            ("AVG LATENCY", lambda r: f"{r.avg_latency_ms:.0f}ms"),
        ],
        empty=f"no gateway requests in the last {since}",
    )


_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
_app.command()(usage)


def run(args: list[str]) -> int:
    """Run ``ironplane gateway usage ARGS``; errors propagate to ``cli.main``'s one handler."""
    code = typer.main.get_command(_app).main(args, prog_name=PROG, standalone_mode=False)
    return code if isinstance(code, int) else 0
