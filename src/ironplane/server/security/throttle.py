"""Password-guessing brake: too many failed logins for a user name, or from an address, within a
window are refused with 429 until the window has passed.

In memory, per control-plane process: a restart or another replica starts afresh, which bounds
guessing to (failures per window x replicas) rather than stopping it dead; argon2 keeps each
guess expensive besides.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ironplane.core.errors import RateLimitedError


class LoginThrottle:
    def __init__(
        self,
        *,
        per_name: int,
        per_address: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_name = per_name
        self.per_address = per_address
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, name: str, address: str | None) -> None:
        """Raise ``RateLimitedError`` when the name or the address is over its limit."""
        now = self.clock()
        for key, limit in ((f"name:{name}", self.per_name), (f"addr:{address}", self.per_address)):
            times = self._recent(key, now)
            if len(times) >= limit:
                raise RateLimitedError(
                    "too many failed logins; try again later",
                    retry_after_s=times[0] + self.window_s - now,
                )

    def failed(self, name: str, address: str | None) -> None:
        now = self.clock()
        for key in (f"name:{name}", f"addr:{address}"):
            self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            self._failures.clear()

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name}", None)
