"""Coarse deadlines for many objects at once: one sweep every 100 ms instead of a timer each.

``arm(obj, when)`` files the object under its deadline's tenth of a second (a list append);
the sweep calls ``obj.expire(now)`` for every object whose slot has passed. Objects keep their
own current deadline and ignore a stale call, so re-arming never needs to find the old entry.
Only long-lived objects (client connections) are filed, and each at most about once a second,
so the wheel holds few entries and never keeps a finished request's objects alive.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

TICK = 0.1


class Expiring(Protocol):
    def expire(self, now: float) -> None: ...


class Wheel:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, list[Expiring]] = {}
        self.now = loop.time()
        """The loop's time at the last sweep (good to a tick)."""
        self.next_slot = int(self.now / TICK)
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._handle = self.loop.call_later(TICK, self._sweep)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def arm(self, obj: Expiring, when: float) -> None:
        slot = max(int(when / TICK) + 1, self.next_slot)
        found = self.slots.get(slot)
        if found is None:
            self.slots[slot] = [obj]
        else:
            found.append(obj)

    def _sweep(self) -> None:
        now = self.now = self.loop.time()
        last = int(now / TICK)
        slots = self.slots
        for slot in range(self.next_slot, last + 1):
            due = slots.pop(slot, None)
            if due:
                for obj in due:
                    try:
                        obj.expire(now)
                    except Exception:  # pragma: no cover - a bug must not stop the clock
                        self.loop.call_exception_handler(
                            {"message": "deadline handler failed", "object": obj}
                        )
        self.next_slot = last + 1
        self._handle = self.loop.call_later(TICK, self._sweep)
