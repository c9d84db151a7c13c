"""Kubernetes quantities (``512Mi``, ``2Ti``, ``500m``) and durations (``90s``, ``1h30m``).

Parsing is strict and exact (``Decimal``), and the error text suggests the likely intent for the
common mistakes (``4GB`` → ``4Gi``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<num>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$"
)
_DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")

QUANTITY_HELP = "a Kubernetes quantity such as 512Mi, 4Gi, 2Ti or 1.5G"
DURATION_HELP = "a duration such as 90s, 15m, 2h or 1h30m"


class QuantityProblem(ValueError):
    """A value that is not a valid quantity or duration; the message says why and what fits."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def parse_quantity(text: str) -> Decimal:
    """The quantity's value in base units (bytes for sizes, cores for CPU)."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        hint = None
        bad = re.match(r"^([0-9.]+)\s*([KMGTPE])i?B$", text.strip(), re.IGNORECASE)
        if bad:
            unit = bad.group(2).upper()
            number = bad.group(1)
            hint = (
                f"Kubernetes writes {text.strip()!r} as {number}{unit}i (binary) or {number}{unit}"
            )
        elif re.match(r"^[0-9.]+\s+\S+$", text.strip()):
            hint = "write the number and the unit without a space"
        raise QuantityProblem(f"{text!r} is not a quantity", hint)
    try:
        number = Decimal(match.group("num"))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityProblem(f"{text!r} is not a quantity") from exc
    suffix = match.group("suffix")
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


def parse_duration(text: str) -> int:
    """A duration in whole seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groupdict().values()):
        hint = None
        if re.match(r"^[0-9]+$", text.strip()):
            hint = f"add a unit, e.g. {text.strip()}s"
        raise QuantityProblem(f"{text!r} is not a duration", hint)
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


_LATENCY = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s)$")
LATENCY_HELP = "a latency such as 250ms, 500ms or 1.5s"


def parse_latency_ms(text: str) -> float:
    """A latency (``250ms``, ``1.5s``) in milliseconds."""
    match = _LATENCY.match(text.strip())
    if match is None:
        hint = f"add a unit, e.g. {text.strip()}ms" if text.strip().isdigit() else None
        raise QuantityProblem(f"{text!r} is not a latency", hint)
    value = float(match["n"])
    return value if match["unit"] == "ms" else value * 1000


def format_cpu(cores: Decimal) -> str:
    """CPU in the canonical Kubernetes form: whole cores as ``2``, fractions as ``500m``."""
    if cores == cores.to_integral_value():
        return str(int(cores))
    millis = cores * 1000
    if millis != millis.to_integral_value():
        raise QuantityProblem(f"{cores} cores is finer than a millicore")
    return f"{int(millis)}m"


def human_bytes(n: float) -> str:
    """Bytes for people, in binary units: ``512 B``, ``41.0 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
