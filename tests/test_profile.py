"""A learner's profile and preferences over HTTP against a real node (validated, the goal sealed at
rest, in the export), and in-app notifications delivered live over /ws to a user online on
another node, kept until read, and not made at all for someone who turned them off."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import asyncpg
import httpx
import pytest

from tests.client import Account, grant_roles, http_get, open_client, register
from tests.components import RunningNode, running_node


async def put_profile(node: RunningNode, token: str, **fields: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=node.url) as http:
        return await http.put("/api/me/profile", json=fields,
                              headers={"Authorization": f"Bearer {token}"})


async def test_a_new_learner_has_the_default_profile(node: RunningNode) -> None:
    account = await register(node, name="Grace")
    answer = await http_get(node, "/api/me/profile", account.token)
    assert answer.status_code == 200
    assert answer.json() == {
        "name": "Grace", "goal": "", "experience": None, "target_date": None, "languages": [],
        "daily_goal": 1, "reminder_time": None, "time_zone": "UTC", "email_reminders": True,
        "app_notifications": True, "onboarded": False}
    assert (await http_get(node, "/api/me/profile")).status_code == 401


async def test_preferences_are_saved_field_by_field(node: RunningNode, database_url: str) -> None:
    account = await register(node, name="Grace")
    answer = await put_profile(node, account.token, goal="Pass my interviews at a bank",
                               experience="intermediate", target_date="2030-03-01",
                               languages=["python", "javascript"], daily_goal=3,
                               reminder_time="07:30", time_zone="Europe/Paris")
    assert answer.status_code == 200, answer.text
    # Only what is sent changes.
    answer = await put_profile(node, account.token, email_reminders=False, onboarded=True,
                               name="Grace Hopper")
    assert answer.status_code == 200, answer.text
    saved = (await http_get(node, "/api/me/profile", account.token)).json()
    assert saved == {
        "name": "Grace Hopper", "goal": "Pass my interviews at a bank",
        "experience": "intermediate", "target_date": "2030-03-01",
        "languages": ["python", "javascript"], "daily_goal": 3, "reminder_time": "07:30",
        "time_zone": "Europe/Paris", "email_reminders": False, "app_notifications": True,
        "onboarded": True}
    assert (await http_get(node, "/api/me", account.token)).json()["name"] == "Grace Hopper"
    # null clears what may be empty.
    cleared = (await put_profile(node, account.token, reminder_time=None,
                                 target_date=None)).json()
    assert cleared["reminder_time"] is None and cleared["target_date"] is None

    # The goal is personal: sealed at rest, like the name.
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT goal_sealed FROM profiles WHERE user_id = $1",
                                  uuid.UUID(account.user))
    finally:
        await conn.close()
    assert row is not None and b"interviews" not in bytes(row["goal_sealed"])

    exported = (await http_get(node, "/api/me/export", account.token)).json()
    assert exported["profile"]["goal"] == "Pass my interviews at a bank"
    assert exported["profile"]["time_zone"] == "Europe/Paris"
    assert exported["notifications"] == [] and exported["reminders"] == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"experience": "guru"}, "experience"),
    ({"target_date": "next week"}, "target_date"),
    ({"target_date": "2001-01-01"}, "target_date"),
    ({"languages": ["cobol"]}, "languages"),
    ({"languages": ["python", "python"]}, "languages"),
    ({"daily_goal": 0}, "daily_goal"),
    ({"daily_goal": 500}, "daily_goal"),
    ({"reminder_time": "25:00"}, "reminder_time"),
    ({"reminder_time": "7:30"}, "reminder_time"),
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ({"time_zone": "../../etc/passwd"}, "time_zone"),
    ({"goal": "x" * 301}, "goal"),
    ({"name": "  "}, "name"),
])
async def test_bad_preferences_are_refused_with_the_field_named(
        node: RunningNode, fields: dict[str, Any], field: str) -> None:
    account = await register(node)
    answer = await put_profile(node, account.token, **fields)
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field
    # Nothing was kept of the refused change.
    assert (await http_get(node, "/api/me/profile", account.token)).json()["daily_goal"] == 1


async def test_unknown_fields_and_wrong_types_are_refused(node: RunningNode) -> None:
    account = await register(node)
    assert (await put_profile(node, account.token, colour="blue")).status_code == 400
    assert (await put_profile(node, account.token, daily_goal="3")).status_code == 400


@pytest.fixture(scope="module")
def second_node(database_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RunningNode]:
    """Another node on the same database: notifications cross between nodes."""
    with running_node(database_url, tmp_path_factory.mktemp("second")) as running:
        yield running


async def mentor(node: RunningNode, database_url: str, name: str) -> Account:
    return await grant_roles(node, database_url, await register(node, name=name),
                             ["learner", "mentor"])


async def test_a_notification_reaches_the_user_online_on_another_node(
        node: RunningNode, second_node: RunningNode, database_url: str) -> None:
    mia = await mentor(node, database_url, "Mia Mentor")
    tabs = [await open_client(second_node, mia.token), await open_client(node, mia.token)]

    learner = await register(node, name="Ada")
    client = await open_client(node, learner.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    invite = (await client.ok("mentor.invite", sid=sid, mentor=mia.email))["invite"]

    for tab in tabs:
        frame = await tab.next_notification()
        data = frame["data"]
        assert data["kind"] == "mentor.invited"
        assert data["data"] == {"invite": invite, "sid": sid, "title": "Two Sum",
                                "learner": "Ada"}
        assert data["read_at"] is None and isinstance(data["id"], int)
    # The learner's own socket got nothing of it.
    assert not [f for f in client.frames if f.get("type") == "notification"]

    # Kept until read.
    listed = (await http_get(second_node, "/api/me/notifications", mia.token)).json()
    assert listed["unread"] == 1
    assert [n["kind"] for n in listed["notifications"]] == ["mentor.invited"]
    async with httpx.AsyncClient(base_url=node.url) as http:
        read = await http.post("/api/me/notifications/read", json={},
                               headers={"Authorization": f"Bearer {mia.token}"})
    assert read.json() == {"marked": 1, "unread": 0}
    listed = (await http_get(node, "/api/me/notifications?unread=1", mia.token)).json()
    assert listed == {"unread": 0, "notifications": []}
    assert (await http_get(node, "/api/me/export", mia.token)).json()["notifications"][0][
        "read_at"] is not None


async def test_no_notification_for_someone_who_turned_them_off(
        node: RunningNode, database_url: str) -> None:
    max_ = await mentor(node, database_url, "Max Mentor")
    assert (await put_profile(node, max_.token, app_notifications=False)).status_code == 200
    tab = await open_client(node, max_.token)

    learner = await register(node, name="Ada")
    client = await open_client(node, learner.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("mentor.invite", sid=sid, mentor=max_.email)

    # The socket stays quiet (a ping proves it is read up to now), and nothing is listed.
    await anyio.sleep(1.5)
    await tab.ok("ping")
    assert not [f for f in tab.frames if f.get("type") == "notification"]
    listed = (await http_get(node, "/api/me/notifications", max_.token)).json()
    assert listed == {"unread": 0, "notifications": []}
