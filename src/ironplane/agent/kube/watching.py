"""Informers: an in-memory copy of one kind's objects, kept current by list + watch.

Each informer lists (remembering the list's resourceVersion), then watches from that version.
It lists again — replacing its copy, so that objects deleted meanwhile disappear — when:

* the watch answers 410 Gone (the version is older than the server keeps);
* ``resync_s`` has passed since the last list (a safety net against lost events and silently
  dead connections);
* any other error happened, after a jittered exponential backoff.

A kind the cluster does not serve (404 on list or watch: an operator whose CRD is not installed,
or was removed) is not an error: the informer says so once, holds no objects (reporting the ones
it had as deleted), counts as synced, and lists again every ``resync_s`` until the kind appears.

Every difference between the old and the new copy goes to ``on_change(old, new)`` (``new`` None:
deleted), from list and watch alike, so a consumer never sees the same change twice.

``fields`` narrows the watch on the server (a field selector; an object that stops matching
arrives as DELETED). ``transform`` keeps less than the whole object: each listed or watched
object is replaced by what it returns (which must keep ``metadata`` name, namespace and
resourceVersion, the informer's key and change test), or dropped when it returns None — and an
object it drops that was kept before counts as deleted. ``chunk_size`` lists in pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from ironplane.agent.kube.client import Fields, KubeApi, ResourceType, Transform
from ironplane.agent.kube.errors import is_gone, is_not_found, message
from ironplane.core.backoff import backoff
from ironplane.wire.agent_protocol import Object

log = logging.getLogger(__name__)

OnChange = Callable[[Object | None, Object | None], None]
ObjectKey = tuple[str, str]


def key_of(obj: Object) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name", ""))


def _version(obj: Object | None) -> str | None:
    return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")


class Informer:
    def __init__(
        self,
        api: KubeApi,
        rt: ResourceType,
        *,
        on_change: OnChange,
        labels: Mapping[str, str] | None = None,
        fields: Fields | None = None,
        transform: Transform | None = None,
        chunk_size: int | None = None,
        resync_s: float = 30.0,
    ) -> None:
        self.api = api
        self.rt = rt
        self.labels = dict(labels or {})
        self.fields = dict(fields or {})
        self.transform = transform
        self.chunk_size = chunk_size
        self.resync_s = resync_s
        self.on_change = on_change
        self.objects: dict[ObjectKey, Object] = {}
        self.synced = asyncio.Event()
        """Set after the first successful list."""
        self.lists = 0
        self.expired = 0
        self.errors = 0
        self.served = True
        """False while the API answers 404 for the kind (its CRD is not installed)."""
        self._task: asyncio.Task[None] | None = None
        self._progress = False

    @property
    def started(self) -> bool:
        """Whether the watch runs (it may not have listed yet: see ``synced``)."""
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch {self.rt.plural}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def values(self) -> list[Object]:
        return list(self.objects.values())

    async def _run(self) -> None:
        cap = min(30.0, max(self.resync_s, 1.0))
        delays = backoff(cap=cap)
        while True:
            self._progress = False
            try:
                version = await self._relist()
                await self._watch(version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._progress:  # it worked for a while: start the backoff over
                    delays = backoff(cap=cap)
                if is_gone(exc):
                    self.expired += 1
                    log.debug("watch of %s expired; listing again", self.rt.plural)
                    continue
                if is_not_found(exc):
                    self._not_served()
                    delays = backoff(cap=cap)
                    await asyncio.sleep(self.resync_s)
                    continue
                self.errors += 1
                delay = next(delays)
                log.warning(
                    "watching %s failed (%s); retrying in %.1fs",
                    self.rt.plural,
                    message(exc),
                    delay,
                )
                await asyncio.sleep(delay)

    async def _watch(self, version: str) -> None:
        """Follow changes from ``version`` until ``resync_s`` passes (then return: list again)."""
        timeout = asyncio.timeout(self.resync_s)
        try:
            async with timeout:
                events = self.api.watch(
                    self.rt, labels=self.labels, fields=self.fields, resource_version=version
                )
                async for event_type, obj in events:
                    self._event(event_type, obj)
        except TimeoutError:
            if not timeout.expired():
                raise
            self._progress = True

    def _not_served(self) -> None:
        if self.served:
            self.served = False
            log.info(
                "%s (%s) is not served by this cluster; looking again every %gs",
                self.rt.plural,
                self.rt.api_version,
                self.resync_s,
            )
        old, self.objects = self.objects, {}
        for obj in old.values():
            self.on_change(obj, None)
        self.synced.set()

    async def _relist(self) -> str:
        items, version = await self.api.list_objects(
            self.rt,
            labels=self.labels,
            fields=self.fields,
            chunk_size=self.chunk_size,
            transform=self.transform,
        )
        if not self.served:
            self.served = True
            log.info("%s (%s) is served now", self.rt.plural, self.rt.api_version)
        fresh = {key_of(obj): obj for obj in items}
        old, self.objects = self.objects, fresh
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None or _version(before) != _version(obj):
                self.on_change(before, obj)
        for key in old.keys() - fresh.keys():
            self.on_change(old[key], None)
        self.lists += 1
        self.synced.set()
        return version

    def _event(self, event_type: str, obj: Object) -> None:
        self._progress = True
        key = key_of(obj)
        if event_type in ("ADDED", "MODIFIED") and self.transform is not None:
            kept = self.transform(obj)
            if kept is None:  # nothing of it is kept: as if it were deleted
                event_type = "DELETED"
            else:
                obj = kept
        if event_type in ("ADDED", "MODIFIED"):
            before = self.objects.get(key)
            self.objects[key] = obj
            if before is None or _version(before) != _version(obj):
                self.on_change(before, obj)
        elif event_type == "DELETED":
            before = self.objects.pop(key, None)
            if before is not None:
                self.on_change(before, None)
