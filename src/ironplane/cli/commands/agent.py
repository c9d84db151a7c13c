"""`ironplane agent`: run a cluster's agent (Kubernetes, or the local runtime)."""

from __future__ import annotations

from pathlib import Path

import typer

from ironplane.core.errors import InvalidError


def agent(
    server_url: str | None = typer.Option(
        None, "--server-url", help="The control plane's URL [env IRONPLANE_SERVER_URL]."
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="A file holding the cluster's agent token [else env IRONPLANE_AGENT_TOKEN].",
    ),
    runtime: str | None = typer.Option(
        None,
        "--runtime",
        help="kubernetes (in a cluster) or local (processes on this machine) "
        "[env IRONPLANE_RUNTIME; kubernetes].",
    ),
    local_dir: Path | None = typer.Option(
        None, "--local-dir", help="Working directories and logs of the local runtime."
    ),
    log_format: str | None = typer.Option(
        None,
        "--log-format",
        help="json (one object per line) or text [env IRONPLANE_LOG_FORMAT; json].",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        help="Serve /metrics and /healthz on this port [env IRONPLANE_METRICS_PORT; off].",
    ),
) -> None:
    """Run a cluster's agent: it dials out to the control plane and follows its desired state."""
    from ironplane.agent.main import serve
    from ironplane.agent.settings import from_env

    token = None
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise InvalidError(f"{token_file}: cannot read the token: {exc.strerror}") from None
    serve(
        from_env(
            server_url=server_url,
            token=token,
            runtime=runtime,
            local_dir=local_dir,
            log_format=log_format,
            metrics_port=metrics_port,
        )
    )
