"""The learner page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.client import register
from tests.components import RunningNode, free_port, running_node

pytestmark = pytest.mark.browser

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


async def test_the_page_comes_back_after_its_node_restarts(
        database_url: str, tmp_path_factory: pytest.TempPathFactory, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    folder, port = tmp_path_factory.mktemp("browser-restart"), free_port()
    with running_node(database_url, folder, port=port) as first:
        account = await register(first)
        await page.goto(first.url + "/")
        await page.get_by_test_id("login-email").fill(account.email)
        await page.get_by_test_id("login-password").fill(account.password)
        await page.get_by_test_id("login-submit").click()
        await page.locator('[data-testid="question-item"][data-id="valid-parentheses"]').click()
        await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15_000)
        # The session's state has arrived (the starter shows) before the learner types over it.
        await expect(page.get_by_test_id("editor")).to_contain_text("def is_valid_brackets",
                                                                   timeout=15_000)
        await page.evaluate("() => window.wingman.editor.setValue(\"print('before')\\n\")")
        await page.get_by_test_id("run-button").click()
        await expect(page.get_by_test_id("output")).to_contain_text("before", timeout=20_000)
    # The node is gone (it closed the socket with 1012); the page says so and keeps trying.
    await expect(page.get_by_test_id("status")).not_to_have_text("connected", timeout=10_000)
    with running_node(database_url, folder, port=port):
        await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=30_000)
        await expect(page.get_by_test_id("output")).to_contain_text("before")
        await page.evaluate("() => window.wingman.editor.setValue(\"print('after')\\n\")")
        await page.get_by_test_id("run-button").click()
        await expect(page.get_by_test_id("output")).to_contain_text("after", timeout=20_000)
