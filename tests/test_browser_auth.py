"""The learner page's login lifecycle in a real headless Chromium (Debian's), driven by
Playwright: the refresh cookie signs a reload or a new tab back in, short-lived access tokens
are renewed on the open socket before they expire, a missed renewal costs one refresh and a
resume, a refused refresh sends the learner to the login form with a message, tabs refreshing
at once take turns, and "Sign out everywhere" reaches another browser's open page."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client import register
from tests.components import RunningNode, running_node

pytestmark = pytest.mark.browser

# Short enough that a test outlives the first token: the page renews at half of that
# (for tokens under two minutes; normally 60 s before expiry), the node closes at expiry.
QUICK_TOKEN_SECONDS = 20


@pytest.fixture(scope="module")
def quick_node(database_url: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("quick-tokens"),
                      ACCESS_TOKEN_SECONDS=str(QUICK_TOKEN_SECONDS)) as running:
        yield running


def frames_of(ws: Any, kind: str) -> list[str]:
    """The frames of one type the page sends on a socket, as they go out."""
    sent: list[str] = []

    def noted(payload: object) -> None:
        if f'"type":"{kind}"' in str(payload):
            sent.append(str(payload))

    ws.on("framesent", noted)
    return sent


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    return errors


async def register_in_page(page: Any, node: RunningNode) -> None:
    await page.goto(node.url + "/")
    await page.get_by_test_id("register-toggle").click()
    await page.get_by_test_id("login-name").fill("Grace")
    await page.get_by_test_id("login-email").fill(f"grace-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_test_id("login-password").fill("a long enough password")
    await page.get_by_test_id("login-consent").check()
    await page.get_by_test_id("login-submit").click()


async def log_in_page(page: Any, node: RunningNode, email: str, password: str) -> None:
    await page.goto(node.url + "/")
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def test_a_reload_or_a_new_tab_stays_signed_in_through_the_refresh_cookie(
        node: RunningNode, page: Any, browser: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    await register_in_page(page, node)
    questions = page.get_by_test_id("question-item")
    await expect(questions.first).to_be_visible(timeout=15_000)
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert "wingman_refresh" in cookies, "the browser did not keep the refresh cookie"
    assert cookies["wingman_refresh"]["httpOnly"] and cookies["wingman_refresh"]["secure"]
    assert await page.evaluate("() => document.cookie") == ""  # out of the page's reach

    # The access token is per tab and gone: the reload must come back in through the cookie.
    await page.evaluate("() => sessionStorage.clear()")
    async with page.expect_response(lambda r: r.url.endswith("/auth/refresh")) as refreshed:
        await page.reload()
    assert (await refreshed.value).status == 200
    await expect(questions.first).to_be_visible(timeout=15_000)
    await expect(page.locator("#view-login")).to_be_hidden()
    await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15_000)
    assert await page.evaluate("() => sessionStorage.getItem('wingman.token')")

    # A plain reload keeps the tab's own token and does not need the cookie.
    await page.reload()
    await expect(questions.first).to_be_visible(timeout=15_000)

    # A new tab of the same browser is signed in without typing.
    tab = await page.context.new_page()
    tab_errors = watch_errors(tab)
    await tab.goto(node.url + "/")
    await expect(tab.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    await expect(tab.locator("#view-login")).to_be_hidden()
    await tab.screenshot(path=str(artifacts / "auth-new-tab-signed-in.png"))

    # Another browser (no cookie) gets the login form, with no error on it.
    stranger = await (await browser.new_context()).new_page()
    await stranger.goto(node.url + "/")
    await expect(stranger.locator("#view-login")).to_be_visible(timeout=15_000)
    await expect(stranger.get_by_test_id("login-error")).to_be_hidden()

    # "Sign out" revokes the cookie: a reload now shows the login form.
    await page.get_by_test_id("account-button").click()
    async with page.expect_response(lambda r: r.url.endswith("/auth/logout")) as out:
        await page.get_by_test_id("logout").click()
    assert (await out.value).status == 200
    await expect(page.locator("#view-login")).to_be_visible()
    await page.reload()
    await expect(page.locator("#view-login")).to_be_visible(timeout=15_000)
    assert not errors and not tab_errors, errors + tab_errors


async def test_short_lived_tokens_are_renewed_on_the_open_socket(
        quick_node: RunningNode, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    sockets: list[Any] = []
    auth_frames: list[list[str]] = []
    closes: list[Any] = []

    def opened(ws: Any) -> None:
        sockets.append(ws)
        auth_frames.append(frames_of(ws, "auth"))
        ws.on("close", lambda closed: closes.append(closed))

    page.on("websocket", opened)
    await register_in_page(page, quick_node)
    await page.locator('[data-testid="question-item"][data-id="valid-parentheses"]').click()
    status = page.get_by_test_id("status")
    await expect(status).to_have_text("connected", timeout=15_000)
    await expect(page.get_by_test_id("editor")).to_contain_text("def", timeout=15_000)
    # Record every status the page shows from now on.
    await page.evaluate("""() => {
        const el = document.querySelector('[data-testid="status"]');
        window.statusSeen = [el.textContent];
        new MutationObserver(() => window.statusSeen.push(el.textContent))
            .observe(el, {childList: true, characterData: true, subtree: true});
    }""")
    first_token = await page.evaluate("() => sessionStorage.getItem('wingman.token')")
    first_expiry = int(await page.evaluate("() => sessionStorage.getItem('wingman.expires_at')"))
    assert 0 < first_expiry - time.time() <= QUICK_TOKEN_SECONDS

    # Outlive the first token (the node closes a socket at expiry unless it was renewed).
    while time.time() < first_expiry + 2:
        await page.wait_for_timeout(1000)
    assert await page.evaluate("() => sessionStorage.getItem('wingman.token')") != first_token
    # One socket: its handshake and at least one renewal.
    assert len(auth_frames) == 1 and len(auth_frames[0]) >= 2, auth_frames

    await page.evaluate("() => window.wingman.editor.setValue(\"print('still here')\\n\")")
    await page.get_by_test_id("run-button").click()
    await expect(page.get_by_test_id("output")).to_contain_text("still here", timeout=20_000)
    await expect(status).to_have_text("connected")
    await expect(page.locator("#view-login")).to_be_hidden()
    seen = await page.evaluate("() => window.statusSeen")
    assert set(seen) == {"connected"}, seen
    assert len(sockets) == 1 and not closes, (len(sockets), closes)
    await page.screenshot(path=str(artifacts / "auth-after-token-expiry.png"), full_page=True)
    assert not errors, errors


async def open_question_in_page(page: Any, node: RunningNode, question: str) -> None:
    await register_in_page(page, node)
    await page.locator(f'[data-testid="question-item"][data-id="{question}"]').click()
    await expect_connected(page)


async def expect_connected(page: Any) -> None:
    from playwright.async_api import expect

    await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15_000)
    await expect(page.get_by_test_id("editor")).to_contain_text("def", timeout=15_000)


async def test_a_missed_renewal_costs_one_refresh_and_a_resume_not_the_login(
        quick_node: RunningNode, page: Any) -> None:
    """A tab whose timer never fired (backgrounded, asleep): the node closes its socket with
    4401 at expiry; the page refreshes once, reconnects and resumes with `since`."""
    from playwright.async_api import expect

    errors = watch_errors(page)
    joins: list[list[str]] = []
    closes: list[Any] = []

    def opened(ws: Any) -> None:
        joins.append(frames_of(ws, "session.join"))
        ws.on("close", lambda closed: closes.append(closed))

    page.on("websocket", opened)
    await open_question_in_page(page, quick_node, "valid-parentheses")
    await page.evaluate("() => window.wingman.editor.setValue(\"print('before expiry')\\n\")")
    await page.get_by_test_id("run-button").click()
    await expect(page.get_by_test_id("output")).to_contain_text("before expiry", timeout=20_000)
    await page.evaluate("() => window.wingman.keeper.stop()")
    expiry = int(await page.evaluate("() => sessionStorage.getItem('wingman.expires_at')"))

    async with page.expect_response(lambda r: r.url.endswith("/auth/refresh"),
                                    timeout=(expiry - time.time() + 10) * 1000) as refreshed:
        pass
    assert (await refreshed.value).status == 200
    await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15_000)
    assert len(closes) == 1, closes
    # Two sockets, one join each; the second resumes from where the first left off.
    assert [len(j) for j in joins] == [1, 1] and '"since"' in joins[1][0], joins
    await expect(page.locator("#view-login")).to_be_hidden()
    await expect(page.get_by_test_id("output")).to_contain_text("before expiry")
    await page.evaluate("() => window.wingman.editor.setValue(\"print('after expiry')\\n\")")
    await page.get_by_test_id("run-button").click()
    await expect(page.get_by_test_id("output")).to_contain_text("after expiry", timeout=20_000)
    assert not errors, errors


async def test_a_refused_refresh_signs_out_with_a_message(
        quick_node: RunningNode, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    await open_question_in_page(page, quick_node, "two-sum")
    await page.context.clear_cookies()  # as if the refresh cookie expired or was revoked
    async with page.expect_response(lambda r: r.url.endswith("/auth/refresh"),
                                    timeout=QUICK_TOKEN_SECONDS * 1000) as refreshed:
        pass
    assert (await refreshed.value).status == 401
    await expect(page.locator("#view-login")).to_be_visible(timeout=5_000)
    await expect(page.get_by_test_id("login-error")).to_contain_text("Please sign in again")
    await expect(page.get_by_test_id("account-button")).to_be_hidden()
    await page.screenshot(path=str(artifacts / "auth-refresh-refused.png"))


async def test_tabs_refreshing_at_once_do_not_trip_reuse_detection(
        node: RunningNode, page: Any) -> None:
    """Tabs share the rotating cookie; their refreshes take turns (a Web Lock), so none
    presents a cookie another tab has just rotated, and the family is never revoked."""
    from playwright.async_api import expect

    await register_in_page(page, node)
    await expect(page.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    other = await page.context.new_page()
    await other.goto(node.url + "/")
    await expect(other.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    answers: list[int] = []

    def answered(response: Any) -> None:
        if response.url.endswith("/auth/refresh"):
            answers.append(response.status)

    for tab in (page, other):
        tab.on("response", answered)
    refresh = """() => Promise.all([window.wingman.keeper.refreshNow(),
                                 window.wingman.keeper.refreshNow()])"""
    for _ in range(4):
        await asyncio.gather(page.evaluate(refresh), other.evaluate(refresh))
    assert answers == [200] * 8, answers
    third = await page.context.new_page()
    await third.goto(node.url + "/")
    await expect(third.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    for tab in (page, other, third):
        await expect(tab.get_by_test_id("status")).to_have_text("connected", timeout=15_000)


async def test_signing_out_everywhere_sends_another_browser_to_the_login_form(
        node: RunningNode, browser: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    account = await register(node, name="Lin")
    here = await (await browser.new_context()).new_page()
    there = await (await browser.new_context()).new_page()
    errors = watch_errors(here) + watch_errors(there)
    closed: list[int | None] = []
    there.on("websocket", lambda ws: ws.on("close", lambda _ws: closed.append(1)))
    for page in (here, there):
        await log_in_page(page, node, account.email, account.password)
        await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15_000)
    await there.locator('[data-testid="question-item"][data-id="two-sum"]').click()
    await expect(there.get_by_test_id("editor")).to_contain_text("def two_sum", timeout=15_000)

    await here.get_by_test_id("account-button").click()
    await here.screenshot(path=str(artifacts / "auth-account-menu.png"))
    async with here.expect_response(lambda r: r.url.endswith("/auth/logout")) as out:
        await here.get_by_test_id("logout-everywhere").click()
    answer = await out.value
    assert answer.status == 200
    assert answer.request.headers.get("authorization", "").startswith("Bearer ")
    assert answer.request.post_data_json == {"everywhere": True}
    await expect(here.locator("#view-login")).to_be_visible(timeout=5_000)
    await expect(here.get_by_test_id("login-error")).to_contain_text("signed out everywhere")

    # The other browser's socket is closed by the server (4401); its refresh is refused.
    await expect(there.locator("#view-login")).to_be_visible(timeout=10_000)
    await expect(there.get_by_test_id("login-error")).to_contain_text("signed out everywhere")
    assert closed, "the other page's socket was not closed"
    await there.screenshot(path=str(artifacts / "auth-signed-out-everywhere.png"))
    await there.reload()
    await expect(there.locator("#view-login")).to_be_visible(timeout=15_000)
    assert not errors, errors
