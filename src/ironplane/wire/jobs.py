"""What a job run needs, shared by the compiler, the agent and the control plane.

A Job compiles to a run template: an Argo ``WorkflowTemplate`` (its ``spec.arguments.parameters``
declare the params) or, without Argo Workflows, a batch ``CronJob`` whose annotations carry the
params and the raw command. A run is a ``Workflow`` or a batch ``Job`` made from the template,
labelled ``ironplane.dev/kind: job-run`` and ``ironplane.dev/run: <run name>`` but never with the
managed-by label (the agent prunes what carries it, and runs are not desired state).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from ironplane.core.errors import InvalidError

PARAMS_ANNOTATION = "ironplane.dev/params"
"""On a batch CronJob: JSON ``[{"default": str | null, "name": str}]`` in declaration order."""
COMMAND_ANNOTATION = "ironplane.dev/command"
"""On a batch CronJob: JSON ``{"args": [...] | null, "command": [...]}`` with raw ``{{param}}``."""
RUN_LABEL = "ironplane.dev/run"
RUN_KIND = "job-run"
"""The ``ironplane.dev/kind`` label of runs."""

PARAM_REF = re.compile(r"\{\{\s*([A-Za-z0-9_.-]*)\s*\}\}")

Declared = Sequence[tuple[str, str | None]]
"""(name, default) of each param, in declaration order."""


def check_params(declared: Declared, given: Mapping[str, str], *, job: str) -> None:
    """Raise ``InvalidError`` for params the job does not declare, or required params (no
    default) not given; the message names each and how to fix it."""
    names = [name for name, _ in declared]
    problems: list[str] = []
    for key in sorted(set(given) - set(names)):
        close = difflib.get_close_matches(key, names, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unknown param {key!r}{guess}")
    missing = [name for name, default in declared if default is None and name not in given]
    if missing:
        flags = " ".join(f"-p {name}=VALUE" for name in missing)
        problems.append(f"param(s) {', '.join(missing)} have no default: give {flags}")
    if problems:
        allowed = ", ".join(names) if names else "none"
        raise InvalidError(f"job {job!r}: {'; '.join(problems)} (declared params: {allowed})")


def resolve(words: Sequence[str], declared: Declared, given: Mapping[str, str]) -> list[str]:
    """``words`` with each ``{{param}}`` replaced by its given value, else its default. A
    reference to an unknown param or to a param without a value raises ``InvalidError``."""
    values = {name: default for name, default in declared} | dict(given)

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise InvalidError(f"the command refers to {{{{{name}}}}}, which is not a param")
        value = values[name]
        if value is None:
            raise InvalidError(f"param {name!r} has no value and no default")
        return value

    return [PARAM_REF.sub(sub, word) for word in words]
