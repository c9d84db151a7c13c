"""Holding a request while its model's target starts: the gateway's part of the cold-start path.

A Model scaled to zero has a Service with no ready endpoint: connections are refused (or time
out, or its name does not resolve yet), and a mesh or ingress in between answers 502/503. For a
model with ``cold_start`` the exchange does not fail such an attempt: it waits (0.25 s, doubling
to 2 s) and tries again, until ``cold_start`` has passed since the request arrived. Only then do
the model's retries, fallbacks and cooldown apply, as for any failure: a starting target is not
a broken one, so while held it neither counts towards cooldown nor spends retries.

Each held request is counted in ``waiting[model]`` from its first such failure to the end of
its hold; ``ironplane_gateway_waiting_requests`` exposes it, and KEDA wakes the Model on it
(``compiler/autoscaling.py``). Nothing here runs per request unless a hold starts: one
``loop.call_later`` per wait, cancelled when the client leaves.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ironplane.gateway.exchange import Exchange
    from ironplane.gateway.metrics import Metrics

log = logging.getLogger("ironplane.gateway")

FIRST_WAIT = 0.25
"""Seconds before the first new attempt after a starting target failed one."""
MAX_WAIT = 2.0
"""The wait doubles up to this: a replica that turns ready is found within about 2 s."""
STARTING_STATUSES = frozenset((502, 503))
"""Answers that mean "nothing behind me yet": a mesh sidecar or an ingress with no endpoint."""

SUCCESS, TIMEOUT, CANCELLED = "success", "timeout", "cancelled"
"""How a hold ended: the target was reached; ``cold_start`` ran out; the client left."""


class Hold:
    """One request's wait for a starting target (created at its first failure as such)."""

    __slots__ = ("metrics", "model", "paused_at", "timer", "wait")

    def __init__(self, metrics: Metrics, model: str, now: float) -> None:
        self.metrics = metrics
        self.model = model
        self.paused_at = now
        self.wait = FIRST_WAIT
        self.timer: asyncio.TimerHandle | None = None
        metrics.waiting[model] = metrics.waiting.get(model, 0) + 1

    def pause(self, ex: Exchange, now: float, ends: float) -> None:
        """Try ``ex`` again after the next wait, and no later than ``ends`` (the hold's end)."""
        delay = min(self.wait, ends - now)
        self.wait = min(self.wait * 2, MAX_WAIT)
        self.paused_at = now
        self.timer = ex.g.loop.call_later(max(delay, 0.0), _resume, ex)

    def end(self, result: str) -> None:
        """The hold is over: stop any pending wait and take the request off the gauge."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        metrics = self.metrics
        metrics.waiting[self.model] -= 1
        metrics.hold_ended(self.model, result)


def wait(ex: Exchange, now: float) -> bool:
    """Hold ``ex`` for its starting target; False once ``cold_start`` has run out.

    Called when an attempt failed as a starting target does. Another target of the model not
    yet tried in this round is tried at once; when every one has been, the next round starts
    after a wait. Nothing of the request is outstanding meanwhile (no deadline, no upstream).
    """
    route = ex.route
    ends = ex.t0 + route.cold_start
    if now >= ends:
        return False
    hold = ex.hold
    if hold is None:
        hold = ex.hold = Hold(ex.g.metrics, route.name, now)
    ex.deadline = 0.0
    threshold = ex.g.state.threshold
    tried = ex.tried
    if any(t not in tried and t.available(now, threshold) for t in route.targets):
        ex.attempt()
    else:
        ex.tried = []
        hold.pause(ex, now, ends)
    return True


def _resume(ex: Exchange) -> None:
    """A hold's wait is over: the next attempt (from the loop's timer)."""
    hold = ex.hold
    if ex.gone or hold is None:
        return
    hold.timer = None
    ex.waited += ex.g.loop.time() - hold.paused_at
    try:
        ex.attempt()
    except Exception as exc:
        log.exception("gateway: resuming a held request failed")
        ex.crashed(exc)
