"""Password guessing is braked: failed logins per name and per address, within a window."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironplane.core.errors import RateLimitedError
from ironplane.server.security.throttle import LoginThrottle
from tests.server.conftest import make_settings, start

pytestmark = pytest.mark.anyio


async def test_too_many_failed_logins_get_429_with_retry_after(
    tmp_path: Path, database_url: str | None, backend: str
) -> None:
    settings = make_settings(tmp_path, database_url, login_max_failures=3, login_window_s=600)
    async for server in start(settings, backend):
        r = await server.admin.post("/users", json={"name": "carol", "password": "carol-password"})
        assert r.status_code == 201
        anonymous = server.client()
        for _ in range(3):
            r = await anonymous.post(
                "/auth/login", json={"username": "carol", "password": "nope-nope"}
            )
            assert r.status_code == 401
        # Now even the right password waits: the guesser cannot tell which one was right.
        r = await anonymous.post(
            "/auth/login", json={"username": "carol", "password": "carol-password"}
        )
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) in range(1, 601)
        # Another user is not locked out by carol's failures.
        await server.admin.post("/users", json={"name": "dave", "password": "dave-password"})
        r = await anonymous.post(
            "/auth/login", json={"username": "dave", "password": "dave-password"}
        )
        assert r.status_code == 200


def test_the_window_slides_and_success_clears_the_name() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_name=2, per_address=3, window_s=60, clock=lambda: now[0])
    throttle.failed("x", "1.2.3.4")
    throttle.failed("x", "1.2.3.4")
    with pytest.raises(RateLimitedError, match="too many failed logins") as refused:
        throttle.check("x", "5.6.7.8")
    assert refused.value.retry_after_s == 60
    now[0] += 61
    throttle.check("x", "1.2.3.4")  # the window passed
    throttle.failed("y", "1.2.3.4")
    throttle.failed("z", "1.2.3.4")
    throttle.failed("w", "1.2.3.4")
    with pytest.raises(RateLimitedError, match="too many failed logins"):
        throttle.check("fresh-name", "1.2.3.4")  # the address is over its own limit
    throttle.failed("v", "9.9.9.9")
    throttle.succeeded("v")
    throttle.check("v", "9.9.9.9")
