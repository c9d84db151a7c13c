"""Weights downloads in flight: the ``fetch-weights`` init containers' progress, per app.

A pod whose ``fetch-weights`` init container is running is downloading weights. Its puller
writes JSON progress lines to its log (``ironplane.wire.pull_progress``); the agent reads the
last few lines of that container's log and reports the least advanced of the app's downloads
as ``AppStatus.weights``. A pod's log is read again at most every ``refresh_s`` (statuses are
derived on every watch event), and while a download runs the runtime is woken every
``refresh_s`` so the progress moves on the control plane although no watched object changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ironplane.agent.kube.client import KubeApi
from ironplane.agent.kube.errors import HTTPError
from ironplane.agent.kube.parts import name_of, namespace_of
from ironplane.agent.runtime import AppKey, app_of
from ironplane.wire.agent_protocol import AppStatus, Object
from ironplane.wire.pull_progress import PULLER_CONTAINER, WeightsProgress, last_progress, slowest

log = logging.getLogger(__name__)

TAIL_LINES = 5
"""Log lines read per pod: the puller's notes may follow its last progress line."""
MAX_PODS_PER_APP = 4
"""Logs read per app and refresh: the figure is the least advanced of these pods'."""
MAX_PODS = 32
"""Logs read per refresh, all apps together."""


def pulling(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's ``fetch-weights`` init container is running now."""
    for cs in (pod.get("status") or {}).get("initContainerStatuses") or []:
        if isinstance(cs, Mapping) and cs.get("name") == PULLER_CONTAINER:
            return bool((cs.get("state") or {}).get("running"))
    return False


def pulling_pods(pods: Iterable[Object]) -> dict[AppKey, list[Object]]:
    """The pods downloading weights, by app, in name order."""
    found: dict[AppKey, list[Object]] = {}
    for pod in pods:
        key = app_of(pod)
        if key is not None and pulling(pod):
            found.setdefault(key, []).append(pod)
    for items in found.values():
        items.sort(key=name_of)
    return found


def with_weights(
    statuses: Sequence[AppStatus], progress: Mapping[AppKey, WeightsProgress]
) -> list[AppStatus]:
    """``statuses`` with ``weights`` set for the apps that download weights now."""
    return [
        msgspec.structs.replace(s, weights=progress[(s.workspace, s.app)])
        if (s.workspace, s.app) in progress
        else s
        for s in statuses
    ]


class Pulls:
    """Reads the progress of the downloads in flight; wakes ``changed`` while there are any."""

    def __init__(
        self,
        api: KubeApi,
        changed: asyncio.Event,
        *,
        refresh_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.changed = changed
        self.refresh_s = refresh_s
        self.clock = clock
        self._read: dict[tuple[str, str], tuple[float, WeightsProgress | None]] = {}
        self._wake: asyncio.TimerHandle | None = None

    async def progress(self, pods: Iterable[Object]) -> dict[AppKey, WeightsProgress]:
        """The progress of each app whose pods download weights now (apps whose pullers have
        written no progress line yet are absent)."""
        found = pulling_pods(pods)
        live = {(namespace_of(p), name_of(p)) for items in found.values() for p in items}
        self._read = {k: v for k, v in self._read.items() if k in live}
        shown = {
            key: [(namespace_of(p), name_of(p)) for p in items[:MAX_PODS_PER_APP]]
            for key, items in sorted(found.items())
        }
        await self._refresh([ident for idents in shown.values() for ident in idents])
        out: dict[AppKey, WeightsProgress] = {}
        for key, idents in shown.items():
            figures = [got for i in idents if (got := self._figure(i)) is not None]
            merged = slowest(figures, pods=len(found[key]))
            if merged is not None:
                out[key] = merged
        self._schedule(bool(found))
        return out

    def _figure(self, ident: tuple[str, str]) -> WeightsProgress | None:
        cached = self._read.get(ident)
        return cached[1] if cached else None

    async def _refresh(self, idents: Sequence[tuple[str, str]]) -> None:
        """Read again, together, the logs of the first ``MAX_PODS`` pods (in order) not read
        within ``refresh_s``; the others keep what was read last."""
        now = self.clock()
        stale = [
            i for i in idents if i not in self._read or now - self._read[i][0] >= self.refresh_s
        ]
        stale = stale[:MAX_PODS]
        tails = await asyncio.gather(*(self._tail(*ident) for ident in stale))
        for ident, lines in zip(stale, tails, strict=True):
            self._read[ident] = (now, last_progress(lines) or self._figure(ident))

    async def _tail(self, namespace: str, name: str) -> list[str]:
        try:
            return await self.api.log(
                namespace, name, container=PULLER_CONTAINER, tail_lines=TAIL_LINES
            )
        except HTTPError as exc:  # the container just started or ended: try again next time
            log.debug("no log of %s/%s %s: %s", namespace, name, PULLER_CONTAINER, exc)
            return []

    def _schedule(self, active: bool) -> None:
        """While a download runs, wake the status loop every ``refresh_s``."""
        if not active:
            if self._wake is not None:
                self._wake.cancel()
                self._wake = None
            return
        if self._wake is None:
            self._wake = asyncio.get_running_loop().call_later(self.refresh_s, self._fire)

    def _fire(self) -> None:
        self._wake = None
        self.changed.set()

    def close(self) -> None:
        self._schedule(False)
