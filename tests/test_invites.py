"""Mentor invitations and notes over real sockets: a learner invites a mentor by email (who gets a
real mail), the mentor accepts and watches, writes notes public or private; revoking ends it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from server.settings import Settings
from server.tokens import TokenIssuer
from tests.client import Account, Client, grant_roles, open_client, register
from tests.components import TEST_KEYS, RunningNode, running_node
from tests.mailbox import Mailbox

MOST = 2


@pytest.fixture(scope="module")
def invite_node(database_url: str, mailbox: Mailbox,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A node that mails, with a small observer cap so reaching it takes few mentors."""
    with running_node(database_url, tmp_path_factory.mktemp("invites"), SMTP_URL=mailbox.url,
                      MAX_OBSERVERS=str(MOST)) as running:
        yield running


async def make_mentor(node: RunningNode, database_url: str, name: str) -> Account:
    """An account with the mentor role, its token carrying it."""
    return await grant_roles(node, database_url, await register(node, name=name),
                             ["learner", "mentor"])


@pytest.fixture(scope="module")
async def mentors(invite_node: RunningNode, database_url: str) -> dict[str, Account]:
    return {name: await make_mentor(invite_node, database_url, name)
            for name in ("Mia Mentor", "Max Mentor", "Mo Mentor")}


async def learner_session(node: RunningNode, consent: bool = True,
                          name: str = "Ada") -> tuple[Account, Client, str]:
    account = await register(node, consent=consent, name=name)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    return account, client, sid


async def watching(node: RunningNode, learner: Client, sid: str, mentor: Account,
                   invisible: bool = False) -> tuple[Client, str]:
    """The mentor invited, accepted and joined as an observer."""
    invite = (await learner.ok("mentor.invite", sid=sid, mentor=mentor.email,
                               invisible=invisible))["invite"]
    client = await open_client(node, mentor.token)
    await client.ok("mentor.invite.accept", invite=invite)
    await client.ok("session.join", sid=sid, role="observer")
    return client, invite


def error(answer: dict[str, Any]) -> dict[str, Any]:
    assert not answer["ok"], answer
    body: dict[str, Any] = answer["error"]
    return body


async def notification(client: Client, kind: str, within: float = 10.0) -> dict[str, Any]:
    """The first notification of `kind` (the invitation itself is one too, kept for the page)."""
    with anyio.fail_after(within):
        while True:
            for frame in client.frames:
                if frame.get("type") == "notification" and frame["data"].get("kind") == kind:
                    return frame
            await client.receive(within)


async def test_invited_mentor_is_mailed_accepts_and_watches(
        invite_node: RunningNode, mentors: dict[str, Account], mailbox: Mailbox) -> None:
    mia = mentors["Mia Mentor"]
    learner, owner, sid = await learner_session(invite_node, name="Zephyrine Learner")
    invite = (await owner.ok("mentor.invite", sid=sid, mentor=mia.email.upper()))["invite"]

    # Registration mailed a verify link first; the invitation comes second.
    mail = (await mailbox.wait_for(mia.email, count=2))[-1]
    assert mail.message["Subject"] == "You are invited to watch a SocraticWingman session"
    assert "Zephyrine Learner" in mail.text and "Two Sum" in mail.text
    assert mail.text.startswith("Hello Mia Mentor")

    spectator = await open_client(invite_node, mia.token)
    listed = (await spectator.ok("mentor.invites"))["invites"]
    mine = next(i for i in listed if i["invite"] == invite)
    assert mine["sid"] == sid and mine["live"] and not mine["accepted"]
    assert mine["question"] == {"id": "two-sum", "title": "Two Sum"}
    assert mine["learner"] == {"id": learner.user, "name": "Zephyrine Learner"}
    # Invited is not yet accepted.
    assert error(await spectator.request("session.join", sid=sid, role="observer"))["code"] == \
        "forbidden"

    assert (await spectator.ok("mentor.invite.accept", invite=invite)) == {
        "invite": invite, "sid": sid}
    joined = await spectator.ok("session.join", sid=sid, role="observer")
    assert joined["snapshot"]["question"]["id"] == "two-sum"
    await owner.until("presence.join", user=mia.user, role="observer")

    await owner.ok("code.update", sid=sid, code="def two_sum(nums, target):\n    pass\n")
    seen = await spectator.until("code.updated", code="def two_sum(nums, target):\n    pass\n")
    assert seen["by"]["user"] == learner.user

    await spectator.ok("mentor.note", sid=sid, text="What does the loop compare?")
    note = await owner.until("mentor.note", text="What does the loop compare?")
    assert note["data"]["private"] is False and note["by"] == {"user": mia.user,
                                                               "role": "observer"}

    sent = (await owner.ok("mentor.invites", sid=sid))["invites"]
    assert [(i["invite"], i["mentor"]["name"], i["accepted"]) for i in sent] == [
        (invite, "Mia Mentor", True)]
    log = invite_node.log.read_text()
    assert mia.email not in log and "Zephyrine" not in log


async def test_uninvited_mentor_and_strangers_are_refused(
        invite_node: RunningNode, mentors: dict[str, Account]) -> None:
    mia, max_ = mentors["Mia Mentor"], mentors["Max Mentor"]
    _, owner, sid = await learner_session(invite_node)
    await watching(invite_node, owner, sid, mia)
    intruder = await open_client(invite_node, max_.token)
    assert error(await intruder.request("session.join", sid=sid, role="observer"))["code"] == \
        "forbidden"
    assert error(await intruder.request("mentor.note", sid=sid, text="hi"))["code"] == \
        "forbidden"

    # No account and an account without the mentor role get one and the same answer.
    plain = await register(invite_node)
    nobody = error(await owner.request("mentor.invite", sid=sid,
                                       mentor=f"nobody-{uuid.uuid4().hex}@example.com"))
    learner_only = error(await owner.request("mentor.invite", sid=sid, mentor=plain.email))
    assert nobody == learner_only == {"code": "not_found", "field": "mentor",
                                      "message": "no mentor has that email address"}

    stranger = await open_client(invite_node, plain.token)
    assert error(await stranger.request("mentor.invite", sid=sid,
                                        mentor=max_.email))["code"] == "forbidden"
    assert error(await stranger.request("mentor.invites", sid=sid))["code"] == "forbidden"
    duplicate = error(await owner.request("mentor.invite", sid=sid, mentor=mia.email))
    assert duplicate["code"] == "conflict"


async def test_revoking_ends_the_watch_and_refuses_joins(
        invite_node: RunningNode, mentors: dict[str, Account]) -> None:
    mia = mentors["Mia Mentor"]
    _, owner, sid = await learner_session(invite_node)
    spectator, invite = await watching(invite_node, owner, sid, mia)
    await owner.until("presence.join", user=mia.user)

    assert await owner.ok("mentor.invite.revoke", invite=invite) == {}
    told = await notification(spectator, "mentor.invite.revoked")
    assert told["data"] == {"kind": "mentor.invite.revoked", "invite": invite, "sid": sid}
    await owner.until("presence.leave", user=mia.user, role="observer")

    update = await owner.ok("code.update", sid=sid, code="x = 1\n")
    await spectator.ok("ping")
    assert all(e["seq"] < update["seq"] for e in spectator.events)

    assert error(await spectator.request("session.join", sid=sid, role="observer"))["code"] == \
        "forbidden"
    assert error(await spectator.request("mentor.note", sid=sid, text="still here?"))["code"] == \
        "forbidden"
    assert error(await spectator.request("mentor.invite.accept", invite=invite))["code"] == \
        "conflict"
    listed = (await spectator.ok("mentor.invites"))["invites"]
    assert invite not in [i["invite"] for i in listed]


async def test_a_private_note_reaches_only_the_learner(
        invite_node: RunningNode, mentors: dict[str, Account]) -> None:
    mia, max_ = mentors["Mia Mentor"], mentors["Max Mentor"]
    _, owner, sid = await learner_session(invite_node)
    writer, _ = await watching(invite_node, owner, sid, mia)
    other, _ = await watching(invite_node, owner, sid, max_)

    sent = await writer.ok("mentor.note", sid=sid, text="Try a dict of seen values.",
                           private=True)
    full = await owner.until("mentor.note", text="Try a dict of seen values.")
    assert full["seq"] == sent["seq"] and full["data"]["private"] is True
    hidden = await other.until("mentor.note", redacted=True)
    assert hidden["seq"] == sent["seq"] and hidden["data"] == {"redacted": True}
    assert (await writer.until("mentor.note", private=True))["data"]["text"] == \
        "Try a dict of seen values."

    await other.ok("mentor.note", sid=sid, text="Nice test names.")
    assert (await writer.until("mentor.note", text="Nice test names."))["data"]["private"] is False


async def test_an_invisible_observer_emits_no_presence(
        invite_node: RunningNode, mentors: dict[str, Account]) -> None:
    mo = mentors["Mo Mentor"]
    # Sessions of learners who did not consent are not stored, and may be watched all the same.
    _, owner, sid = await learner_session(invite_node, consent=False)
    ghost, _ = await watching(invite_node, owner, sid, mo, invisible=True)
    await ghost.ok("ping")  # the join has finished on the server
    first = await owner.ok("code.update", sid=sid, code="a = 1\n")
    await ghost.until("code.updated", code="a = 1\n")
    await ghost.ok("session.leave", sid=sid)
    second = await owner.ok("code.update", sid=sid, code="a = 2\n")
    await owner.until("code.updated", code="a = 2\n")
    assert second["seq"] == first["seq"] + 1
    assert not [e for e in owner.events if e["kind"].startswith("presence.")
                and e["data"]["user"] == mo.user]


async def test_note_limits_and_fields(invite_node: RunningNode,
                                      mentors: dict[str, Account]) -> None:
    _, owner, sid = await learner_session(invite_node)
    spectator, _ = await watching(invite_node, owner, sid, mentors["Mia Mentor"])
    too_large = error(await spectator.request("mentor.note", sid=sid, text="é" * 2049))
    assert too_large == {"code": "too_large", "field": "text", "limit": 4096,
                         "message": "`text` is over its limit of 4096 bytes"}
    assert error(await spectator.request("mentor.note", sid=sid))["field"] == "text"
    assert error(await owner.request("mentor.invite", sid=sid))["field"] == "mentor"
    assert error(await owner.request("mentor.invite.accept"))["field"] == "invite"
    assert error(await owner.request("mentor.note", sid=sid, text="me too"))["code"] == \
        "forbidden"
    await spectator.ok("mentor.note", sid=sid, text="é" * 2048)


async def test_who_may_accept_and_revoke(invite_node: RunningNode,
                                         mentors: dict[str, Account]) -> None:
    mia, max_ = mentors["Mia Mentor"], mentors["Max Mentor"]
    _, owner, sid = await learner_session(invite_node)
    invite = (await owner.ok("mentor.invite", sid=sid, mentor=mia.email))["invite"]
    assert error(await owner.request("mentor.invite.accept", invite=invite))["code"] == \
        "forbidden"
    other = await open_client(invite_node, max_.token)
    assert error(await other.request("mentor.invite.accept", invite=invite))["code"] == \
        "forbidden"
    assert error(await other.request("mentor.invite.revoke", invite=invite))["code"] == \
        "forbidden"
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        assert error(await other.request("mentor.invite.revoke", invite=unknown))["code"] == \
            "not_found"
    # The mentor may decline by revoking.
    invited = await open_client(invite_node, mia.token)
    await invited.ok("mentor.invite.revoke", invite=invite)
    assert error(await invited.request("session.join", sid=sid, role="observer"))["code"] == \
        "forbidden"


async def test_at_most_max_observers_and_deleted_accounts_take_their_invites(
        invite_node: RunningNode, mentors: dict[str, Account]) -> None:
    learner, owner, sid = await learner_session(invite_node)
    first = (await owner.ok("mentor.invite", sid=sid, mentor=mentors["Mia Mentor"].email))
    await owner.ok("mentor.invite", sid=sid, mentor=mentors["Max Mentor"].email)
    full = error(await owner.request("mentor.invite", sid=sid, mentor=mentors["Mo Mentor"].email))
    assert full["code"] == "conflict" and full["limit"] == MOST
    await owner.ok("mentor.invite.revoke", invite=first["invite"])
    await owner.ok("mentor.invite", sid=sid, mentor=mentors["Mo Mentor"].email)

    mo = await open_client(invite_node, mentors["Mo Mentor"].token)
    assert sid in [i["sid"] for i in (await mo.ok("mentor.invites"))["invites"]]
    async with httpx.AsyncClient(base_url=invite_node.url) as http:
        deleted = await http.request("DELETE", "/api/me", json={"confirm": True},
                                     headers={"Authorization": f"Bearer {learner.token}"})
    assert deleted.status_code == 200
    assert sid not in [i["sid"] for i in (await mo.ok("mentor.invites"))["invites"]]


async def test_admins_observe_without_an_invitation(invite_node: RunningNode) -> None:
    _, owner, sid = await learner_session(invite_node)
    account = await register(invite_node, name="Root")
    settings = Settings()
    token = TokenIssuer(TEST_KEYS, settings.jwt_issuer, settings.jwt_audience, 600).issue(
        account.user, "Root", ["learner", "admin"])[0]
    admin = await open_client(invite_node, token)
    await admin.ok("session.join", sid=sid, role="observer")
    await owner.until("presence.join", user=account.user, role="admin")
    assert error(await admin.request("mentor.note", sid=sid, text="hi"))["code"] == "forbidden"


async def test_a_sessions_trace_is_read_by_its_learner_invited_mentors_and_admins(
        invite_node: RunningNode, mentors: dict[str, Account]) -> None:
    mia, max_ = mentors["Mia Mentor"], mentors["Max Mentor"]
    learner, owner, sid = await learner_session(invite_node)
    await watching(invite_node, owner, sid, mia)
    for i in range(6):
        await owner.ok("code.update", sid=sid, code=f"# {i}\n")
    await owner.ok("session.end", sid=sid)
    await owner.until("session.ended")
    last = max(e["seq"] for e in owner.events if e["sid"] == sid)
    account = await register(invite_node, name="Root")
    settings = Settings()
    admin = TokenIssuer(TEST_KEYS, settings.jwt_issuer, settings.jwt_audience, 600).issue(
        account.user, "Root", ["learner", "admin"])[0]

    async def pages(token: str) -> list[int] | int:
        """Every stored seq, two per page, or the refusal's status."""
        seqs: list[int] = []
        after: int | None = 0
        async with httpx.AsyncClient(base_url=invite_node.url) as http:
            while after is not None:
                answer = await http.get(f"/api/sessions/{sid}/trace?after={after}&limit=2",
                                        headers={"Authorization": f"Bearer {token}"})
                if answer.status_code != 200:
                    return answer.status_code
                body = answer.json()
                assert body["question_id"] == "two-sum" and body["ended_at"]
                seqs += [e["seq"] for e in body["events"]]
                after = body["next_after"]
        return seqs

    with anyio.fail_after(20):  # the trace writer stores within about 100 ms
        while True:
            seen = await pages(learner.token)
            if isinstance(seen, list) and seen and seen[-1] >= last:
                break
            await anyio.sleep(0.2)
    assert seen == list(range(1, last + 1))
    assert await pages(mia.token) == seen
    assert await pages(admin) == seen
    assert await pages(max_.token) == 403  # a mentor not invited to it
    assert await pages((await register(invite_node)).token) == 403
