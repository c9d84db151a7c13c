from __future__ import annotations

from decimal import Decimal

import pytest

from ironplane.core.quantities import (
    QuantityProblem,
    format_cpu,
    human_bytes,
    parse_duration,
    parse_latency_ms,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("512Mi", 512 * 2**20),
        ("2Ti", 2 * 2**40),
        ("1.5G", Decimal("1.5e9")),
        ("500m", Decimal("0.5")),
        ("3", 3),
    ],
)
def test_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("text", "hint"), [("4GB", "4Gi"), ("4 Gi", "without a space"), ("x", None)]
)
def test_bad_quantities(text: str, hint: str | None) -> None:
    with pytest.raises(QuantityProblem) as info:
        parse_quantity(text)
    assert (info.value.hint is None) if hint is None else (hint in (info.value.hint or ""))


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "1d", "m", "5 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(QuantityProblem):
        parse_duration(text)


@pytest.mark.parametrize(("cores", "text"), [("2", "2"), ("0.5", "500m"), ("1.25", "1250m")])
def test_format_cpu(cores: str, text: str) -> None:
    assert format_cpu(Decimal(cores)) == text


@pytest.mark.parametrize(("text", "ms"), [("250ms", 250.0), ("1.5s", 1500.0), ("2s", 2000.0)])
def test_latencies(text: str, ms: float) -> None:
    assert parse_latency_ms(text) == ms


@pytest.mark.parametrize("text", ["500", "1m", "ms", "-1s", "1.s"])
def test_bad_latencies(text: str) -> None:
    with pytest.raises(QuantityProblem):
        parse_latency_ms(text)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (5 * 2**30, "5.0 GiB"),
        (41.5 * 2**30, "41.5 GiB"),
        (2**40, "1.0 TiB"),
        (3 * 2**50, "3072.0 TiB"),
        (-5, "-5 B"),
    ],
)
def test_human_bytes(n: float, text: str) -> None:
    assert human_bytes(n) == text
