"""Job runs: one execution of a Job, started by a user (``jobs run``) or by its schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from ironplane.api.common import Request, Response

ParamName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")]
RunPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Stopped", "Unknown"]


class RunRequest(Request):
    params: dict[ParamName, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=100
    )
    """Param values by name; params not given take their defaults."""


class JobRun(Response):
    name: str
    """The run's id: unique in its workspace (the Workflow's or Job's name on the cluster)."""
    workspace: str
    job: str
    phase: RunPhase
    started_by: str
    """Who started it: a user, a service account, or ``schedule``."""
    params: dict[str, str] = {}
    scheduled: bool = False
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    """Finished runs: finished - started; active runs: until now."""
    message: str | None = None


class RunLogs(Response):
    workspace: str
    run: str
    lines: list[str]
