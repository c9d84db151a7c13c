"""Entry point: the command registry and the one place errors become exit codes.

Exit codes: 0 success, 2 invalid input (bad specs, manifests that fail validation, bad flags),
1 any other failure.
"""

from __future__ import annotations

import sys

import typer

from ironplane import __version__
from ironplane.cli.commands import agent, fetch_weights, render, schema, server, up, validate
from ironplane.cli.commands.remote import (
    agent_ops,
    apply,
    audit,
    cluster,
    delete,
    describe,
    gateway_usage,
    get,
    identity,
    jobs,
    login,
    plan,
    roles,
    rollback,
    rollout,
    secrets,
    service_accounts,
    teams,
    tokens,
    users,
)
from ironplane.core.errors import InvalidError, IronplaneError, UnauthenticatedError

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
app.command("login")(login.login)
app.command("apply")(apply.apply)
app.add_typer(get.app, name="get")
app.add_typer(cluster.app, name="cluster")
app.add_typer(describe.app, name="describe")
app.command("rollback")(rollback.rollback)
app.command("plan")(plan.plan)
app.add_typer(identity.app, name="identity")
app.command("logs")(agent_ops.logs)
app.command("restart")(agent_ops.restart)
app.add_typer(jobs.app, name="jobs")
app.add_typer(rollout.app, name="rollout")
app.add_typer(delete.app, name="delete")
app.add_typer(tokens.app, name="tokens")
app.add_typer(users.app, name="users")
app.add_typer(teams.app, name="teams")
app.add_typer(roles.app, name="roles")
app.add_typer(service_accounts.app, name="service-accounts")
app.add_typer(secrets.app, name="secrets")
app.command("audit")(audit.audit)
app.command("server")(server.server)
app.command("agent")(agent.agent)
app.command("up")(up.up)
app.command("fetch-weights")(fetch_weights.fetch_weights)


@app.command(
    "gateway",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def _gateway(ctx: typer.Context) -> None:
    """Run the AI gateway (`ironplane gateway --help`); see docs/gateway.md. `ironplane gateway
    usage` shows the gateways' usage from the control plane."""
    args = list(ctx.args)
    if args[:1] == ["usage"]:
        # The one subcommand that is a remote command, not the gateway process (see entry.py).
        raise typer.Exit(gateway_usage.run(args[1:]))
    from ironplane.gateway.main import main as gateway

    raise typer.Exit(gateway(args))


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
        # Without standalone mode, click returns the code of a `typer.Exit` raised in a command.
        code = app(args=argv, standalone_mode=False)
    except IronplaneError as exc:
        message = exc.message
        if isinstance(exc, UnauthenticatedError) and "ironplane login" not in message:
            message += "\nhint: run `ironplane login` to log in (again)"
        print(f"error: {message}", file=sys.stderr)
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
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
