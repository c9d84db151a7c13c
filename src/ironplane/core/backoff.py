"""Jittered exponential backoff: how long to wait before the next attempt."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff(
    *,
    base: float = 0.5,
    factor: float = 2.0,
    cap: float = 30.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Delays base, base*factor, … capped at ``cap``, each scaled by a random factor in
    [1 - jitter, 1] ("equal jitter") so that many clients restarting together spread out."""
    rand = rng or random.Random()
    delay = base
    while True:
        yield delay * (1 - jitter * rand.random())
        delay = min(cap, delay * factor)
