"""A chart with data: requests through the AI gateway of `ironplane up` show up on the gateway
page's charts and usage table."""

from __future__ import annotations

import openai
import pytest
from playwright.async_api import Page, expect
from playwright.async_api import TimeoutError as PageTimeout

from ironplane.embedded.up import Embedded
from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import eventually
from tests.e2e.test_up_gateway import model
from tests.ports import free_port

pytestmark = pytest.mark.anyio


async def test_gateway_traffic_is_charted(browser_page: Page, embedded: Embedded) -> None:
    page = browser_page
    await sign_in(page, embedded)
    await page.goto("/ui/deploy")
    await page.get_by_label("Spec documents (YAML)").fill(model(free_port()))
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url("**/ui/apps/default/tiny-llm**")

    assert embedded.gateway_url is not None
    client = openai.AsyncOpenAI(
        base_url=embedded.gateway_url + "/v1", api_key=embedded.admin_token, max_retries=0
    )

    async def answers() -> bool:
        try:
            reply = await client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hi"}]
            )
        except openai.APIError:
            return False
        return reply.choices[0].message.content == "echo: hi"

    await eventually(answers, timeout=60, what="the model answers through the gateway")
    for _ in range(4):
        assert await answers()
    await client.close()

    totals = page.get_by_role("table", name="Totals for the window")

    async def charted() -> bool:
        """All five requests shipped (the totals say 5) and the first chart drawn with data."""
        await page.goto("/ui/gateway?since=1h")
        if (await totals.locator("tbody td").first.inner_text()).strip() != "5":
            return False
        chart = page.locator(".chart.drawn").first
        try:
            await chart.wait_for(timeout=5_000)
        except PageTimeout:
            return False
        return int(await chart.get_attribute("data-points") or 0) > 0

    await eventually(charted, timeout=45, what="the usage and the gateway chart to have data")
    await expect(page.locator("canvas").first).to_be_visible()
    # The usage table by model: tiny with its five requests.
    usage = page.get_by_role("table").filter(has_text="Mean latency")
    await expect(usage.get_by_role("row").filter(has_text="tiny")).to_contain_text("5")
    await screenshot(page, "gateway")
