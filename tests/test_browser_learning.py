"""Onboarding and progress in a real headless Chromium against a real node: a new learner sets
their goal, experience, target date and preferences, goes through the adaptive diagnostic, and
lands on their progress page with a mastery chart (with its uncertainty) and a recommended next
question; a learner without consent is told what they miss; a notification shows up live."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client import Account, grant_roles, open_client, register
from tests.components import RunningNode

pytestmark = pytest.mark.browser


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda m: errors.append(m.text)
            if "Content Security Policy" in m.text else None)
    return errors


async def sign_up(page: Any, node: RunningNode, name: str, consent: bool) -> str:
    email = f"onboard-{uuid.uuid4().hex[:10]}@example.com"
    await page.goto(node.url + "/")
    await page.get_by_test_id("register-toggle").click()
    await page.get_by_test_id("login-name").fill(name)
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill("correct horse battery")
    if consent:
        await page.get_by_test_id("login-consent").check()
    await page.get_by_test_id("login-submit").click()
    return email


async def test_a_new_learner_onboards_takes_the_diagnostic_and_sees_their_progress(
        node: RunningNode, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    await sign_up(page, node, "Noor", consent=True)
    welcome = page.get_by_test_id("welcome")
    await expect(welcome).to_be_visible(timeout=15_000)
    await page.screenshot(path=str(artifacts / "onboarding-0-welcome.png"))
    await page.get_by_test_id("start-onboarding").click()

    # Step 1: goal, experience, target date.
    await expect(page.get_by_test_id("onboarding-step")).to_contain_text("Step 1 of 3")
    await page.get_by_test_id("onboarding-next").click()
    await expect(page.get_by_test_id("onboarding-error")).to_contain_text("practice")
    await page.get_by_test_id("onboarding-goal").fill("Get a backend job offer")
    await page.get_by_test_id("experience-intermediate").check()
    await page.get_by_test_id("onboarding-target").fill("2031-06-30")
    await page.screenshot(path=str(artifacts / "onboarding-1-goal.png"))
    await page.get_by_test_id("onboarding-next").click()

    # Step 2: preferences, the time zone taken from the browser.
    await expect(page.get_by_test_id("onboarding-step")).to_contain_text("Step 2 of 3")
    await page.get_by_test_id("pref-lang-python").check()
    await page.get_by_test_id("pref-daily-goal").fill("2")
    await page.get_by_test_id("pref-reminder-time").fill("07:45")
    await page.get_by_test_id("pref-time-zone").fill("Europe/Lisbon")
    await page.screenshot(path=str(artifacts / "onboarding-2-preferences.png"))
    await page.get_by_test_id("onboarding-next").click()

    # Step 3: the diagnostic, question by question, until it says it is done.
    question = page.get_by_test_id("diagnostic-question")
    await expect(question).to_be_visible(timeout=15_000)
    await page.screenshot(path=str(artifacts / "onboarding-3-diagnostic.png"))
    outcomes = ["solved", "partly", "unsolved", "solved", "skipped"]
    asked = []
    for i in range(20):
        done = page.get_by_test_id("diagnostic-done")
        if await done.is_visible():
            break
        await expect(question).to_be_visible()
        qid = await question.get_attribute("data-id")
        asked.append(qid)
        await page.get_by_test_id(f"diagnostic-{outcomes[i % len(outcomes)]}").click()
        # The next question (or the end) replaces this one.
        await expect(page.locator(f'[data-testid="diagnostic-question"][data-id="{qid}"]')) \
            .to_have_count(0, timeout=15_000)
    await expect(page.get_by_test_id("diagnostic-done")).to_be_visible()
    assert 5 <= len(asked) <= 15 and len(set(asked)) == len(asked), asked
    await page.screenshot(path=str(artifacts / "onboarding-4-done.png"))
    await page.get_by_test_id("onboarding-finish").click()

    # The progress page: a mastery chart with uncertainty bars, and a recommendation.
    await expect(page).to_have_url(f"{node.url}/#/progress")
    chart = page.get_by_test_id("mastery-chart")
    await expect(chart).to_be_visible(timeout=15_000)
    assert await page.get_by_test_id("mastery-row").count() >= 2
    assert await page.get_by_test_id("mastery-spread").count() >= 2
    await expect(page.get_by_test_id("next-title")).not_to_be_empty()
    await expect(page.get_by_test_id("next-reason")).not_to_be_empty()
    await expect(page.get_by_test_id("streak")).to_be_visible()
    await expect(page.get_by_test_id("no-consent")).to_have_count(0)
    await page.screenshot(path=str(artifacts / "progress-after-diagnostic.png"), full_page=True)

    # Onboarded: the home page no longer offers it; preferences were kept; the browser's back
    # and forward buttons move between the pages.
    await page.get_by_test_id("nav-home").click()
    await expect(page.get_by_test_id("question-item").first).to_be_visible()
    await expect(page.get_by_test_id("welcome")).to_be_hidden()
    await page.go_back()
    await expect(page.get_by_test_id("mastery-chart")).to_be_visible()
    await page.go_forward()
    await expect(page.get_by_test_id("question-item").first).to_be_visible()
    await page.get_by_test_id("nav-progress").click()
    await expect(page.get_by_test_id("pref-time-zone")).to_have_value("Europe/Lisbon")
    await expect(page.get_by_test_id("pref-reminder-time")).to_have_value("07:45")

    # The recommended question starts a session; once ended, it is a past session to replay.
    title = await page.get_by_test_id("next-title").text_content()
    await page.get_by_test_id("next-start").click()
    await expect(page.get_by_test_id("editor")).to_be_visible(timeout=15_000)
    await expect(page.locator("#session-title")).to_have_text(title or "")
    await page.get_by_test_id("hint-button").click()
    await expect(page.get_by_test_id("hint-list").locator("li")).to_have_count(1)
    await page.get_by_test_id("end-session").click()
    await expect(page.locator("#ended-banner")).to_be_visible()
    await page.get_by_test_id("nav-progress").click()
    past = page.get_by_test_id("past-sessions")
    await expect(past).to_contain_text(title or "", timeout=15_000)
    href = await past.get_by_test_id("replay-link").first.get_attribute("href")
    assert href is not None and href.startswith("#/replay/")
    await page.screenshot(path=str(artifacts / "progress-past-session.png"), full_page=True)
    assert errors == []


async def test_without_consent_the_progress_page_says_what_is_missed(
        node: RunningNode, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    await sign_up(page, node, "Ines", consent=False)
    await expect(page.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    await page.get_by_test_id("nav-progress").click()
    notice = page.get_by_test_id("no-consent")
    await expect(notice).to_be_visible(timeout=15_000)
    await expect(notice).to_contain_text("no mastery chart")
    await expect(notice).to_contain_text("no reviews")
    await page.screenshot(path=str(artifacts / "progress-without-consent.png"), full_page=True)
    # The link opens the panel where consent is given.
    await page.get_by_test_id("consent-open").click()
    await expect(page.get_by_test_id("account-panel")).to_be_visible()
    assert errors == []


async def test_a_notification_shows_up_live(node: RunningNode, database_url: str, page: Any,
                                            artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    email = await sign_up(page, node, "Maya Mentor", consent=True)
    await expect(page.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15_000)
    await page.get_by_test_id("nav-progress").click()
    await expect(page.get_by_test_id("notifications-empty")).to_be_visible(timeout=15_000)

    # Make her a mentor (as `wingman user roles` would), and have a learner invite her.
    learner = await register(node, name="Ada")
    mentor = Account(email, "correct horse battery", "", "", "Maya Mentor")
    async with httpx.AsyncClient(base_url=node.url) as http:
        login = (await http.post("/auth/login", json={"email": email,
                                                      "password": mentor.password})).json()
    mentor.user = login["user"]["id"]
    await grant_roles(node, database_url, mentor, ["learner", "mentor"])
    client = await open_client(node, learner.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("mentor.invite", sid=sid, mentor=email)

    await expect(page.get_by_test_id("notif-count")).to_have_text("1", timeout=15_000)
    await expect(page.get_by_test_id("notifications")).to_contain_text(
        "Ada invited you to watch their session on “Two Sum”")
    await page.screenshot(path=str(artifacts / "progress-notification.png"), full_page=True)
    await page.get_by_test_id("notifications-read").click()
    await expect(page.get_by_test_id("notif-count")).to_be_hidden()
    assert errors == []
