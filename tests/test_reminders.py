"""Reminders of due reviews against a real node, a real SMTP server (aiosmtpd) and a clock the
test moves (REMINDER_CLOCK_FILE): the mail comes at the learner's chosen local time, once that
local day; none to a learner who turned email reminders off, whose open socket gets the in-app
notification instead; none to a learner whose local time has not come."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest

from tests.client import Account, http_get, open_client, register
from tests.components import RunningNode, running_node
from tests.mailbox import Mailbox

SUBJECT = "You have 1 review due on SocraticWingman"


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clock") / "now"


@pytest.fixture(scope="module")
def reminding_node(database_url: str, mailbox: Mailbox, clock_file: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("reminders"), SMTP_URL=mailbox.url,
                      REMINDER_CLOCK_FILE=str(clock_file), REMINDER_CHECK_SECONDS="0.2",
                      REMINDER_WINDOW_MINUTES="60") as running:
        yield running


async def put_profile(node: RunningNode, token: str, **fields: Any) -> None:
    async with httpx.AsyncClient(base_url=node.url) as http:
        answer = await http.put("/api/me/profile", json=fields,
                                headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


async def learner_with_a_review(node: RunningNode, mailbox: Mailbox, name: str,
                                **profile: Any) -> tuple[Account, datetime]:
    """A consenting learner with a verified address and one review item (a session on Two Sum
    where they took a hint and gave up); when that review falls due."""
    account = await register(node, name=name)
    async with httpx.AsyncClient() as http:
        verified = await http.get((await mailbox.wait_for(account.email))[0].link())
    assert verified.status_code < 400
    await put_profile(node, account.token, **profile)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    await client.ok("hint.request", sid=sid)
    await client.ok("session.end", sid=sid)
    await client.close()
    for _ in range(100):
        reviews = (await http_get(node, "/api/me/reviews", account.token)).json()["reviews"]
        if reviews:
            return account, datetime.fromisoformat(reviews[0]["due_at"])
        await anyio.sleep(0.1)
    raise AssertionError("the ended session made no review item")


def at(day: datetime, clock: time, zone: str, minutes: float = 0) -> datetime:
    when = datetime.combine(day.astimezone(ZoneInfo(zone)).date(), clock, ZoneInfo(zone))
    return when + timedelta(minutes=minutes)


async def set_clock(clock_file: Path, now: datetime, settle: float = 1.5) -> None:
    """Move the node's reminder clock, then give its job a few passes."""
    # Written aside and renamed, so the node never reads half an instant.
    aside = anyio.Path(clock_file.with_suffix(".new"))
    await aside.write_text(now.isoformat())
    await aside.replace(clock_file)
    await anyio.sleep(settle)


async def test_the_reminder_comes_at_the_local_time_once_and_only_to_who_wants_it(
        reminding_node: RunningNode, mailbox: Mailbox, clock_file: Path) -> None:
    node = reminding_node
    kolkata, paris = "Asia/Kolkata", "Europe/Paris"
    asha, due_a = await learner_with_a_review(
        node, mailbox, "Asha", reminder_time="08:00", time_zone=kolkata)
    bo, due_b = await learner_with_a_review(
        node, mailbox, "Bo", reminder_time="08:00", time_zone=kolkata, email_reminders=False)
    camille, due_c = await learner_with_a_review(
        node, mailbox, "Camille", reminder_time="08:00", time_zone=paris)
    bo_online = await open_client(node, bo.token)
    # A day on which all three reviews are due, in every zone.
    day = max(due_a, due_b, due_c) + timedelta(days=1)

    # A minute before 08:00 in Kolkata (02:29 UTC): nothing yet.
    await set_clock(clock_file, at(day, time(8), kolkata, -1))
    assert not mailbox.to(asha.email)[1:]
    # Past 08:00 in Kolkata: Asha's mail arrives.
    await set_clock(clock_file, at(day, time(8), kolkata, 1), settle=0)
    [_, mail] = await mailbox.wait_for(asha.email, 2)
    assert mail.message["Subject"] == SUBJECT
    assert "Two Sum" in mail.text and f"{node.url}/#/progress" in mail.text
    assert "Hello Asha" in mail.text

    # Bo turned email reminders off: no mail, but his open socket is told in the app.
    note = await bo_online.next_notification()
    assert note["data"]["kind"] == "reviews.due"
    assert note["data"]["data"]["due"] == 1 and note["data"]["data"]["titles"] == ["Two Sum"]
    # It is 03:31 in Paris: Camille gets nothing yet.
    await anyio.sleep(1.5)
    assert len(mailbox.to(bo.email)) == 1  # only the verification mail
    assert len(mailbox.to(camille.email)) == 1

    # Later the same local day: still one reminder each.
    await set_clock(clock_file, at(day, time(8), kolkata, 30))
    assert len(mailbox.to(asha.email)) == 2

    # 08:00 in Paris: Camille's turn, on her local time.
    await set_clock(clock_file, at(day, time(8), paris, 2), settle=0)
    [_, mail] = await mailbox.wait_for(camille.email, 2)
    assert mail.message["Subject"] == SUBJECT
    assert len(mailbox.to(asha.email)) == 2 and len(mailbox.to(bo.email)) == 1

    # The next local day, the next reminder (the review is still due).
    await set_clock(clock_file, at(day + timedelta(days=1), time(8), kolkata, 1), settle=0)
    await mailbox.wait_for(asha.email, 3)
    assert len(mailbox.to(bo.email)) == 1

    # What was sent is in the learner's export.
    exported = (await http_get(node, "/api/me/export", asha.token)).json()
    assert [r["due"] for r in exported["reminders"]] == [1, 1]
    kinds = [n["kind"] for n in exported["notifications"]]
    assert kinds == ["reviews.due", "reviews.due"]
    # Counted: Asha's two reminders and Camille's one; five in the app (Asha and Bo twice).
    metrics = (await http_get(node, "/metrics")).text
    assert 'wingman_reminders_total{channel="mail",outcome="sent"} 3.0' in metrics
    assert 'wingman_reminders_total{channel="app",outcome="sent"} 5.0' in metrics


async def test_no_reminder_for_a_learner_with_reminders_off(
        reminding_node: RunningNode, mailbox: Mailbox, clock_file: Path) -> None:
    node = reminding_node
    dora, due = await learner_with_a_review(
        node, mailbox, "Dora", reminder_time="09:00", time_zone="UTC", email_reminders=False,
        app_notifications=False)
    online = await open_client(node, dora.token)
    day = due + timedelta(days=1)
    for minutes in (1, 20, 40):
        await set_clock(clock_file, at(day, time(9), "UTC", minutes))
    assert len(mailbox.to(dora.email)) == 1  # only the verification mail
    await online.ok("ping")
    assert not [f for f in online.frames if f.get("type") == "notification"]
    listed = (await http_get(node, "/api/me/notifications", dora.token)).json()
    assert listed == {"unread": 0, "notifications": []}


async def test_two_nodes_send_one_reminder(reminding_node: RunningNode, database_url: str,
                                           mailbox: Mailbox, clock_file: Path,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_node(database_url, tmp_path_factory.mktemp("reminders-2"), SMTP_URL=mailbox.url,
                      REMINDER_CLOCK_FILE=str(clock_file), REMINDER_CHECK_SECONDS="0.1",
                      REMINDER_WINDOW_MINUTES="60") as other:
        emil, due = await learner_with_a_review(
            other, mailbox, "Emil", reminder_time="18:30", time_zone="America/Sao_Paulo")
        day = due + timedelta(days=1)
        # Both nodes look several times a second, through the whole window.
        for minutes in (1, 15, 30, 45):
            await set_clock(clock_file, at(day, time(18, 30), "America/Sao_Paulo", minutes))
        assert len(await mailbox.wait_for(emil.email, 2)) == 2
        await anyio.sleep(1)
        assert len(mailbox.to(emil.email)) == 2
        listed = (await http_get(reminding_node, "/api/me/notifications", emil.token)).json()
        assert [n["kind"] for n in listed["notifications"]] == ["reviews.due"]
