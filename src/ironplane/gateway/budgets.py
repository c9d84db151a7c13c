"""Prices, the cost of a request, and the UTC day and month that spend is counted in.

Cost is ``prompt_tokens * input + completion_tokens * output`` with prices in USD per million
tokens, looked up by the gateway model whose route answered — a fallback's own name when a
fallback answered, since its tokens are what was paid for (``*``: every other model; no price:
the request costs 0). Spend is kept per key and per team for the current UTC day and
month: in Redis when the gateway has it (it then survives restarts and is shared by replicas),
else in the worker's memory. A request is refused before it goes upstream once its key's or
team's spend has reached a budget; the request that crosses a budget is not cut short, so spend
can end slightly above it.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime

from ironplane.gateway.config import Price
from ironplane.gateway.errors import BudgetExceededError

DAILY = "daily"
MONTHLY = "monthly"


class Prices:
    """USD per token (not per million) by model name, for the request path."""

    __slots__ = ("by_model", "default")

    def __init__(self, prices: dict[str, Price]) -> None:
        scale = 1e-6
        self.by_model = {
            name: (p.input * scale, p.output * scale) for name, p in prices.items() if name != "*"
        }
        star = prices.get("*")
        self.default = (star.input * scale, star.output * scale) if star else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        rates = self.by_model.get(model, self.default)
        if rates is None:
            return 0.0
        return prompt_tokens * rates[0] + completion_tokens * rates[1]


class Period:
    """The current UTC day and month: their names (parts of spend keys) and when they end."""

    __slots__ = ("day", "day_ends", "month", "month_ends", "until")

    def __init__(self, unix: float) -> None:
        t = datetime.fromtimestamp(unix, UTC)
        self.day = t.strftime("%Y%m%d")
        self.month = t.strftime("%Y%m")
        midnight = datetime(t.year, t.month, t.day, tzinfo=UTC).timestamp()
        self.day_ends = midnight + 86400.0
        days = calendar.monthrange(t.year, t.month)[1]
        self.month_ends = datetime(t.year, t.month, 1, tzinfo=UTC).timestamp() + days * 86400.0
        self.until = self.day_ends
        """This object stays right until then."""

    def name(self, which: str) -> str:
        return self.day if which == DAILY else self.month

    def ends(self, which: str) -> float:
        return self.day_ends if which == DAILY else self.month_ends


class Clock:
    """The current :class:`Period`, rebuilt only when a day ends (wall clock, UTC)."""

    __slots__ = ("period",)

    def __init__(self) -> None:
        self.period = Period(time.time())

    def now(self) -> Period:
        period = self.period
        if time.time() >= period.until:
            period = self.period = Period(time.time())
        return period


def refusal(
    scope: str, which: str, budget: float, spent: float, ends: float
) -> BudgetExceededError:
    """The 429 for a spent budget: whose, which one, how much, and when it starts again."""
    left = max(1.0, ends - time.time())
    reset = datetime.fromtimestamp(ends, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return BudgetExceededError(
        f"budget exceeded: the {which} budget of {scope} ({usd(budget)}) is spent "
        f"({usd(spent)} so far); it resets at {reset} (UTC)",
        retry_after_s=left,
    )


def usd(amount: float) -> str:
    """Dollars to the cent, and below a cent to the hundred-millionth."""
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.8f}".rstrip("0")
