"""Who a limit or a budget belongs to: one :class:`Scope` per key name, team and model.

A request is checked against the scopes of its key, of the key's team and of the model it
asked for. A scope is compiled once per configuration: its labels for messages, and the words
of the Redis script's operations (``redis_script.py``) for its buckets, its concurrency set
and its spend counters, so that admitting a request only joins precompiled bytes. Several
Ironplane tokens of one principal share the key's name and so its scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ironplane.gateway.budgets import DAILY, MONTHLY, Period
from ironplane.gateway.config import Budget, Config, Limits

if TYPE_CHECKING:
    from ironplane.gateway.limits import LocalScope
    from ironplane.gateway.state import KeyState

_SPACE = re.compile(r"\s")


def _num(value: float) -> bytes:
    return repr(float(value)).encode()


class Scope:
    __slots__ = (
        "_day",
        "_groups",
        "_spend_keys",
        "budgets",
        "checked",
        "concurrency",
        "ident",
        "kind",
        "label",
        "local",
        "name",
        "rpm",
        "seg",
        "spend_base",
        "tkey",
        "tpm",
        "zkey",
    )

    def __init__(
        self,
        kind: str,
        name: str,
        limits: Limits | None,
        budget: Budget | None,
        prefix: str,
        enforce_limits: bool,
    ) -> None:
        self.kind = kind
        self.name = name
        self.ident = (kind, name)
        self.label = f"{kind} {name!r}"
        use = limits if enforce_limits and limits is not None else None
        self.rpm = use.rpm if use else None
        self.tpm = use.tpm if use else None
        self.concurrency = use.concurrency if use else None
        amounts = (budget.daily, budget.monthly) if budget is not None else (None, None)
        self.budgets: tuple[tuple[str, float], ...] = tuple(
            (which, float(amount))
            for which, amount in zip((DAILY, MONTHLY), amounts, strict=True)
            if amount is not None
        )
        self.checked = bool(self.rpm or self.tpm or self.concurrency or self.budgets)
        base = f"{prefix}{kind}:{_SPACE.sub('_', name)}:".encode()
        seg = []
        if self.rpm:
            seg.append(b"r %sr %s %s" % (base, _num(self.rpm), _num(self.rpm / 60)))
        self.tkey = b""
        if self.tpm:
            self.tkey = b"%st %s %s" % (base, _num(self.tpm), _num(self.tpm / 60))
            seg.append(b"t " + self.tkey)
        self.zkey = b""
        if self.concurrency:
            self.zkey = base + b"c"
            seg.append(b"c %s %d" % (self.zkey, self.concurrency))
        self.seg = b" ".join(seg)
        """The rate and concurrency groups of an admission (budget groups depend on the day)."""
        self.spend_base = f"{prefix}spend:{kind}:{_SPACE.sub('_', name)}:".encode()
        self.local: LocalScope | None = None
        """This worker's own buckets and counters (``Governor.configure`` attaches them)."""
        self._day = ""
        self._spend_keys: dict[str, bytes] = {}
        self._groups = self.seg

    def _period(self, period: Period) -> None:
        """Build the day's and month's key names once a day, not per request."""
        self._day = period.day
        self._spend_keys = {
            which: self.spend_base
            + (b"d:" if which == DAILY else b"m:")
            + period.name(which).encode()
            for which in (DAILY, MONTHLY)
        }
        budget = b" ".join(
            b"b %s %s" % (self._spend_keys[which], _num(amount)) for which, amount in self.budgets
        )
        self._groups = budget + b" " + self.seg if budget and self.seg else budget or self.seg

    def spend_key(self, period: Period, which: str) -> bytes:
        if period.day != self._day:
            self._period(period)
        return self._spend_keys[which]

    def groups(self, period: Period) -> bytes:
        """This scope's groups of an admission operation, budgets first."""
        if self.budgets and period.day != self._day:
            self._period(period)
        return self._groups

    def checks(self) -> list[tuple[str, str]]:
        """(kind, budget period) of each group, in the order of :meth:`groups`."""
        out = [("b", which) for which, _ in self.budgets]
        out += [
            (k, "") for k, v in (("r", self.rpm), ("t", self.tpm), ("c", self.concurrency)) if v
        ]
        return out


class Scopes:
    """Every scope of one configuration, and which apply to a key and a model."""

    def __init__(self, config: Config) -> None:
        prefix = config.redis.prefix if config.redis is not None else ""
        enforce = config.gateway.limits
        defaults = config.key_defaults
        self.teams = {
            t.name: Scope("team", t.name, t.limits, t.budget, prefix, enforce) for t in config.teams
        }
        self.models = {
            m.name: Scope("model", m.name, m.limits, None, prefix, enforce) for m in config.models
        }
        self.keys: dict[str, Scope] = {}
        self.key_team: dict[str, str | None] = {}
        for k in config.keys:
            if k.name in self.keys:  # tokens of one principal share their key's name
                continue
            limits = k.limits
            if limits is None and defaults is not None:
                limits = defaults.limits
            budget = k.budget
            if budget is None and defaults is not None:
                budget = defaults.budget
            self.keys[k.name] = Scope("key", k.name, limits, budget, prefix, enforce)
            self.key_team[k.name] = k.team
        self.checked_models = {name: (s,) for name, s in self.models.items() if s.checked}
        """Model name -> its scope, for the models that have limits."""

    def attach(self, keys: Iterable[KeyState]) -> None:
        """Give each key its scopes: its own and its team's (admission checks and spend)."""
        for key in keys:
            own = self.keys.get(key.name)
            if own is None:
                continue
            team_name = self.key_team.get(key.name)
            team = self.teams.get(team_name) if team_name else None
            key.team = team_name
            key.scopes = (own, team) if team is not None else (own,)
            key.checked = tuple(s for s in key.scopes if s.checked)

    def all(self) -> list[Scope]:
        return [*self.keys.values(), *self.teams.values(), *self.models.values()]
