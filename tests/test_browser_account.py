"""The learner page's account features in a real headless Chromium (Debian's), driven by
Playwright, against a real node that mails a real local SMTP server: a forgotten password reset
through the mailed link, the banner asking to verify the email, the "Your data" panel (consent
withdrawn erases, a download of everything kept, deleting the account), and signing in with an
OpenID provider on a first visit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client import Account, open_client, register
from tests.components import RunningNode, free_port, running_node
from tests.mailbox import Mailbox
from tests.oidc_provider import Person, Provider, running_provider

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def mail_node(database_url: str, mailbox: Mailbox,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("browser-account"),
                      SMTP_URL=mailbox.url) as running:
        yield running


def watch_errors(page: Any) -> list[str]:
    """Script errors, and anything the page's strict CSP blocked (the download included)."""
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    def blocked(message: Any) -> None:
        if "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", blocked)
    return errors


async def log_in(page: Any, node: RunningNode, email: str, password: str) -> None:
    await page.goto(node.url + "/")
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def open_panel(page: Any) -> Any:
    from playwright.async_api import expect

    await page.get_by_test_id("account-button").click()
    await page.get_by_test_id("your-data").click()
    panel = page.get_by_test_id("account-panel")
    await expect(panel).to_be_visible()
    return panel


async def test_a_forgotten_password_is_reset_through_the_mailed_link(
        mail_node: RunningNode, mailbox: Mailbox, page: Any, browser: Any,
        artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    account = await register(mail_node)
    await mailbox.wait_for(account.email)  # the verification mail
    await page.goto(mail_node.url + "/")
    # No provider is configured on this node: no "Continue with" buttons.
    await expect(page.locator("#oauth")).to_be_hidden()
    await page.get_by_test_id("forgot-link").click()
    await page.get_by_test_id("forgot-email").fill(account.email)
    await page.get_by_test_id("forgot-submit").click()
    await expect(page.get_by_test_id("forgot-note")).to_have_text(
        "If an account exists for that address, we sent a link.")
    await page.screenshot(path=str(artifacts / "account-forgot-sent.png"))

    mail = (await mailbox.wait_for(account.email, 2))[-1]
    assert mail.message["Subject"] == "Reset your SocraticWingman password"
    link = mail.link()
    assert link.startswith(f"{mail_node.url}/#reset=")

    await page.goto(link)
    await expect(page.locator("#reset-form")).to_be_visible()
    await expect(page.locator("#login-form")).to_be_hidden()
    await page.get_by_test_id("reset-password").fill("short")
    await page.get_by_test_id("reset-submit").click()
    await expect(page.get_by_test_id("reset-error")).to_be_visible()  # weak: try again
    new_password = "a brand new passphrase"
    await page.get_by_test_id("reset-password").fill(new_password)
    await page.screenshot(path=str(artifacts / "account-reset-form.png"))
    async with page.expect_response(lambda r: r.url.endswith("/auth/password/reset")) as done:
        await page.get_by_test_id("reset-submit").click()
    assert (await done.value).status == 200
    await expect(page.get_by_test_id("login-note")).to_have_text(
        "Password changed, please sign in.")
    await expect(page.locator("#login-form")).to_be_visible()
    assert "#reset=" not in page.url
    await page.screenshot(path=str(artifacts / "account-reset-done.png"))

    # The old password is refused, the new one works.
    await page.get_by_test_id("login-email").fill(account.email)
    await page.get_by_test_id("login-password").fill(account.password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    await page.get_by_test_id("login-password").fill(new_password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    # Reading the mail proved the address: no banner.
    await expect(page.get_by_test_id("verify-banner")).to_be_hidden()

    # The link works once: opened again, the page says so and offers a new one.
    fresh = await (await browser.new_context()).new_page()
    await fresh.goto(link)
    await fresh.get_by_test_id("reset-password").fill("yet another passphrase")
    await fresh.get_by_test_id("reset-submit").click()
    await expect(fresh.get_by_test_id("reset-error")).to_contain_text("used already")
    await expect(fresh.get_by_test_id("reset-again")).to_be_visible()
    await fresh.screenshot(path=str(artifacts / "account-reset-used.png"))
    await fresh.get_by_test_id("reset-again").click()
    await expect(fresh.locator("#forgot-form")).to_be_visible()
    assert not errors, errors


async def test_the_verify_banner_shows_until_the_email_is_verified(
        mail_node: RunningNode, mailbox: Mailbox, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    account = await register(mail_node)
    [first] = await mailbox.wait_for(account.email)
    await log_in(page, mail_node, account.email, account.password)
    banner = page.get_by_test_id("verify-banner")
    await expect(banner).to_be_visible(timeout=15_000)
    await expect(banner).to_contain_text("Please verify your email")
    async with page.expect_response(lambda r: r.url.endswith("/auth/verify/resend")) as sent:
        await page.get_by_test_id("verify-resend").click()
    assert (await sent.value).status == 202
    await expect(page.get_by_test_id("verify-status")).to_have_text("Sent")
    await expect(page.get_by_test_id("verify-resend")).to_be_disabled()
    await page.screenshot(path=str(artifacts / "account-verify-banner.png"))
    second = (await mailbox.wait_for(account.email, 2))[1]
    assert second.link() != first.link()

    # Verified elsewhere (the mail opened on a phone): asking again hides the banner.
    async with httpx.AsyncClient() as http:
        assert (await http.get(second.link())).status_code == 200
    await page.reload()
    await expect(banner).to_be_visible(timeout=15_000)
    async with page.expect_response(lambda r: r.url.endswith("/auth/verify/resend")) as again:
        await page.get_by_test_id("verify-resend").click()
    assert (await again.value).status == 409
    await expect(banner).to_be_hidden()
    assert not errors, errors


async def _session_with_a_run(node: RunningNode, account: Account) -> str:
    client = await open_client(node, account.token)
    sid = str((await client.ok("session.create", question_id="two-sum"))["sid"])
    await client.ok("session.join", sid=sid, role="learner")
    run_id = (await client.ok("code.run", sid=sid, mode="run", code="print('mine')"))["run_id"]
    await client.until("run.finished", run_id=run_id)
    await client.ok("session.end", sid=sid)
    return sid


async def test_the_data_panel_downloads_everything_and_withdrawing_consent_erases(
        mail_node: RunningNode, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    account = await register(mail_node, consent=True)
    sid = await _session_with_a_run(mail_node, account)
    await log_in(page, mail_node, account.email, account.password)
    await expect(page.get_by_test_id("session-item").first).to_be_visible(timeout=15_000)

    panel = await open_panel(page)
    toggle = page.get_by_test_id("consent-toggle")
    await expect(panel).to_contain_text(account.email)
    await expect(toggle).to_be_checked()
    await expect(toggle).to_be_enabled()

    async with page.expect_download() as downloading:
        await page.get_by_test_id("export-data").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".json")
    saved = artifacts / "account-export.json"
    await download.save_as(str(saved))
    exported = json.loads(saved.read_text())
    assert exported["account"]["email"] == account.email
    assert [s["sid"] for s in exported["sessions"]] == [sid]
    assert exported["sessions"][0]["events"]

    # Unticking asks first and erases nothing yet.
    await toggle.click()
    await expect(page.get_by_test_id("consent-confirm")).to_be_visible()
    await expect(panel).to_contain_text("will be erased now")
    await expect(toggle).to_be_checked()
    await page.screenshot(path=str(artifacts / "account-consent-confirm.png"))
    await page.get_by_test_id("consent-cancel").click()
    await expect(page.get_by_test_id("consent-confirm")).to_be_hidden()
    await expect(toggle).to_be_checked()

    await toggle.click()
    async with page.expect_response(lambda r: r.url.endswith("/api/me")) as changed:
        await page.get_by_test_id("consent-confirm").click()
    answer = await (await changed.value).json()
    assert answer["consent"] is False and answer["erased"]["sessions"] == 1
    events = answer["erased"]["events"]
    assert events > 0
    await expect(page.get_by_test_id("account-status")).to_contain_text(
        f"erased 1 session and {events} events")
    await expect(toggle).not_to_be_checked()
    await page.screenshot(path=str(artifacts / "account-consent-withdrawn.png"))

    # Reopened, the panel shows what the server keeps: no consent. Given again, it says so.
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await open_panel(page)
    await expect(toggle).not_to_be_checked()
    await toggle.check()
    await expect(page.get_by_test_id("account-status")).to_contain_text("kept from now on")
    await expect(toggle).to_be_checked()
    assert not errors, errors


async def test_deleting_the_account_signs_out_for_good(
        mail_node: RunningNode, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    errors = watch_errors(page)
    account = await register(mail_node)
    await log_in(page, mail_node, account.email, account.password)
    await expect(page.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    await open_panel(page)
    await page.get_by_test_id("delete-account").click()
    confirm = page.get_by_test_id("delete-confirm")
    await expect(confirm).to_be_disabled()
    await page.get_by_test_id("delete-confirm-text").fill("delete")
    await expect(confirm).to_be_disabled()
    await page.get_by_test_id("delete-confirm-text").fill("DELETE")
    await expect(confirm).to_be_enabled()
    await page.screenshot(path=str(artifacts / "account-delete-confirm.png"))
    async with page.expect_response(lambda r: r.url.endswith("/api/me")) as deleted:
        await confirm.click()
    assert (await deleted.value).status == 200
    await expect(page.locator("#view-login")).to_be_visible()
    await expect(page.get_by_test_id("login-note")).to_have_text(
        "Your account and its data were deleted.")
    await expect(page.get_by_test_id("account-panel")).to_be_hidden()
    await expect(page.get_by_test_id("login-error")).to_be_hidden()
    await page.screenshot(path=str(artifacts / "account-deleted.png"))

    # Nothing signs the browser back in, and the password no longer works.
    await page.reload()
    await expect(page.locator("#view-login")).to_be_visible(timeout=15_000)
    await page.get_by_test_id("login-email").fill(account.email)
    await page.get_by_test_id("login-password").fill(account.password)
    async with page.expect_response(lambda r: r.url.endswith("/auth/login")) as refused:
        await page.get_by_test_id("login-submit").click()
    assert (await refused.value).status == 401
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    assert not errors, errors


@pytest.fixture(scope="module")
def oauth_node(database_url: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, Provider]]:
    port = free_port()
    with running_provider() as provider:
        discovery = f"{provider.issuer}/.well-known/openid-configuration"
        provider.add_client("google-client", "google-secret",
                            f"http://127.0.0.1:{port}/auth/oauth/google/callback")
        with running_node(database_url, tmp_path_factory.mktemp("browser-oauth"), port=port,
                          GOOGLE_CLIENT_ID="google-client", GOOGLE_CLIENT_SECRET="google-secret",
                          GOOGLE_DISCOVERY_URL=discovery) as node:
            yield node, provider


async def test_continue_with_a_provider_signs_in_on_a_first_visit(
        oauth_node: tuple[RunningNode, Provider], page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    node, provider = oauth_node
    errors = watch_errors(page)
    provider.person = Person(f"sub-{uuid.uuid4().hex}",
                             f"oauth-{uuid.uuid4().hex[:10]}@example.org", True)
    await page.goto(node.url + "/")
    google = page.get_by_test_id("oauth-google")
    await expect(google).to_have_text("Continue with Google")
    await expect(page.get_by_test_id("oauth-linkedin")).to_have_count(0)
    await page.screenshot(path=str(artifacts / "account-oauth-buttons.png"))
    # A first visit: nothing says this browser ever signed in.
    assert await page.evaluate("() => localStorage.getItem('wingman.maybe_signed_in')") is None

    async with page.expect_response(lambda r: r.url.endswith("/auth/refresh")) as refreshed:
        await google.click()
    assert (await refreshed.value).status == 200
    await expect(page.get_by_test_id("question-item").first).to_be_visible(timeout=15_000)
    await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15_000)
    # The provider said the email is verified: no banner.
    await expect(page.get_by_test_id("verify-banner")).to_be_hidden()
    assert not errors, errors
