"""The admin's question bank page in a real headless Chromium against a real node: find a
question by the filters, create one (a bad field is shown, not saved), edit it into a second
version, publish it, and see learners offered that version; a learner never sees the page."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.client import grant_roles, http_get, register
from tests.components import RunningNode
from tests.test_browser_account import log_in, watch_errors
from tests.test_content import authored

pytestmark = pytest.mark.browser


async def test_an_admin_manages_the_bank_on_the_content_page(
        node: RunningNode, database_url: str, page: Any, browser: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    admin = await grant_roles(node, database_url, await register(node, name="Admin"),
                              ["learner", "admin"])
    learner = await register(node)
    await log_in(page, node, admin.email, admin.password)
    await expect(page.get_by_test_id("question-list")).to_be_visible()
    await page.get_by_test_id("account-button").click()
    await page.get_by_test_id("content-link").click()
    await expect(page.get_by_test_id("content-page")).to_be_visible()
    assert page.url.endswith("#/admin/content")

    # Filters: language and tag narrow the list to what they name.
    items = page.get_by_test_id("content-item")
    await expect(items.first).to_be_visible()
    await page.get_by_test_id("content-language").select_option("javascript")
    await expect(items.first).to_be_visible()
    for text in await items.all_inner_texts():
        assert "javascript" in text
    await page.get_by_test_id("content-language").select_option("")
    await page.get_by_test_id("content-tag").select_option("hashing")
    two_sum = page.locator('[data-testid="content-item"][data-id="two-sum"]')
    await expect(two_sum).to_be_visible()
    await page.get_by_test_id("content-tag").select_option("")

    # A new question: a wrong field is named and nothing is saved.
    qid = f"paged-{uuid.uuid4().hex[:8]}"
    await page.get_by_test_id("content-new").click()
    editor = page.get_by_test_id("content-json")
    body = {k: v for k, v in authored(qid, "Paged question", 1).items() if k != "version"}
    await editor.fill(json.dumps({**body, "hints": body["hints"][:3]}, indent=2))
    await page.get_by_test_id("content-save").click()
    await expect(page.get_by_test_id("content-error")).to_contain_text("hints")
    await editor.fill(json.dumps(body, indent=2))
    await expect(page.get_by_test_id("content-preview")).to_contain_text("Return the number 1.")
    await page.get_by_test_id("content-save").click()
    await expect(page.get_by_test_id("content-saved")).to_contain_text("version 1")
    versions = page.get_by_test_id("content-version")
    await expect(versions).to_have_count(1)

    # An edit is a new draft version; publishing it offers it to learners.
    await editor.fill(json.dumps({**body, "title": "Paged question, edited"}, indent=2))
    await page.get_by_test_id("content-save").click()
    await expect(page.get_by_test_id("content-saved")).to_contain_text("version 2")
    await expect(versions).to_have_count(2)
    await expect(versions.nth(1)).to_have_attribute("data-state", "draft")
    await versions.nth(1).get_by_test_id("content-publish").click()
    await expect(versions.nth(1)).to_have_attribute("data-state", "published")
    await page.get_by_test_id("content-state").select_option("published")
    await page.get_by_test_id("content-search").fill(qid)
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("v2 published")
    await page.screenshot(path=str(artifacts / "content-page.png"), full_page=True)
    offered = (await http_get(node, f"/api/questions/{qid}", learner.token)).json()
    assert (offered["title"], offered["version"]) == ("Paged question, edited", 2)

    await versions.nth(1).get_by_test_id("content-retire").click()
    await expect(versions.nth(1)).to_have_attribute("data-state", "retired")
    assert (await http_get(node, f"/api/questions/{qid}", learner.token)).status_code == 404
    assert errors == []

    # A learner has no link to the page, and the API refuses them.
    learner_page = await (await browser.new_context()).new_page()
    await log_in(learner_page, node, learner.email, learner.password)
    await expect(learner_page.get_by_test_id("question-list")).to_be_visible()
    await learner_page.get_by_test_id("account-button").click()
    await expect(learner_page.get_by_test_id("content-link")).to_be_hidden()
