"""The admin live monitor, complex moments and audit events over real sockets, on two real nodes
sharing a real Redis (and on one node without Redis): admins see every session of every node
live, moments are reported once, what an admin does reaches the learner and the trace, and
nobody else may watch."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import asyncpg
import orjson
import pytest

from tests.client import Client, grant_roles, open_client, register
from tests.components import RunningNode
from tests.test_cluster import (
    admin_token,
    learner_on,
    learner_on_both,
    nodes_on_own_redis,
    settle,
)

# Fails at its fifth line with an IndexError every time it runs.
FAILING = "def two_sum(nums, target):\n    return nums\n\nprint(two_sum([1], 2)[5])\n"
PASSING = "print('fine')\n"
IDLE_SECONDS = 3


@pytest.fixture(scope="module")
def monitored(database_url: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, RunningNode]]:
    folder = tmp_path_factory.mktemp("monitor")
    with nodes_on_own_redis(database_url, folder, ("a", "b"),
                            MOMENT_IDLE_SECONDS=str(IDLE_SECONDS), MOMENT_TICK_SECONDS="0.5",
                            MONITOR_NODE_SECONDS="0.5",
                            # A run the tests cancel must still be running on a loaded machine.
                            RUN_WALL_SECONDS="60") as nodes:
        yield nodes


async def admin_client(node: RunningNode) -> Client:
    account = await register(node, name="Root")
    return await open_client(node, admin_token(account.user))


async def monitor_frame(client: Client, op: str, within: float = 15.0,
                        **match: Any) -> dict[str, Any]:
    """The first monitor frame (past ones included) with `op` whose session has these values."""
    with anyio.fail_after(within):
        seen = 0
        while True:
            for frame in client.frames[seen:]:
                if frame.get("type") != "monitor" or frame.get("op") != op:
                    continue
                body = frame.get("session") or frame.get("node") or {}
                if all(fits(body.get(k), v) for k, v in match.items()):
                    return frame
            seen = len(client.frames)
            await client.receive(within)


def fits(value: Any, wanted: Any) -> bool:
    return wanted(value) if callable(wanted) else bool(value == wanted)


async def fail_runs(learner: Client, sid: str, times: int) -> None:
    for _ in range(times):
        run_id = (await learner.ok("code.run", sid=sid, code=FAILING))["run_id"]
        await learner.until("run.finished", run_id=run_id, within=30)


async def read_for(client: Client, seconds: float) -> None:
    """Take in frames for a while (an admin's never go quiet: nodes report all the time)."""
    with anyio.move_on_after(seconds):
        while True:
            await client.receive(seconds + 1)


def kinds(client: Client, sid: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["sid"] == sid and e["kind"] == kind]


async def test_admin_sees_every_node_s_sessions_live_and_ends_one(
        monitored: dict[str, RunningNode], database_url: str) -> None:
    a, b = monitored["a"], monitored["b"]
    admin = await admin_client(b)
    board = await admin.ok("monitor.subscribe")
    assert {n["id"] for n in board["nodes"]} == {"a", "b"}
    assert all(n["connections"] >= 0 and "events_per_second" in n for n in board["nodes"])

    learner_account, learner, sid = await learner_on(a)
    shown = await monitor_frame(admin, "upsert", sid=sid, node="a",
                                learner=lambda v: v["present"])
    session = shown["session"]
    assert session["question"] == {"id": "two-sum", "title": session["question"]["title"]}
    assert session["question"]["title"] and session["learner"]["id"] == learner_account.user
    assert session["started_ms"] <= time.time() * 1000 and session["moments"] == []

    # A mentor on the other node watches too; the moment is reported once, seen by both.
    mentor = await grant_roles(b, database_url, await register(b, name="Mia"),
                               ["learner", "mentor"])
    invite = (await learner.ok("mentor.invite", sid=sid, mentor=mentor.email))["invite"]
    watcher = await open_client(b, mentor.token)
    await watcher.ok("mentor.invite.accept", invite=invite)
    await watcher.ok("session.join", sid=sid, role="observer")

    await fail_runs(learner, sid, 3)
    moment = await learner.until("moment.detected", reason="repeated_error")
    assert "IndexError" in moment["data"]["detail"]
    await watcher.until("moment.detected", reason="repeated_error")
    lit = await monitor_frame(admin, "upsert", sid=sid,
                              moments=lambda m: any(x["reason"] == "repeated_error" for x in m))
    assert lit["session"]["runs"] == 3 and lit["session"]["node"] == "a"
    assert any(o["user"] == mentor.user for o in lit["session"]["observers"])
    # The mentor's list of sessions shows how it goes, from the same board.
    listed = (await watcher.ok("mentor.invites"))["invites"]
    mine = next(i for i in listed if i["sid"] == sid)
    assert mine["live"] and mine["session"]["hint_level"] == 0
    assert [m["reason"] for m in mine["session"]["moments"]] == ["repeated_error"]

    # The admin opens it as an observer (on node b) and ends it.
    joined = await admin.ok("session.join", sid=sid, role="observer")
    assert [m["reason"] for m in joined["snapshot"]["moments"]] == ["repeated_error"]
    observed = await learner.until("audit", action="observe")
    assert observed["by"]["role"] == "admin" and observed["data"]["name"] == "Root"
    await admin.ok("session.end", sid=sid)
    await learner.until("audit", action="end")
    ended = await learner.until("session.ended")
    assert "admin" in ended["data"]["reason"]
    await monitor_frame(admin, "remove", sid=sid)
    await settle(learner, watcher, quiet=1.0)
    assert len(kinds(learner, sid, "moment.detected")) == 1

    # Audit events are in the trace, without the admin's name.
    conn = await asyncpg.connect(database_url)
    try:
        with anyio.fail_after(10):
            while True:
                rows = await conn.fetch("SELECT data FROM trace_events WHERE sid = $1 AND "
                                        "kind = 'audit' ORDER BY seq", uuid.UUID(sid))
                if len(rows) == 2:
                    break
                await anyio.sleep(0.2)
    finally:
        await conn.close()
    admin_id = observed["by"]["user"]
    assert [orjson.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
            for r in rows] == [{"action": "observe", "by": admin_id},
                               {"action": "end", "by": admin_id}]

    again = await admin.ok("monitor.subscribe")
    assert sid not in {s["sid"] for s in again["sessions"]}


async def test_moments_reach_everyone_once_from_tabs_on_two_nodes(
        monitored: dict[str, RunningNode]) -> None:
    a, b = monitored["a"], monitored["b"]
    _account, tab_a, tab_b, sid = await learner_on_both(a, b)
    # Failing runs started from both nodes count as one series.
    await fail_runs(tab_a, sid, 2)
    await fail_runs(tab_b, sid, 1)
    await tab_a.until("moment.detected", reason="repeated_error")
    # Silence after the failing runs; each tick on each node asks, one reports it.
    idle = await tab_a.until("moment.detected", reason="idle", within=IDLE_SECONDS + 20)
    assert "No activity" in idle["data"]["detail"]
    await tab_b.ok("tutor.ask", sid=sid, text="I'm stuck, I don't know what to do")
    stuck = await tab_a.until("moment.detected", reason="stuck")
    assert "stuck" in stuck["data"]["detail"]
    await settle(tab_a, tab_b, quiet=2.0)
    for tab in (tab_a, tab_b):
        reasons = sorted(e["data"]["reason"] for e in kinds(tab, sid, "moment.detected"))
        assert reasons == ["idle", "repeated_error", "stuck"]


async def test_a_busy_session_cannot_flood_the_monitor(monitored: dict[str, RunningNode]) -> None:
    a = monitored["a"]
    admin = await admin_client(monitored["b"])
    await admin.ok("monitor.subscribe")
    _, learner, sid = await learner_on(a)
    await monitor_frame(admin, "upsert", sid=sid)
    started = time.monotonic()
    for i in range(150):
        await learner.send({"type": "code.update", "ref": f"u{i}", "sid": sid,
                            "code": f"# {i}\n"})
    await learner.until("code.updated", code="# 149\n", within=30)
    elapsed = time.monotonic() - started
    await read_for(admin, 1.5)
    upserts = [f for f in admin.frames if f.get("type") == "monitor"
               and f.get("op") == "upsert" and f["session"]["sid"] == sid]
    # Interval 0.3 s (the default): a few per second at most, plus a periodic refresh.
    assert len(upserts) <= (elapsed + 1.0) / 0.3 + 3, (len(upserts), elapsed)


async def test_only_admins_may_subscribe_and_nobody_else_may_watch_or_end(
        monitored: dict[str, RunningNode], database_url: str) -> None:
    a, b = monitored["a"], monitored["b"]
    owner, learner, sid = await learner_on(a)
    run_id = (await learner.ok("code.run", sid=sid,
                               code="import time\ntime.sleep(30)\n"))["run_id"]
    other = await register(b, name="Eve")
    eve = await open_client(b, other.token)
    uninvited = await grant_roles(b, database_url, await register(b, name="Max"),
                                  ["learner", "mentor"])
    max_ = await open_client(b, uninvited.token)
    for intruder in (eve, max_):
        refused = await intruder.request("monitor.subscribe")
        assert refused["error"]["code"] == "forbidden"
        for role in ("observer", "learner"):
            answer = await intruder.request("session.join", sid=sid, role=role)
            assert answer["error"]["code"] == "forbidden", answer
        assert (await intruder.request("session.end", sid=sid))["error"]["code"] == "forbidden"
        answer = await intruder.request("run.cancel", sid=sid, run_id=run_id)
        assert answer["error"]["code"] == "forbidden"
        assert (await intruder.request("mentor.note", sid=sid, text="hi"))["error"]["code"] \
            == "forbidden"
    # Nothing reached the session or the board from them: the run goes on, nobody joined.
    await settle(learner, quiet=1.0)
    assert not kinds(learner, sid, "run.finished")
    assert not [e for e in learner.events if e["kind"] in ("presence.join", "audit")
                and e["by"]["user"] in (other.user, uninvited.user)]
    assert not [f for f in eve.frames + max_.frames if f.get("type") == "monitor"]
    assert owner.user != other.user
    # An admin may cancel it, and the learner is told.
    admin = await admin_client(b)
    await admin.ok("run.cancel", sid=sid, run_id=run_id)
    await learner.until("audit", action="cancel_run", run_id=run_id)
    finished = await learner.until("run.finished", run_id=run_id)
    assert finished["data"]["limit"] == "cancelled"


async def test_the_monitor_works_on_one_node_without_redis(node: RunningNode) -> None:
    admin = await admin_client(node)
    board = await admin.ok("monitor.subscribe")
    assert [n["id"] for n in board["nodes"]] in ([], ["node-1"])
    _, learner, sid = await learner_on(node)
    await monitor_frame(admin, "upsert", sid=sid, node="node-1")
    await monitor_frame(admin, "node", id="node-1", connections=lambda c: c >= 2)
    await learner.ok("session.end", sid=sid)
    await monitor_frame(admin, "remove", sid=sid)
