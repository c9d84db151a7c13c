"""Admission and accounting of every request: limits, concurrency caps, budgets, spend.

One :class:`Governor` per worker, for the worker's life (configurations come and go through
:meth:`Governor.configure`). Before a request goes upstream, :meth:`Governor.admit` checks the
scopes of its key, the key's team and its model (``scopes.py``):

- with ``redis`` in the configuration and Redis answering, the check is queued for this loop
  tick's one script call (``redis_limits.py``) and the request starts when the answer comes;
- otherwise it is decided at once against this worker's own buckets (``limits.LocalScope``),
  each ``1/share`` of the configured limit: ``share`` is the number of workers of this gateway
  without Redis; while Redis is unreachable, the number of workers of every replica sharing it
  (``redis.replicas`` times this gateway's workers when set, else the workers whose heartbeats
  Redis last showed, else — Redis never reached — this gateway's workers alone).

When the request ends (:meth:`Governor.finished`, from the exchange's last callback, whatever
the ending: answer, error, client gone) its concurrency slot is released, its tokens are taken
from the token buckets, its cost (at the price of the model whose route answered: a fallback's
own) is added to its key's and team's spend, and a
:class:`~ironplane.gateway.usage.UsageRecord` goes to ``sink`` when one is plugged in. With
``redis`` configured, releases, debits and spend always go to the backend, which keeps them
while Redis is away (or across a reload that changed ``redis``) and sends them once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ironplane.core.errors import IronplaneError, RateLimitedError
from ironplane.gateway.budgets import DAILY, MONTHLY, Clock, Prices, refusal
from ironplane.gateway.config import RedisSettings
from ironplane.gateway.limits import LocalScope
from ironplane.gateway.redis_limits import (
    DOWN,
    HEARTBEAT_EVERY,
    REFRESH_EVERY,
    UP,
    RedisBackend,
    quietly_close,
)
from ironplane.gateway.usage import UsageRecord, UsageSink

if TYPE_CHECKING:
    from ironplane.gateway.exchange import Exchange
    from ironplane.gateway.metrics import Metrics
    from ironplane.gateway.scopes import Scope
    from ironplane.gateway.state import State

log = logging.getLogger("ironplane.gateway")


class Governor:
    def __init__(self, loop: asyncio.AbstractEventLoop, metrics: Metrics, state: State) -> None:
        self.loop = loop
        self.metrics = metrics
        self.locals: dict[tuple[str, str], LocalScope] = {}
        self.clock = Clock()
        self.replica = f"{socket.gethostname()}-{os.getpid()}".replace(" ", "_").encode()
        self.counter = 0
        self.held: dict[bytes, bytes] = {}
        """Redis concurrency slots of requests in flight -> their sets (refreshed)."""
        self.redis: RedisBackend | None = None
        self.settings: RedisSettings | None = None
        self.replicas = 0
        """Workers seen beating in Redis (0: not known yet)."""
        self.sink: UsageSink | None = None
        """Plug a request-log shipper here: called with every finished request's record."""
        self.timers: list[asyncio.TimerHandle] = []
        self.state = state
        self.prices = Prices({})
        self.configure(state)

    # -- configuration ----------------------------------------------------------------------

    def configure(self, state: State) -> None:
        """Take a new configuration: scopes, prices, Redis (reconnecting when it changed)."""
        self.state = state
        config = state.loaded.config
        self.prices = Prices(config.prices)
        old = None
        if config.redis != self.settings:
            old = self.redis
            self.redis = None
            self.settings = config.redis
            if config.redis is not None:
                self.redis = RedisBackend(
                    self.loop, config.redis, self._backend_changed, self._failed, self._answer
                )
                self.redis.start()
        self._share_locals()
        if old is not None:
            self._retire(old)
        self._show_backend()

    def _retire(self, old: RedisBackend) -> None:
        """Close the backend a reload replaced, leaving nothing hanging. Requests waiting for
        its answer are decided locally. Slots it granted to requests still running stay held
        and are released through the new backend (which keeps the releases until it is up);
        without a new backend they are released now, through the old one."""
        if self.redis is None and self.held:
            for slot, zkeys in self.held.items():
                old.add(b"R " + slot + b" " + zkeys)
            self.held.clear()
        owed = quietly_close(old)
        if self.redis is not None:
            self.redis.requeue(owed)

    def _share(self) -> int:
        """How many ways the local limits split: this gateway's workers without Redis; every
        worker of every replica when Redis is away (``redis.replicas`` counts gateway replicas,
        each running this gateway's number of workers)."""
        workers = max(1, self.state.workers)
        if self.settings is None:
            return workers
        if self.settings.replicas:
            return self.settings.replicas * workers
        return max(1, self.replicas or workers)

    def _share_locals(self) -> None:
        share = self._share()
        now = self.loop.time()
        for scope in self.state.scopes.all():
            local = self.locals.get(scope.ident)
            if local is None:
                local = self.locals[scope.ident] = LocalScope()
            local.configure(scope.label, scope.rpm, scope.tpm, scope.concurrency, share, now)
            scope.local = local

    async def start(self) -> None:
        """Connect to Redis (if configured) before serving, and start the periodic work."""
        if self.redis is not None and self.redis.task is not None:
            await asyncio.shield(self.redis.task)
        self.timers.append(self.loop.call_later(HEARTBEAT_EVERY, self._heartbeat))
        self.timers.append(self.loop.call_later(REFRESH_EVERY, self._refresh))
        self._heartbeat_now()

    async def finish(self) -> None:
        """On shutdown: hand Redis what the last requests released, used and spent."""
        if self.redis is not None:
            await self.redis.finish()

    def close(self) -> None:
        for timer in self.timers:
            timer.cancel()
        quietly_close(self.redis)
        self.redis = None

    def _heartbeat_now(self) -> None:
        if self.redis is not None:
            self.redis.heartbeat(self.replica, self._replicas_seen)

    def _heartbeat(self) -> None:
        self._heartbeat_now()
        self.timers[0] = self.loop.call_later(HEARTBEAT_EVERY, self._heartbeat)

    def _refresh(self) -> None:
        if self.redis is not None and self.held:
            self.redis.refresh(self.held)
        self.timers[1] = self.loop.call_later(REFRESH_EVERY, self._refresh)

    def _replicas_seen(self, count: int) -> None:
        if count != self.replicas and count > 0:
            self.replicas = count
            self._share_locals()

    def _backend_changed(self, now_state: str) -> None:
        self._show_backend()
        redis = self.redis
        if now_state == DOWN:
            log.warning(
                "%s; using local limits (each worker allows 1/%d of every limit) until it "
                "answers again",
                redis.error if redis is not None else "Redis is away",
                self._share(),
            )
            if not self.replicas and self.settings is not None and not self.settings.replicas:
                log.warning(
                    "Redis has not been reached yet, so the other replicas are unknown: the "
                    "local limits are split among this replica's %d worker(s) only, and each "
                    "replica allows the whole limit; set redis.replicas to split them among "
                    "every replica",
                    max(1, self.state.workers),
                )
        elif now_state == UP and redis is not None:
            log.info("Redis answers again: limits and spend are shared again")
            self._heartbeat_now()

    def _show_backend(self) -> None:
        self.metrics.limit_backend = "redis" if self.using_redis() else "local"

    def using_redis(self) -> bool:
        return self.redis is not None and self.redis.state != DOWN

    # -- admission --------------------------------------------------------------------------

    def admit(self, ex: Exchange, now: float) -> bool:
        """True: start the request now. False: Redis decides (the request starts, or is
        refused, from :meth:`_answer`). Raises RateLimitedError when refused right now."""
        key = ex.key
        scopes = key.checked + self.state.model_scopes.get(ex.route.name, ())
        if not scopes:
            return True
        ex.scopes = scopes
        redis = self.redis
        if redis is not None and redis.state != DOWN:
            self.counter += 1
            slot = b"%s:%d" % (self.replica, self.counter)
            period = self.clock.now()
            redis.add(b"A " + slot + b" " + b" ".join(s.groups(period) for s in scopes), ex)
            ex.pending = True
            ex.grant = slot
            return False
        self._admit_local(ex, scopes, now)
        return True

    def _admit_local(self, ex: Exchange, scopes: tuple[Scope, ...], now: float) -> None:
        period = None
        for scope in scopes:
            local = scope.local
            assert local is not None
            if scope.budgets:
                period = period or self.clock.now()
                for which, amount in scope.budgets:
                    spent = local.spent.get(scope.spend_key(period, which), 0.0)
                    if spent >= amount / local.share:
                        self._refuse_budget(ex, scope, which, amount, spent, period.ends(which))
        wait = 0.0
        reason = ""
        for scope in scopes:
            limit = scope.local.limit if scope.local is not None else None
            if limit is None:
                continue
            if limit.requests is not None and (w := limit.requests.wait(now, 1.0)) > wait:
                wait, reason = w, f"the requests-per-minute limit of {scope.label}"
            if limit.tokens is not None and (w := limit.tokens.wait(now, 1e-9)) > wait:
                wait, reason = w, f"the tokens-per-minute limit of {scope.label}"
        if wait > 0.0:
            self._refuse(
                ex,
                RateLimitedError(
                    f"rate limited: {reason} is used up; retry in {wait:.1f}s", retry_after_s=wait
                ),
            )
        held = []
        for scope in scopes:
            local = scope.local
            assert local is not None
            if local.cap:
                if local.held >= local.cap:
                    self._refuse(ex, _busy(scope))
                held.append(local)
        for scope in scopes:
            limit = scope.local.limit if scope.local is not None else None
            if limit is not None and limit.requests is not None:
                limit.requests.take(1.0)
        for local in held:
            local.held += 1
        ex.grant = held or None

    def _refuse_budget(
        self, ex: Exchange, scope: Scope, which: str, amount: float, spent: float, ends: float
    ) -> None:
        self.metrics.budget_refused(scope.kind)
        self._refuse(ex, refusal(scope.label, which, amount, spent, ends))

    def _refuse(self, ex: Exchange, exc: RateLimitedError) -> None:
        ex.grant = None
        self._record(ex, 429, self.loop.time())
        raise exc

    def _answer(self, waiter: Any, answer: Any) -> None:
        """One entry of the script's answer: an admission's verdict or a heartbeat's count."""
        if callable(waiter):
            if isinstance(answer, int):
                waiter(answer)
            return
        ex: Exchange = waiter
        ex.pending = False
        slot = ex.grant
        ex.grant = None
        if answer == 1:
            zkeys = b" ".join(s.zkey for s in ex.scopes if s.zkey)
            if zkeys:
                assert isinstance(slot, bytes)
                release = b"R " + slot + b" " + zkeys
                self.held[slot] = zkeys
                if ex.gone:  # the client left while Redis decided
                    self._release(release, slot)
                    return
                ex.grant = release
            if not ex.gone:
                ex.attempt()
            return
        if ex.gone:
            return
        try:
            self._refused_by_redis(ex, answer)
        except RateLimitedError as exc:
            ex.refused(exc)

    def _refused_by_redis(self, ex: Exchange, answer: Any) -> None:
        kind, group, value = bytes(answer).split(b" ")
        checks = [(scope, check) for scope in ex.scopes for check in scope.checks()]
        scope, (_, which) = checks[int(group) - 1]
        amount = float(value)
        if kind == b"b":
            budget = dict(scope.budgets)[which]
            period = self.clock.now()
            self._refuse_budget(ex, scope, which, budget, amount, period.ends(which))
        if kind == b"c":
            self._refuse(ex, _busy(scope))
        what = "requests" if kind == b"r" else "tokens"
        self._refuse(
            ex,
            RateLimitedError(
                f"rate limited: the {what}-per-minute limit of {scope.label} is used up; "
                f"retry in {amount:.1f}s",
                retry_after_s=amount,
            ),
        )

    def _failed(self, waiters: list[Any]) -> None:
        """Redis did not decide these: decide each locally (the fallback)."""
        now = self.loop.time()
        for waiter in waiters:
            if callable(waiter):
                continue
            ex: Exchange = waiter
            ex.pending = False
            ex.grant = None
            if ex.gone:
                continue
            try:
                self._admit_local(ex, ex.scopes, now)
            except RateLimitedError as exc:
                ex.refused(exc)
                continue
            except IronplaneError as exc:  # pragma: no cover - admission raises only the above
                ex.refused(RateLimitedError(exc.message, retry_after_s=1.0))
                continue
            ex.attempt()

    # -- the end of a request ---------------------------------------------------------------

    def finished(self, ex: Exchange, status: int, now: float) -> None:
        """Release, debit, count the cost and hand on the record; never raises."""
        grant = ex.grant
        if grant is not None and not ex.pending:
            ex.grant = None
            if isinstance(grant, bytes):
                self._release(grant, grant.split(b" ", 2)[1])
            else:
                for local in grant:
                    local.held -= 1
        tokens = ex.prompt_tokens + ex.completion_tokens
        redis = self.redis
        if tokens and ex.scopes:
            local_too = redis is None or redis.state != UP  # the fallback decides meanwhile
            for scope in ex.scopes:
                if scope.tkey:
                    if redis is not None:
                        redis.debit(scope.tkey, tokens)  # kept while Redis is away
                    if local_too and scope.local is not None and scope.local.limit is not None:
                        scope.local.limit.tokens.debit(now, tokens)  # type: ignore[union-attr]
        cost = 0.0
        if tokens:
            # Priced by the model whose route answered: a fallback's price, not the requested's.
            cost = self.prices.cost(ex.route.name, ex.prompt_tokens, ex.completion_tokens)
            if cost > 0.0:
                self._spend(ex, cost, redis)
        self._record(ex, status, now, cost)

    def _release(self, op: bytes, slot: bytes) -> None:
        self.held.pop(slot, None)
        if self.redis is not None:
            self.redis.add(op)  # kept while Redis is away, sent once it is back

    def _spend(self, ex: Exchange, cost: float, redis: RedisBackend | None) -> None:
        """Add to the day's and month's spend of the key and its team: locally always (the
        fallback's view), and in Redis (coalesced per tick; kept while it is away)."""
        period = self.clock.now()
        for scope in ex.key.scopes:
            for which, ends in ((DAILY, period.day_ends), (MONTHLY, period.month_ends)):
                key = scope.spend_key(period, which)
                if scope.local is not None:
                    scope.local.add_spend(key, cost)
                if redis is not None:
                    redis.spend(key, cost, ends + 3600.0)

    def _record(self, ex: Exchange, status: int, now: float, cost: float = 0.0) -> None:
        sink = self.sink
        if sink is None:
            return
        target = ex.target
        try:
            sink(
                UsageRecord(
                    at=time.time() - (now - ex.t0),
                    key=ex.key.name,
                    team=ex.key.team,
                    model=ex.requested,
                    target=target.label if target is not None else None,
                    status=status,
                    latency_ms=round((now - ex.t0) * 1000.0, 3),
                    prompt_tokens=ex.prompt_tokens,
                    completion_tokens=ex.completion_tokens,
                    cost=cost,
                    stream=ex.streaming,
                )
            )
        except Exception:  # a sink must not break the request path
            log.exception("the usage sink failed")


def _busy(scope: Scope) -> RateLimitedError:
    return RateLimitedError(
        f"rate limited: {scope.label} has {scope.concurrency} requests in flight, its "
        "concurrency limit; retry when one has finished",
        retry_after_s=1.0,
    )
