"""Accessibility basics on the main pages (names for controls, language, headings, tables, chart
alternatives, no keyboard traps or unreachable controls) and keyboard use of the main paths.
Each page's screenshot is saved as a test artifact."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from ironplane.embedded.up import Embedded
from tests.browser.a11y import problems, tab_order
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.anyio

PAGES = {
    "clusters": "/ui/clusters",
    "cluster": "/ui/clusters/local",
    "workspaces": "/ui/workspaces",
    "apps": "/ui/apps",
    "deploy": "/ui/deploy",
    "jobs": "/ui/jobs",
    "secrets": "/ui/secrets",
    "tokens": "/ui/tokens",
    "access": "/ui/access",
    "audit": "/ui/audit",
    "gateway-empty": "/ui/gateway",
}


async def test_the_login_page_works_from_the_keyboard(
    browser_page: Page, embedded: Embedded
) -> None:
    page = browser_page
    await page.goto("/ui/login")
    assert await problems(page) == []
    focused = await page.evaluate("() => document.activeElement.id")
    assert focused == "username", "the user name field has the focus on arrival"
    order = []
    for _ in range(3):
        await page.keyboard.press("Tab")
        order.append(
            await page.evaluate(
                "() => document.activeElement.id || document.activeElement.textContent.trim()"
            )
        )
    assert order == ["password", "token", "Sign in"]
    await page.keyboard.press("Shift+Tab")  # back to the token field
    await page.keyboard.type(embedded.admin_token)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/ui/")


async def test_main_pages_pass_the_basic_checks(browser_page: Page, embedded: Embedded) -> None:
    page = browser_page
    await sign_in(page, embedded)
    assert await problems(page) == [], "overview"
    for name, path in PAGES.items():
        await page.goto(path)
        await expect(page.locator("h1")).to_be_visible()
        found = await problems(page)
        assert found == [], f"{path}: {found}"
        await screenshot(page, name)


async def test_keyboard_reaches_the_navigation_and_skips_to_content(
    browser_page: Page, embedded: Embedded
) -> None:
    page = browser_page
    await sign_in(page, embedded)
    order = await tab_order(page, 5)
    assert order[0] == "a:Skip to content"
    assert order[1] == "a:Ironplane" and order[2] == "a:Overview" and order[3] == "a:Clusters"
    # Skip to content, then the first thing Tab reaches is inside <main>.
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    inside = await page.evaluate("() => !!document.activeElement.closest('main')")
    assert inside, "after skipping, focus must move into the main content"
    # Every page's nav is reachable and followable with Enter.
    await page.goto("/ui/")
    for _ in range(4):
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/ui/clusters")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Clusters")
