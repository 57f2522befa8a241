"""Email verification and password reset over real SMTP: the node mails a real local SMTP server
(aiosmtpd), and the links in what arrives are followed as a learner would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from tests.client import Account, open_client, register
from tests.components import RunningNode, running_node
from tests.mailbox import Mailbox


@pytest.fixture(scope="module")
def mail_node(database_url: str, mailbox: Mailbox,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("mail"),
                      SMTP_URL=mailbox.url) as running:
        yield running


@pytest.fixture(scope="module")
def hasty_node(database_url: str, mailbox: Mailbox,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """Links that expire after a second."""
    with running_node(database_url, tmp_path_factory.mktemp("hasty"), SMTP_URL=mailbox.url,
                      VERIFY_TOKEN_SECONDS="1", RESET_TOKEN_SECONDS="1") as running:
        yield running


async def post(node: RunningNode, path: str, body: object = None, token: str | None = None,
               cookie: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["Cookie"] = f"wingman_refresh={cookie}"
    async with httpx.AsyncClient(base_url=node.url) as http:
        return await http.post(path, json=body, headers=headers)


async def login(node: RunningNode, email: str, password: str) -> httpx.Response:
    return await post(node, "/auth/login", {"email": email, "password": password})


async def follow(link: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(link)


def reset_token(link: str) -> str:
    fragment = urlsplit(link).fragment
    assert fragment.startswith("reset="), link
    return fragment.removeprefix("reset=")


async def forgot_and_receive(node: RunningNode, mailbox: Mailbox, account: Account) -> str:
    """Ask for a reset link for the account; the token in the mail that arrives."""
    before = len(mailbox.to(account.email))
    answer = await post(node, "/auth/password/forgot", {"email": account.email.upper()})
    assert answer.status_code == 202
    mail = (await mailbox.wait_for(account.email, before + 1))[-1]
    assert mail.message["Subject"] == "Reset your SocraticWingman password"
    link = mail.link()
    assert link.startswith(f"{node.url}/#reset=")
    return reset_token(link)


async def test_registering_mails_a_verify_link_that_works_once(
        mail_node: RunningNode, mailbox: Mailbox) -> None:
    account = await register(mail_node)
    [mail] = await mailbox.wait_for(account.email)
    assert mail.to == (account.email,)
    assert mail.message["To"] == account.email
    link = mail.link()
    assert link.startswith(f"{mail_node.url}/auth/verify?token=")
    unverified = await login(mail_node, account.email, account.password)
    assert unverified.json()["user"]["email_verified"] is False

    followed = await follow(link)
    assert followed.status_code == 200
    assert "text/html" in followed.headers["content-type"]
    assert "Email verified" in followed.text
    verified = await login(mail_node, account.email, account.password)
    assert verified.json()["user"]["email_verified"] is True

    again = await follow(link)
    assert again.status_code == 400 and "used already" in again.text
    tampered = await follow(link[:-4] + "AAAA")
    assert tampered.status_code == 400 and "not valid" in tampered.text


async def test_resend_mails_a_new_link_until_verified(
        mail_node: RunningNode, mailbox: Mailbox) -> None:
    account = await register(mail_node)
    [first] = await mailbox.wait_for(account.email)
    assert (await post(mail_node, "/auth/verify/resend")).status_code == 401
    resent = await post(mail_node, "/auth/verify/resend", token=account.token)
    assert resent.status_code == 202
    second = (await mailbox.wait_for(account.email, 2))[1]
    assert second.link() != first.link()
    assert (await follow(second.link())).status_code == 200
    # One link verified the address: the other one is spent with it.
    assert (await follow(first.link())).status_code == 400
    done = await post(mail_node, "/auth/verify/resend", token=account.token)
    assert done.status_code == 409


async def test_forgot_password_answers_alike_and_mails_only_real_accounts(
        mail_node: RunningNode, mailbox: Mailbox) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    unknown = await post(mail_node, "/auth/password/forgot", {"email": nobody})
    account = await register(mail_node)
    await mailbox.wait_for(account.email)
    known = await post(mail_node, "/auth/password/forgot", {"email": account.email})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert len(await mailbox.wait_for(account.email, 2)) == 2
    await anyio.sleep(0.5)
    assert mailbox.to(nobody) == []


async def test_reset_sets_the_password_and_signs_out_everywhere(
        mail_node: RunningNode, mailbox: Mailbox) -> None:
    account = await register(mail_node)
    await mailbox.wait_for(account.email)
    signed_in = await login(mail_node, account.email, account.password)
    cookie = signed_in.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    socket = await open_client(mail_node, account.token)
    token = await forgot_and_receive(mail_node, mailbox, account)

    weak = await post(mail_node, "/auth/password/reset", {"token": token, "password": "short"})
    assert weak.status_code == 400 and weak.json()["error"]["field"] == "password"
    new_password = "a brand new passphrase"
    done = await post(mail_node, "/auth/password/reset",
                      {"token": token, "password": new_password})
    assert done.status_code == 200, done.text

    began = time.monotonic()
    assert await socket.close_code(within=5) == 4401
    assert time.monotonic() - began < 5
    assert (await post(mail_node, "/auth/refresh", cookie=cookie)).status_code == 401
    assert (await login(mail_node, account.email, account.password)).status_code == 401
    fresh = await login(mail_node, account.email, new_password)
    assert fresh.status_code == 200
    # Reading the reset mail proved the address too.
    assert fresh.json()["user"]["email_verified"] is True
    again = await open_client(mail_node, fresh.json()["access_token"])
    assert "ts" in await again.ok("ping")

    reused = await post(mail_node, "/auth/password/reset",
                        {"token": token, "password": "yet another passphrase"})
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "bad_request"
    assert "used already" in reused.json()["error"]["message"]
    unknown = await post(mail_node, "/auth/password/reset",
                         {"token": "not-a-token", "password": "yet another passphrase"})
    assert unknown.status_code == 400 and "not valid" in unknown.json()["error"]["message"]


async def test_expired_links_are_refused(hasty_node: RunningNode, mailbox: Mailbox) -> None:
    account = await register(hasty_node)
    [verify_mail] = await mailbox.wait_for(account.email)
    token = await forgot_and_receive(hasty_node, mailbox, account)
    await anyio.sleep(1.5)
    expired = await post(hasty_node, "/auth/password/reset",
                         {"token": token, "password": "a brand new passphrase"})
    assert expired.status_code == 400 and "expired" in expired.json()["error"]["message"]
    assert (await login(hasty_node, account.email, account.password)).status_code == 200
    page = await follow(verify_mail.link())
    assert page.status_code == 400 and "expired" in page.text


async def test_the_log_never_holds_addresses_or_tokens(
        mail_node: RunningNode, hasty_node: RunningNode, mailbox: Mailbox) -> None:
    account = await register(mail_node)
    [verify_mail] = await mailbox.wait_for(account.email)
    await follow(verify_mail.link())
    token = await forgot_and_receive(mail_node, mailbox, account)
    await post(mail_node, "/auth/password/reset", {"token": token, "password": "passphrase two"})
    secrets: set[str] = set()
    for mail in mailbox.messages:
        secrets.update(mail.to)
        link = urlsplit(mail.link())
        secrets.update(parse_qs(link.query).get("token", []))
        if link.fragment:
            secrets.add(reset_token(mail.link()))
    assert account.email in secrets and token in secrets
    for node in (mail_node, hasty_node):
        log = node.log.read_text()
        assert "sent a mail to user" in log
        leaked = [s for s in secrets if s in log]
        assert leaked == [], f"{node.log} holds {len(leaked)} addresses or tokens"


async def test_without_smtp_the_log_says_mail_is_not_configured(node: RunningNode) -> None:
    account = await register(node)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in node.log.read_text().splitlines() if account.user in line]
        if lines:
            break
        await anyio.sleep(0.05)
    assert lines and all("mail is not configured" in line for line in lines), lines
    assert account.email not in node.log.read_text()
