"""Signing in through the browser: the login form, the overview, signing out."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from ironplane.embedded.up import Embedded
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.anyio


async def test_sign_in_see_the_local_cluster_and_sign_out(
    browser_page: Page, embedded: Embedded
) -> None:
    page = browser_page
    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Ironplane")).to_be_visible()
    await screenshot(page, "login")
    await page.get_by_label("API token").fill("ipt_wrong_wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await sign_in(page, embedded)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    cluster = page.get_by_role("row").filter(has_text="local")
    await expect(cluster).to_contain_text("connected")
    await screenshot(page, "overview")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/ui/login")
    await page.goto("/ui/")
    assert "/ui/login" in page.url
