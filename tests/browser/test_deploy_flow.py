"""The main path a user takes in the UI, against `ironplane up`: deploy a service from the deploy
page, watch it become ready, change it, roll it back, read its live logs."""

from __future__ import annotations

import asyncio
import sys
import urllib.request

import pytest
from playwright.async_api import Page, expect

from ironplane.embedded.up import Embedded
from tests.browser.a11y import problems
from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import eventually
from tests.ports import free_port

pytestmark = pytest.mark.anyio


def hello(port: int, text: str) -> str:
    server = (
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        body = {text!r}.encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "    def log_message(self, *a): print('served', self.path, flush=True)\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    return (
        "kind: Service\nname: hello\nworkspace: default\nimage: python:3.12\n"
        f"command: [{sys.executable!r}, '-c', {server!r}, '$(PORT)']\n"
        f"ports: [{{port: {port}}}]\n"
        f"health: {{readiness: {{path: /, port: {port}, period: 1s}}}}\n"
    )


def answer(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/from-test", timeout=5) as r:
        return str(r.read().decode())


async def deploy(page: Page, text: str) -> None:
    await page.goto("/ui/deploy")
    await page.get_by_label("Spec documents (YAML)").fill(text)
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url("**/ui/apps/default/hello**")


async def test_deploy_watch_roll_back_and_read_logs(browser_page: Page, embedded: Embedded) -> None:
    page = browser_page
    port = free_port()
    await sign_in(page, embedded)

    # Bad input is refused in place, located.
    await page.goto("/ui/deploy")
    await page.get_by_label("Spec documents (YAML)").fill("kind: Service\nname: hello\nimage: [\n")
    await page.get_by_role("button", name="Apply").click()
    refused = page.get_by_role("alert").filter(has_text="Nothing was applied")
    await expect(refused).to_contain_text("YAML syntax error")
    await expect(refused).to_contain_text("editor.yaml:4:1")  # located (the end of the text)
    await screenshot(page, "deploy-error")

    await deploy(page, hello(port, "one"))
    status = page.locator("#app-live [role=status]").first
    await expect(status).to_contain_text("Running", timeout=60_000)
    await expect(status).to_contain_text("1 of 1")
    assert await asyncio.to_thread(answer, port) == "one"
    assert await problems(page) == [], "app page"
    await screenshot(page, "app")

    await deploy(page, hello(port, "two"))
    await expect(page.get_by_role("row").filter(has_text="v2")).to_contain_text("active")
    await eventually(lambda: answers(port, "two"), 60, "the new version to answer")

    # Roll back to v1: a new version 3 with v1's spec, and the process answers "one" again.
    await page.get_by_role("button", name="Roll back to v1").click()
    await expect(page.get_by_role("row").filter(has_text="v3")).to_contain_text("active")
    await expect(page.get_by_role("row").filter(has_text="v3")).to_contain_text("rollback to v1")
    await eventually(lambda: answers(port, "one"), 60, "v1's text after the rollback")

    # The diff between v2 and v3 shows the changed text.
    await page.get_by_label("Compare version").select_option("2")
    await page.get_by_label("with version").select_option("3")
    await page.get_by_role("button", name="Show the diff").click()
    await expect(page.locator("#diff")).to_contain_text("one")
    await expect(page.locator("#diff")).to_contain_text("two")

    # Live logs: a request made now shows up in the stream.
    await page.goto("/ui/apps/default/hello/logs")
    lines = page.locator("[data-log-lines]")
    await asyncio.to_thread(answer, port)
    await expect(lines).to_contain_text("served /from-test", timeout=30_000)
    assert await problems(page) == [], "logs page"
    await screenshot(page, "logs")


async def answers(port: int, text: str) -> bool:
    """The service answers ``text`` (off the event loop: `ironplane up` runs on it too)."""
    try:
        return await asyncio.to_thread(answer, port) == text
    except OSError:
        return False
