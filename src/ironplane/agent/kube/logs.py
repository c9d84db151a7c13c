"""Pod logs, merged: the last lines of several pods in time order, for apps and job runs.

Each pod's log is asked with timestamps (the API prefixes each line with an RFC 3339 time with
nanoseconds), so lines of different pods interleave as they were written; a pod whose log
cannot be read (a container still starting) becomes a note instead of failing the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ironplane.agent.kube.client import KubeApi
from ironplane.agent.kube.errors import HTTPError, message
from ironplane.wire.agent_protocol import Object

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def log_container(pod: Mapping[str, Any]) -> str | None:
    """The container whose log is the pod's: the annotated default, ``main``, else the first.
    (Argo Workflows runs the step in ``main`` beside its ``wait`` sidecar, and annotates it.)"""
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    for choice in (annotated, "main"):
        if choice in names:
            return choice
    return names[0] if names else None


def split_timestamp(line: str) -> tuple[tuple[str, int] | None, str]:
    """``2025-01-01T00:00:00.123456789Z text`` -> ((seconds part, nanoseconds), text)."""
    head, sep, text = line.partition(" ")
    if not sep or not head.endswith("Z") or "T" not in head:
        return None, line
    seconds, _, fraction = head[:-1].partition(".")
    digits = (fraction + "000000000")[:9]
    if not digits.isdigit():
        return None, line
    return (seconds, int(digits)), text


async def merged_logs(api: KubeApi, pods: Sequence[Object], lines: int) -> list[str]:
    """The last ``lines`` lines across ``pods``, in time order, each prefixed with ``[pod] ``
    when there are several pods; notes for pods without a readable log come first."""
    if lines <= 0:
        return []
    ordered = sorted(pods, key=lambda pod: str(pod["metadata"]["name"]))
    several = len(ordered) > 1
    stamped: list[tuple[tuple[str, int], int, int, str]] = []
    notes: list[str] = []
    for index, pod in enumerate(ordered):
        meta = pod["metadata"]
        prefix = f"[{meta['name']}] " if several else ""
        try:
            got = await api.log(
                str(meta["namespace"]),
                str(meta["name"]),
                container=log_container(pod),
                tail_lines=lines,
                timestamps=True,
            )
        except HTTPError as exc:
            notes.append(f"{prefix}(no logs: {message(exc)})")
            continue
        last = ("", 0)
        for number, line in enumerate(got):
            stamp, text = split_timestamp(line)
            last = stamp or last
            stamped.append((last, index, number, prefix + text))
    stamped.sort()
    return notes + [text for *_, text in stamped[-lines:]]
