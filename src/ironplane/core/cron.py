"""A five-field cron parser and matcher (minute resolution), as Kubernetes CronJobs use it: specs
validate schedules with it, the local runtime runs them with it.

``minute hour day-of-month month day-of-week``; each field is ``*`` or a comma list of values,
ranges ``a-b`` and steps ``*/n``, ``a-b/n`` or ``a/n`` (from ``a`` to the field's end). Months
and weekdays also take English three-letter names (``jan``, ``mon``); a weekday of 7 is Sunday,
like 0. The macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
``@midnight`` and ``@hourly`` stand for their usual expressions.

As in Vixie cron, when both day fields are restricted (neither starts with ``*``) a day matches
when either does; otherwise both must.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from ironplane.core.errors import InvalidError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# name, lowest, highest, names
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_YEARS = 5


class CronError(InvalidError):
    """A schedule that is not a valid five-field cron expression."""

    code = "invalid_cron"


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday … 6 = Saturday."""
    any_day: bool
    """The day-of-month field starts with ``*``."""
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """Raises ``CronError`` saying which field is wrong and why."""
        text = expression.strip()
        fields = MACROS.get(text.lower(), text).split()
        if len(fields) != len(_FIELDS):
            raise CronError(
                f"invalid cron schedule {expression!r}: expected 5 fields "
                f"(minute hour day-of-month month day-of-week), got {len(fields)}"
            )
        sets = [
            _parse_field(expression, field, *spec)
            for field, spec in zip(fields, _FIELDS, strict=True)
        ]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(
            expression=expression,
            minutes=sets[0],
            hours=sets[1],
            days=sets[2],
            months=sets[3],
            weekdays=weekdays,
            any_day=fields[2].startswith("*"),
            any_weekday=fields[4].startswith("*"),
        )

    def _day_matches(self, at: datetime) -> bool:
        day = at.day in self.days
        weekday = (at.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    def matches(self, at: datetime) -> bool:
        """Whether the schedule fires in the minute of ``at`` (wall-clock fields)."""
        return (
            at.minute in self.minutes
            and at.hour in self.hours
            and at.month in self.months
            and self._day_matches(at)
        )

    def next_after(self, at: datetime) -> datetime | None:
        """The first matching minute strictly after ``at`` (same tzinfo, seconds zeroed), or
        None when nothing matches within five years (``0 0 30 2 *``)."""
        t = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = t + timedelta(days=366 * _SEARCH_YEARS)
        while t <= end:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = t.replace(year=year, month=month, day=1, hour=0, minute=0)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


def _parse_field(
    expression: str, text: str, name: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int]:
    def fail(why: str) -> CronError:
        return CronError(f"invalid cron schedule {expression!r}: {name} field {text!r}: {why}")

    def value(token: str) -> int:
        if token.isdigit():
            number = int(token)
        elif token.lower() in names:
            number = names[token.lower()]
        else:
            raise fail(f"{token!r} is not a number" + (" or a name" if names else ""))
        if not low <= number <= high:
            raise fail(f"{number} is out of range {low}-{high}")
        return number

    result: set[int] = set()
    for item in text.split(","):
        if not item:
            raise fail("empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise fail(f"step {step_text!r} must be a positive integer")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, stop = base.partition("-")
            first, last = value(start), value(stop)
            if first > last:
                raise fail(f"range {base!r} runs backwards")
        else:
            first = value(base)
            last = high if slash else first
        result.update(range(first, last + 1, step))
    return frozenset(result)
