"""Three people in three real headless Chromium contexts on two real nodes sharing a real Redis:
a learner on node A, the mentor they invite on node B watching live, and an admin on node B at
the live monitor who sees the session and its moment, opens it and ends it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client import Account, grant_roles, register
from tests.components import RunningNode
from tests.test_cluster import nodes_on_own_redis

pytestmark = pytest.mark.browser

FAILING = "def two_sum(nums, target):\n    return nums\n\nprint(two_sum([1], 2)[5])\n"
SECRET = "Only for you: what is the last index of a list of one?"
WAIT = 30_000


@pytest.fixture(scope="module")
def two_nodes(database_url: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, RunningNode]]:
    folder = tmp_path_factory.mktemp("browser-monitor")
    with nodes_on_own_redis(database_url, folder, ("a", "b")) as nodes:
        yield nodes


async def signed_in(browser: Any, node: RunningNode, account: Account,
                    errors: list[str]) -> Any:
    """A fresh browser context signed in on `node`'s page."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda err: errors.append(f"{account.name}: {err}"))
    await page.goto(node.url + "/")
    await page.get_by_test_id("login-email").fill(account.email)
    await page.get_by_test_id("login-password").fill(account.password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.locator('[data-testid="question-item"]').first).to_be_visible(timeout=WAIT)
    return page


async def test_mentor_and_admin_watch_a_learner_live_across_two_nodes(
        two_nodes: dict[str, RunningNode], database_url: str, browser: Any,
        artifacts: Path) -> None:
    from playwright.async_api import expect

    a, b = two_nodes["a"], two_nodes["b"]
    errors: list[str] = []
    ada = await register(a, name="Ada")
    mia = await grant_roles(b, database_url, await register(b, name="Mia"),
                            ["learner", "mentor"])
    root = await grant_roles(b, database_url, await register(b, name="Root"),
                             ["learner", "admin"])

    # The admin opens the live monitor on node B: both nodes report there.
    admin = await signed_in(browser, b, root, errors)
    await admin.goto(b.url + "/monitor")
    await expect(admin.locator('[data-testid="node-row"][data-node="a"]')).to_be_visible(
        timeout=WAIT)
    await expect(admin.locator('[data-testid="node-row"][data-node="b"]')).to_be_visible()

    # The learner starts a session on node A and invites the mentor by email.
    learner = await signed_in(browser, a, ada, errors)
    await learner.locator('[data-testid="question-item"][data-id="two-sum"]').click()
    await expect(learner.get_by_test_id("editor")).to_contain_text("def two_sum", timeout=WAIT)
    await learner.get_by_test_id("invite-open").click()
    await learner.get_by_test_id("invite-email").fill(mia.email)
    await learner.get_by_test_id("invite-send").click()
    await expect(learner.get_by_test_id("invite-status")).to_contain_text("Invited",
                                                                          timeout=WAIT)
    await expect(learner.get_by_test_id("invite-list")).to_contain_text("Mia")

    # The session shows on the monitor with its node.
    row = admin.locator('[data-testid="session-row"]', has_text="Ada")
    await expect(row).to_be_visible(timeout=WAIT)
    await expect(row.get_by_test_id("session-node")).to_have_text("a")

    # The mentor, on node B, accepts the invitation and watches.
    mentor = await signed_in(browser, b, mia, errors)
    await mentor.goto(b.url + "/mentor")
    await mentor.get_by_test_id("accept-invite").click()
    await mentor.get_by_test_id("watch-session").click()
    await expect(mentor.get_by_test_id("watch-editor")).to_contain_text("def two_sum",
                                                                       timeout=WAIT)
    sid = mentor.url.rsplit("/", 1)[-1]
    await expect(learner.locator("#presence")).to_contain_text("Mia", timeout=WAIT)

    # She sees the learner type, with their cursor.
    await learner.evaluate("(code) => window.wingman.editor.setValue(code)", FAILING)
    await learner.locator("#editor .CodeMirror").click()
    await learner.keyboard.press("Control+End")
    await learner.keyboard.type("# try again\n")
    await expect(mentor.get_by_test_id("watch-editor")).to_contain_text("# try again",
                                                                       timeout=WAIT)
    await expect(mentor.get_by_test_id("remote-cursor")).to_be_attached()

    # Three failing runs: their output reaches the mentor live, and the moment lights up.
    for _ in range(3):
        await expect(learner.get_by_test_id("run-button")).to_be_enabled(timeout=WAIT)
        await learner.get_by_test_id("run-button").click()
        await expect(learner.get_by_test_id("run-button")).to_be_disabled(timeout=WAIT)
    await expect(learner.get_by_test_id("run-button")).to_be_enabled(timeout=WAIT)
    await expect(mentor.get_by_test_id("watch-output")).to_contain_text("IndexError",
                                                                       timeout=WAIT)
    await expect(mentor.get_by_test_id("watch-moments")).to_contain_text("Repeated error",
                                                                        timeout=WAIT)
    lit = admin.locator(f'[data-testid="session-row"][data-sid="{sid}"]')
    await expect(lit.locator(".moment-chip")).to_have_attribute("data-reason", "repeated_error",
                                                                timeout=WAIT)
    await expect(lit).to_have_class(re.compile(r"\bhas-moment\b"))
    await admin.screenshot(path=str(artifacts / "admin-monitor.png"), full_page=True)

    # The tutor's reply streams to the mentor.
    await learner.get_by_test_id("tutor-input").fill("Why does it fail?")
    await learner.get_by_test_id("tutor-ask").click()
    await expect(mentor.get_by_test_id("watch-log").get_by_test_id("tutor-reply").last
                 ).to_contain_text("?", timeout=WAIT)

    # The admin opens the session as an observer; the learner is told.
    await lit.get_by_test_id("open-session").click()
    await expect(admin.get_by_test_id("watch-editor")).to_contain_text("# try again",
                                                                      timeout=WAIT)
    await expect(learner.get_by_test_id("tutor-log")).to_contain_text(
        "Root (admin) is observing this session", timeout=WAIT)

    # A private note reaches the learner only.
    await mentor.get_by_test_id("note-text").fill(SECRET)
    await mentor.get_by_test_id("note-private").check()
    await mentor.get_by_test_id("note-send").click()
    await expect(learner.get_by_test_id("tutor-log")).to_contain_text(SECRET, timeout=WAIT)
    await expect(admin.get_by_test_id("watch-log")).to_contain_text(
        "a note only the learner can read", timeout=WAIT)
    assert SECRET not in await admin.get_by_test_id("watch-log").inner_text()
    await mentor.screenshot(path=str(artifacts / "mentor-watch.png"), full_page=True)

    # The admin ends it; the learner's page says so, and so does the mentor's.
    admin.on("dialog", lambda dialog: dialog.accept())
    await admin.get_by_test_id("watch-end").click()
    await expect(learner.locator("#ended-banner")).to_be_visible(timeout=WAIT)
    await expect(learner.locator("#ended-text")).to_contain_text("admin")
    await expect(learner.get_by_test_id("tutor-log")).to_contain_text("ended this session")
    await expect(mentor.get_by_test_id("watch-ended")).to_be_visible(timeout=WAIT)
    await expect(mentor.get_by_test_id("watch-replay")).to_have_attribute(
        "href", f"/#/replay/{sid}")
    await learner.screenshot(path=str(artifacts / "learner-ended.png"), full_page=True)

    # Off the monitor, into the ended ones with their replay; the mentor's list has it too.
    await admin.get_by_role("button", name="← Back").click()
    await expect(admin.locator(f'[data-testid="session-row"][data-sid="{sid}"]')).to_have_count(
        0, timeout=WAIT)
    await expect(admin.locator(f'[data-testid="ended-row"][data-sid="{sid}"]').get_by_test_id(
        "replay-session")).to_have_attribute("href", f"/#/replay/{sid}")
    await mentor.get_by_role("button", name="← Back").click()
    await expect(mentor.locator(f'[data-testid="mentor-session"][data-sid="{sid}"]').get_by_test_id(
        "replay-session")).to_be_visible(timeout=WAIT)
    assert not errors, errors
