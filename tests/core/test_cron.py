"""The five-field cron matcher: parsing, matching and the next run."""

from __future__ import annotations

from datetime import datetime

import pytest

from ironplane.core.cron import CronError, CronSchedule
from ironplane.core.errors import InvalidError


def test_parse_fields() -> None:
    s = CronSchedule.parse("*/15 1-5 1,15 * mon-fri")
    assert s.minutes == {0, 15, 30, 45}
    assert s.hours == {1, 2, 3, 4, 5}
    assert s.days == {1, 15}
    assert s.months == set(range(1, 13))
    assert s.weekdays == {1, 2, 3, 4, 5}
    assert CronSchedule.parse("0,30 * * * *").minutes == {0, 30}
    assert CronSchedule.parse("10-50/20 * * * *").minutes == {10, 30, 50}
    assert CronSchedule.parse("5/20 * * * *").minutes == {5, 25, 45}
    assert CronSchedule.parse("0 0 * JAN,dec 7").weekdays == {0}
    hourly = CronSchedule.parse("@hourly")
    assert (hourly.minutes, hourly.hours, hourly.expression) == ({0}, set(range(24)), "@hourly")


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("* * * *", "expected 5 fields"),
        ("* * * * * *", "expected 5 fields"),
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("*/0 * * * *", "step '0' must be a positive integer"),
        ("* 5-1 * * *", "range '5-1' runs backwards"),
        ("* * 0 * *", "day of month field '0': 0 is out of range 1-31"),
        ("* * * foo *", "'foo' is not a number or a name"),
        ("1,,2 * * * *", "empty list item"),
        ("a * * * *", "'a' is not a number"),
        ("*/x * * * *", "step 'x'"),
    ],
)
def test_invalid_expressions_say_why(expression: str, why: str) -> None:
    with pytest.raises(CronError) as info:
        CronSchedule.parse(expression)
    assert why in info.value.message
    assert expression in info.value.message
    assert isinstance(info.value, InvalidError)


def test_matches() -> None:
    every_quarter = CronSchedule.parse("*/15 * * * *")
    assert every_quarter.matches(datetime(2025, 3, 4, 10, 45))
    assert not every_quarter.matches(datetime(2025, 3, 4, 10, 46))
    weekdays = CronSchedule.parse("0 9 * * 1-5")
    assert weekdays.matches(datetime(2025, 3, 7, 9, 0))  # a Friday
    assert not weekdays.matches(datetime(2025, 3, 8, 9, 0))  # a Saturday
    # both day fields restricted: either matches
    either = CronSchedule.parse("0 0 13 * 5")
    assert either.matches(datetime(2025, 6, 13, 0, 0))  # the 13th, a Friday
    assert either.matches(datetime(2025, 6, 6, 0, 0))  # a Friday
    assert either.matches(datetime(2025, 5, 13, 0, 0))  # the 13th, a Tuesday
    assert not either.matches(datetime(2025, 6, 7, 0, 0))
    # day of month restricted, weekday *: both must match
    assert not CronSchedule.parse("0 0 13 * *").matches(datetime(2025, 6, 14, 0, 0))


def test_next_after() -> None:
    s = CronSchedule.parse("0,30 1-5 * * *")
    assert s.next_after(datetime(2025, 1, 1, 0, 59, 30)) == datetime(2025, 1, 1, 1, 0)
    assert s.next_after(datetime(2025, 1, 1, 1, 0)) == datetime(2025, 1, 1, 1, 30)
    assert s.next_after(datetime(2025, 1, 1, 5, 30)) == datetime(2025, 1, 2, 1, 0)
    yearly = CronSchedule.parse("@yearly")
    assert yearly.next_after(datetime(2025, 1, 1, 0, 0)) == datetime(2026, 1, 1, 0, 0)
    assert CronSchedule.parse("0 0 29 2 *").next_after(datetime(2025, 1, 1)) == datetime(
        2028, 2, 29
    )
    assert CronSchedule.parse("0 0 30 2 *").next_after(datetime(2025, 1, 1)) is None
