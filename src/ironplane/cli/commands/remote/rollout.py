"""``ironplane rollout``: follow and steer a canary or blue-green rollout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ironplane.cli import session
from ironplane.cli.commands.remote import agent_ops
from ironplane.cli.commands.remote._common import resolve_app, workspace_option
from ironplane.cli.tables import Format, dump, output_option, print_table

if TYPE_CHECKING:
    from ironplane.api.apps import App

app = typer.Typer(
    help="Follow and steer a canary or blue-green rollout (Argo Rollouts).", no_args_is_help=True
)


def status_rows(item: App) -> list[list[object]]:
    """The rows ``rollout status`` prints: the app's phase, then the rollout and autoscaler."""
    status = item.status
    if status is None:
        return [["phase", "no status yet (is the cluster's agent connected?)"]]
    rows: list[list[object]] = [
        ["phase", status.phase + (f": {status.error}" if status.error else "")],
        ["replicas", f"{status.ready}/{status.desired} ready"],
        ["version", status.version],
    ]
    if status.weights is not None:
        from ironplane.cli.commands.remote.apply_wait import weights_text

        w = status.weights
        files = f" · files {w.files_done}/{w.files_total}" if w.files_total else ""
        rows.append(["weights download", weights_text(w) + files])
    r = status.rollout
    if r is None:
        rows.append(["rollout", "none (rolling update, or not reported by the runtime)"])
    else:
        rows.append(["strategy", r.strategy])
        rows.append(["rollout phase", r.phase + (" (paused)" if r.paused else "")])
        if r.steps is not None:
            step = "-" if r.step is None else r.step
            rows.append(["step", f"{step}/{r.steps}"])
        if r.canary_weight is not None or r.stable_weight is not None:
            rows.append(["weights", f"canary {r.canary_weight}%, stable {r.stable_weight}%"])
        rows.append(["stable revision", r.stable_revision])
        rows.append(["current revision", r.current_revision])
        if r.aborted:
            rows.append(["aborted", True])
        if r.message:
            rows.append(["message", r.message])
        for run in r.analysis:
            rows.append(
                [f"analysis {run.name}", run.phase + (f": {run.message}" if run.message else "")]
            )
            for metric in run.metrics:
                value = f" = {metric.value}" if metric.value is not None else ""
                rows.append([f"  {metric.name}", f"{metric.phase}{value}"])
    s = status.scaling
    if s is not None:
        rows.append(
            ["autoscaling", f"{s.current} now, {s.desired} desired (min {s.min}, max {s.max})"]
        )
        if s.active is not None:
            rows.append(["scaler active", s.active])
        if s.paused or s.message:
            rows.append(["scaler", ("paused " if s.paused else "") + (s.message or "")])
    return rows


@app.command("status")
def status(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
    output: Format = output_option(),
) -> None:
    """Show where the app's rollout stands: step, weights, analysis, replicas."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        detail = client.apps.get(ws, name)
    if dump(detail.app, output):
        return
    print_table(["FIELD", "VALUE"], status_rows(detail.app))


@app.command("promote")
def promote(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
    full: bool = typer.Option(
        False, "--full", help="Skip the remaining steps and analysis: the new version now."
    ),
) -> None:
    """Go on past the current pause (or, with --full, finish the rollout now)."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        result = client.apps.promote(ws, name, full=full)
    print(f"{ws}/{name}: {result.message}")


@app.command("abort")
def abort(
    ref: str = typer.Argument(..., metavar="APP", help="APP or WORKSPACE/APP."),
    workspace: str | None = workspace_option(),
) -> None:
    """Abort the rollout: all traffic back to the stable version."""
    with session.connect() as client:
        ws, name = resolve_app(client, ref, workspace)
        result = client.apps.abort(ws, name)
    print(f"{ws}/{name}: {result.message}")


# The same as `ironplane restart`: a Rollout restarts its pods like a Deployment.
app.command("restart")(agent_ops.restart)
