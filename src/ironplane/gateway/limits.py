"""In-memory rate limits: one token bucket per key and per model, each check O(1).

A bucket for ``rpm: 600`` holds up to 600 tokens and refills at 10 per second, so a client may
burst a minute's worth and then runs at the average rate. Token limits (``tpm``) admit a request
while the bucket is above zero and debit the real count once the response says how many tokens
it used, so one large answer can overdraw the bucket and hold later requests back until it
refills. With ``--workers N`` each worker enforces 1/N of every limit (the kernel spreads
connections evenly across workers), and never less than one request's worth; a later version
shares them across processes.
"""

from __future__ import annotations

from ironplane.core.errors import RateLimitedError


class Bucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, per_minute: float, now: float) -> None:
        # At least one request's worth, even when a small limit is split across many workers.
        self.capacity = max(per_minute, 1.0)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.stamp = now

    def _refill(self, now: float) -> float:
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.tokens = tokens
        self.stamp = now
        return tokens

    def wait(self, now: float, need: float) -> float:
        """Seconds until ``need`` tokens are there (0 when they are); takes nothing."""
        tokens = self._refill(now)
        return 0.0 if tokens >= need else (need - tokens) / self.rate

    def take(self, amount: float) -> None:
        self.tokens -= amount

    def debit(self, now: float, amount: float) -> None:
        """Take what a finished request used; the bucket may go below zero."""
        self._refill(now)
        self.tokens -= amount


class Limit:
    """The requests- and tokens-per-minute buckets of one key or one model."""

    __slots__ = ("label", "requests", "tokens")

    def __init__(self, label: str, rpm: int | None, tpm: int | None, share: int, now: float):
        self.label = label
        self.requests = Bucket(rpm / share, now) if rpm else None
        self.tokens = Bucket(tpm / share, now) if tpm else None

    def carry(self, old: Limit) -> None:
        """Keep the fill level of an identical earlier limit across a configuration reload."""
        for mine, theirs in ((self.requests, old.requests), (self.tokens, old.tokens)):
            if mine is not None and theirs is not None and mine.capacity == theirs.capacity:
                mine.tokens, mine.stamp = theirs.tokens, theirs.stamp


def admit(now: float, first: Limit | None, second: Limit | None) -> None:
    """Take one request from both limits, or none of them; raises RateLimitedError."""
    wait = 0.0
    for limit in (first, second):
        if limit is None:
            continue
        if limit.requests is not None and (w := limit.requests.wait(now, 1.0)) > wait:
            wait = w
            reason = f"the requests-per-minute limit of {limit.label}"
        if limit.tokens is not None and (w := limit.tokens.wait(now, 1e-9)) > wait:
            wait = w
            reason = f"the tokens-per-minute limit of {limit.label}"
    if wait > 0.0:
        raise RateLimitedError(
            f"rate limited: {reason} is used up; retry in {wait:.1f}s", retry_after_s=wait
        )
    for limit in (first, second):
        if limit is not None and limit.requests is not None:
            limit.requests.take(1.0)


def charge(now: float, tokens: int, first: Limit | None, second: Limit | None) -> None:
    if tokens <= 0:
        return
    for limit in (first, second):
        if limit is not None and limit.tokens is not None:
            limit.tokens.debit(now, tokens)


class LocalScope:
    """One key's, team's or model's limits inside this worker: when there is no Redis, or
    while it cannot be reached.

    Its buckets and concurrency cap are ``1/share`` of the configured ones (``share``: the
    workers of this gateway without Redis; every worker of every replica sharing Redis while
    it is down, see ``Governor._share``), its
    spend counts what this worker's requests cost in the current day and month. It outlives
    configuration reloads (the governor keeps it by scope), so fill levels, requests in flight
    and spend carry over.
    """

    __slots__ = ("cap", "held", "limit", "rpm", "share", "spent", "tpm")

    def __init__(self) -> None:
        self.limit: Limit | None = None
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.share = 0
        self.cap = 0
        """Concurrency allowed here; 0: none configured."""
        self.held = 0
        self.spent: dict[bytes, float] = {}
        """Spend key (scope, day or month) -> USD."""

    def configure(
        self,
        label: str,
        rpm: int | None,
        tpm: int | None,
        concurrency: int | None,
        share: int,
        now: float,
    ) -> None:
        if (rpm, tpm, share) != (self.rpm, self.tpm, self.share) or self.limit is None:
            old = self.limit
            self.limit = Limit(label, rpm, tpm, share, now) if (rpm or tpm) else None
            if old is not None and self.limit is not None:
                self.limit.carry(old)
            self.rpm, self.tpm = rpm, tpm
        self.share = share
        self.cap = max(1, concurrency // share) if concurrency else 0

    def add_spend(self, key: bytes, amount: float) -> None:
        self.spent[key] = self.spent.get(key, 0.0) + amount
