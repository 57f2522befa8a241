"""The learner page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.components import RunningNode, missing

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[object]:
    if shutil.which(CHROMIUM) is None:
        missing("Debian's chromium (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        yield await context.new_page()
        await browser.close()


async def test_learner_runs_code_and_hears_from_the_tutor(node: RunningNode, page: object,
                                                          artifacts: Path) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(node.url + "/")

    await page.get_by_test_id("register-toggle").click()
    await page.get_by_test_id("login-name").fill("Grace")
    await page.get_by_test_id("login-email").fill(f"grace-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_test_id("login-password").fill("a long enough password")
    await page.get_by_test_id("login-consent").check()
    await page.get_by_test_id("login-submit").click()

    item = page.locator('[data-testid="question-item"][data-id="two-sum"]')
    await expect(item).to_be_visible(timeout=15_000)
    await item.click()
    await expect(page.get_by_test_id("status")).to_contain_text("onnected", timeout=15_000)
    await expect(page.get_by_test_id("editor")).to_contain_text("def two_sum", timeout=15_000)

    await page.evaluate("""() => window.wingman.editor.setValue(
        "def two_sum(nums, target):\\n    return [0, 0]\\n\\nprint('hello from the page')\\n")""")
    await page.get_by_test_id("run-button").click()
    await expect(page.get_by_test_id("output")).to_contain_text("hello from the page",
                                                                timeout=20_000)

    await page.get_by_test_id("test-button").click()
    await expect(page.get_by_test_id("test-results")).to_contain_text("example 1", timeout=20_000)

    await page.get_by_test_id("tutor-input").fill("Why does my answer fail?")
    await page.get_by_test_id("tutor-ask").click()
    reply = page.get_by_test_id("tutor-reply").last
    await expect(reply).to_contain_text("?", timeout=20_000)
    text = await reply.inner_text()
    assert len(text.split()) > 5

    await page.get_by_test_id("hint-button").click()
    await expect(page.get_by_test_id("hint-list")).not_to_be_empty(timeout=10_000)

    await page.screenshot(path=str(artifacts / "learner-page.png"), full_page=True)
    assert not errors, errors
