"""The config of shared limits and budgets: redis, teams, prices, key_defaults, concurrency."""

from __future__ import annotations

import pytest

from ironplane.core.errors import ConfigError
from ironplane.gateway import config as config_file
from ironplane.gateway.budgets import Period, Prices, refusal, usd
from ironplane.gateway.config import hash_key, parse
from ironplane.gateway.config_checks import warnings
from ironplane.gateway.scopes import Scopes

BASE = f"""\
providers: [{{name: p, kind: openai, base_url: "http://127.0.0.1:9/v1"}}]
models:
  - name: gpt
    targets: [{{provider: p, model: m}}]
    limits: {{rpm: 60, concurrency: 4}}
teams:
  - name: ml
    limits: {{rpm: 600, tpm: 200000, concurrency: 20}}
    budget: {{daily: 50, monthly: 1000}}
keys:
  - name: alice
    hash: {hash_key("a")}
    team: ml
    budget: {{daily: 5}}
  - name: bob
    hash: {hash_key("b")}
prices:
  gpt: {{input: 0.10, output: 0.40}}
  "*": {{input: 1, output: 2}}
key_defaults: {{limits: {{rpm: 10}}, budget: {{monthly: 20}}}}
redis: {{url: "redis://:secret@127.0.0.1:6380/2", prefix: "gw1:", timeout: 80ms}}
"""


def _load(text: str) -> config_file.Loaded:
    return parse(text.encode(), "gw.yaml", {})


def _problems(text: str) -> str:
    with pytest.raises(ConfigError) as failed:
        _load(text)
    return failed.value.message


def test_a_full_config_loads_and_keys_get_their_defaults() -> None:
    config = _load(BASE).config
    assert config.redis is not None and config.redis.timeout == pytest.approx(0.08)
    assert config.teams[0].budget is not None and config.teams[0].budget.monthly == 1000
    scopes = Scopes(config)
    alice, bob = scopes.keys["alice"], scopes.keys["bob"]
    # alice has her own budget but no limits: she gets the default limits, keeps her budget.
    assert alice.rpm == 10 and alice.budgets == (("daily", 5.0),)
    assert bob.rpm == 10 and bob.budgets == (("monthly", 20.0),)
    assert scopes.key_team == {"alice": "ml", "bob": None}
    assert scopes.models["gpt"].concurrency == 4
    assert scopes.teams["ml"].tpm == 200000
    # The admission groups hold the prefix and the limits, budgets first.
    period = Period(1795987100.0)  # 2026-11-29
    groups = scopes.teams["ml"].groups(period).decode()
    assert groups.startswith("b gw1:spend:team:ml:d:20261129 50.0 b gw1:spend:team:ml:m:202611")
    assert "r gw1:team:ml:r 600.0 10.0" in groups and "c gw1:team:ml:c 20" in groups


def test_limits_switched_off_keep_budgets() -> None:
    config = _load(BASE + "gateway: {limits: false}\n").config
    alice = Scopes(config).keys["alice"]
    assert alice.rpm is None and alice.seg == b"" and alice.budgets == (("daily", 5.0),)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("    team: ml", "    team: mll"), "keys[0].team: unknown team 'mll'"),
        (("daily: 5}", "daily: -5}"), "keys[0].budget.daily: expected `float` >= 0"),
        (
            ("{input: 0.10,", "{input: -1,"),
            "gw.yaml:18:16: prices.gpt.input: expected `float` >= 0",
        ),
        (
            ("concurrency: 4}", "concurrency: 0}"),
            "models[0].limits.concurrency: expected `int` >= 1",
        ),
        (("redis://:secret@127.0.0.1:6380/2", "http://127.0.0.1:6380"), "is not a Redis URL"),
        (("redis://:secret@127.0.0.1:6380/2", "redis://127.0.0.1:6380/x"), "is not a Redis URL"),
        (('prefix: "gw1:"', 'prefix: "a b"'), "redis.prefix: 'a b' is not a usable key prefix"),
        (("timeout: 80ms", "timeout: 30s"), "redis.timeout: a Redis timeout of 30s"),
        (("  - name: ml\n", "  - name: ml\n  - name: ml\n"), "duplicate name 'ml'"),
    ],
)
def test_bad_values_are_located(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in BASE
    message = _problems(BASE.replace(old, new, 1))
    assert expected in message
    assert "secret" not in message  # the URL's password is never shown


def test_an_unknown_team_suggests_the_closest_and_a_line() -> None:
    message = _problems(BASE.replace("    team: ml", "    team: mll"))
    assert "gw.yaml:13:11: keys[0].team" in message and "did you mean 'ml'?" in message


def test_a_price_for_a_model_not_in_the_file_is_a_warning() -> None:
    config = _load(BASE.replace("  gpt: {input", "  gtp: {input")).config
    assert warnings(config) == [
        "prices.gtp: no model 'gtp' in this file (it costs nothing unless the control plane "
        "serves it); did you mean 'gpt'?"
    ]
    assert warnings(_load(BASE).config) == []


def test_cost_from_prices_per_million_tokens() -> None:
    prices = Prices(_load(BASE).config.prices)
    assert prices.cost("gpt", 1000, 2000) == pytest.approx(1000 * 0.10e-6 + 2000 * 0.40e-6)
    assert prices.cost("other", 10, 10) == pytest.approx(10e-6 + 20e-6)  # the "*" price
    assert Prices({}).cost("gpt", 10, 10) == 0.0


def test_periods_end_at_utc_midnight_and_month_end() -> None:
    p = Period(1795987100.0)  # 2026-11-29T21:18:20Z
    assert (p.day, p.month) == ("20261129", "202611")
    assert p.day_ends == 1795996800.0  # 2026-11-30T00:00:00Z
    assert p.month_ends == 1795996800.0 + 86400  # 2026-12-01T00:00:00Z
    december = Period(1798718400.0)  # 2026-12-31T12:00:00Z
    assert december.day == "20261231" and december.month_ends == 1798761600.0  # 2027-01-01


def test_the_refusal_says_whose_budget_how_much_and_when() -> None:
    exc = refusal("team 'ml'", "monthly", 1000.0, 1000.5, 1798761600.0)
    assert exc.message == (
        "budget exceeded: the monthly budget of team 'ml' ($1,000.00) is spent ($1,000.50 so "
        "far); it resets at 2027-01-01T00:00:00Z (UTC)"
    )
    assert exc.code == "budget_exceeded" and exc.retry_after_s >= 1.0
    assert usd(0.0000172) == "$0.0000172"
