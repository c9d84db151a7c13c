"""Browser tests: Playwright driving Debian's Chromium (headless) against `ironplane up`.

Chromium comes from Debian (`apt-get install chromium`, /usr/bin/chromium; scripts/test installs
it when it can). Without it these tests skip, except under CI where they fail. Screenshots of the
main pages go to build/test-artifacts/ui (or IRONPLANE_TEST_ARTIFACTS).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ironplane.embedded.up import Embedded, up
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(
    os.environ.get("IRONPLANE_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts" / "ui")
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def chromium_path() -> str:
    found = (
        os.environ.get("IRONPLANE_CHROMIUM")
        or shutil.which("chromium")
        or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required under CI (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Embedded]:
    stop = asyncio.Event()
    ready: asyncio.Future[Embedded] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        up(tmp_path / "data", port=0, stop=stop, ready=ready, gateway_port=free_port())
    )
    try:
        yield await asyncio.wait_for(ready, 90)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


@pytest.fixture
async def browser_page(embedded: Embedded) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        context = await browser.new_context(
            base_url=embedded.url, viewport={"width": 1400, "height": 900}
        )
        context.set_default_timeout(20_000)
        page = await context.new_page()
        try:
            yield page
        finally:
            await context.close()
            await browser.close()


async def sign_in(page: object, embedded: Embedded) -> None:
    from playwright.async_api import Page

    assert isinstance(page, Page)
    await page.goto("/ui/")
    assert "/ui/login" in page.url
    await page.get_by_label("API token").fill(embedded.admin_token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/ui/")


async def screenshot(page: object, name: str) -> Path:
    from playwright.async_api import Page

    assert isinstance(page, Page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
