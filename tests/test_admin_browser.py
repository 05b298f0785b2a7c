"""The admin panel in a real headless Chromium (Debian's package): login → stats → agent detail → delete."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ADMIN_PASSWORD

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium installed (apt-get install chromium); `python3 run.py test` installs it in CI",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield instance
        finally:
            await instance.close()


async def test_login_stats_agent_detail_and_delete(stack, browser, register, tmp_path):
    victim = await register("browser-victim")
    await victim.post("/v1/memory", {"key": "k", "value": "v"})
    # the admin pages forbid eval (their CSP); Playwright's polling predicates use it: bypass CSP here
    page = await browser.new_page(bypass_csp=True)
    await page.goto(stack.url(0) + "/admin")
    assert page.url.endswith("/admin/login")  # no session: redirected

    await page.fill("#password", "wrong password")
    await page.click("#signin")
    await page.wait_for_selector("#error:has-text('Invalid password')")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#signin")
    await page.wait_for_url("**/admin")

    agents_card = page.locator("[data-stat='agents'] .value")
    await agents_card.wait_for()
    assert int(await agents_card.inner_text()) >= 1
    await page.wait_for_selector("table tbody tr")
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    row = page.locator("tbody tr", has_text=victim.agent_id)
    await row.click()
    dialog = page.locator("dialog#detail")
    await dialog.wait_for(state="visible")
    assert victim.agent_id in await page.inner_text("#detail-body")
    page.once("dialog", lambda d: d.accept())  # the confirm() before deleting
    await page.click("#delete-agent")
    await dialog.wait_for(state="hidden")
    assert (await victim.get("/v1/memory"))[0] == 401
    await page.wait_for_function(f"!document.querySelector('#view').innerText.includes('{victim.agent_id}')")

    await page.click("nav button[data-tab='sla']")
    await page.wait_for_selector(".timeline i")
    await page.click("#logout")
    await page.wait_for_url("**/admin/login")
