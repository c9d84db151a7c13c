"""Reconnect delays: exponential, capped, and spread by jitter."""

from __future__ import annotations

import itertools
import random

from ironplane.core.backoff import backoff


def test_delays_grow_by_the_factor_up_to_the_cap_within_the_jitter_band() -> None:
    delays = list(itertools.islice(backoff(base=0.5, factor=2.0, cap=4.0, jitter=0.5), 8))
    nominal = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    for got, want in zip(delays, nominal, strict=True):
        assert want * 0.5 <= got <= want


def test_no_jitter_gives_the_exact_sequence() -> None:
    delays = list(itertools.islice(backoff(base=1.0, factor=3.0, cap=20.0, jitter=0.0), 5))
    assert delays == [1.0, 3.0, 9.0, 20.0, 20.0]


def test_clients_restarting_together_spread_out() -> None:
    firsts = {next(backoff(base=8.0, rng=random.Random(seed))) for seed in range(50)}
    assert len(firsts) == 50
    assert min(firsts) < 5.0 and max(firsts) > 7.0  # spread over most of [4, 8]


def test_a_seeded_generator_is_reproducible() -> None:
    a = list(itertools.islice(backoff(rng=random.Random(7)), 6))
    b = list(itertools.islice(backoff(rng=random.Random(7)), 6))
    assert a == b
