"""A live session over a real socket against a running node, real Postgres and real sandbox."""

from __future__ import annotations

import time
from typing import Any

import anyio
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from server.bank import shipped_questions
from tests.client import Client, http_get, open_client, register
from tests.components import RunningNode

TWO_SUM = next(q for q in shipped_questions() if q.id == "two-sum")
WRONG = "def two_sum(nums, target):\n    return [0, 0]\n"


async def start(node: RunningNode, consent: bool = True) -> tuple[Client, str]:
    account = await register(node, consent=consent)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    joined = await client.ok("session.join", sid=sid, role="learner")
    assert joined["recovered"] is False and joined["snapshot"]["question"]["id"] == "two-sum"
    return client, sid


async def finished(client: Client, run_id: str, within: float = 20.0) -> dict[str, Any]:
    return (await client.until("run.finished", within, run_id=run_id))["data"]


async def test_output_streams_while_the_program_runs(node: RunningNode) -> None:
    client, sid = await start(node)
    code = "import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')\n"
    run_id = (await client.ok("code.run", sid=sid, mode="run", code=code))["run_id"]
    first = await client.until("run.output", run_id=run_id)
    first_at = time.monotonic()
    done = await finished(client, run_id)
    assert time.monotonic() - first_at > 1.0
    assert first["data"]["chunk"].startswith("first")
    assert done["exit_code"] == 0 and done["limit"] is None
    chunks = [e["data"]["chunk"] for e in client.events
              if e["kind"] == "run.output" and e["data"]["run_id"] == run_id]
    assert "".join(chunks) == "first\nsecond\n"
    await client.close()


async def test_stdin_reaches_the_program(node: RunningNode) -> None:
    client, sid = await start(node)
    run_id = (await client.ok("code.run", sid=sid, mode="run", code="print(input()[::-1])",
                              stdin="wingman\n"))["run_id"]
    await finished(client, run_id)
    out = "".join(e["data"]["chunk"] for e in client.events if e["kind"] == "run.output")
    assert out == "namgniw\n"
    await client.close()


async def test_hint_ladder_unlocks_and_refuses(node: RunningNode) -> None:
    client, sid = await start(node)
    first = await client.ok("hint.request", sid=sid)
    assert first == {"level": 1, "text": TWO_SUM.hints[0]}
    locked = await client.request("hint.request", sid=sid)
    assert not locked["ok"] and locked["error"]["code"] == "hint_locked"
    assert locked["error"]["reason"] == "attempt_required"
    for level in (2, 3, 4):
        run_id = (await client.ok("code.run", sid=sid, mode="run", code=WRONG))["run_id"]
        await finished(client, run_id)
        assert (await client.ok("hint.request", sid=sid))["level"] == level
    failed_tests = 0
    while True:
        run_id = (await client.ok("code.run", sid=sid, mode="test", code=WRONG))["run_id"]
        done = await finished(client, run_id)
        assert not all(t["passed"] for t in done["tests"])
        failed_tests += 1
        answer = await client.request("hint.request", sid=sid)
        if answer["ok"]:
            break
        assert answer["error"]["reason"] == "tests_required"
    assert failed_tests == 3
    assert answer["data"]["level"] == 5 and answer["data"]["text"] == TWO_SUM.hints[4]
    given = [e["data"]["level"] for e in client.events if e["kind"] == "hint.given"]
    assert given == [1, 2, 3, 4, 5]
    await client.close()


async def test_two_concurrent_hint_requests_unlock_once(node: RunningNode) -> None:
    client, sid = await start(node)
    await client.send({"type": "hint.request", "ref": "a", "sid": sid})
    await client.send({"type": "hint.request", "ref": "b", "sid": sid})
    a, b = await client.reply("a"), await client.reply("b")
    assert sorted([a["ok"], b["ok"]]) == [False, True]
    await client.close()


async def test_tutor_reply_streams_as_several_deltas(node: RunningNode) -> None:
    client, sid = await start(node)
    run_id = (await client.ok("code.run", sid=sid, mode="test", code=WRONG))["run_id"]
    await finished(client, run_id)
    turn_id = (await client.ok("tutor.ask", sid=sid, text="why is it wrong?"))["turn_id"]
    await client.until("tutor.turn.end", turn_id=turn_id)
    deltas = [e for e in client.events
              if e["kind"] == "tutor.delta" and e["data"]["turn_id"] == turn_id]
    assert len(deltas) >= 3
    text = "".join(d["data"]["text"] for d in deltas)
    assert text.endswith("?")
    assert "[0, 0]" in text  # grounded in what the run returned on the failing visible case
    assert deltas[-1]["ts"] > deltas[0]["ts"]
    await client.close()


async def test_resume_with_since_gets_exactly_the_missed_events(node: RunningNode) -> None:
    account = await register(node)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    joined = await client.ok("session.join", sid=sid, role="learner")
    await client.ok("code.update", sid=sid, code="# one")
    seen = await client.until("code.updated", code="# one")
    await client.close()

    writer = await open_client(node, account.token)
    await writer.ok("session.join", sid=sid, role="learner")
    for n in range(5):
        await writer.ok("code.update", sid=sid, code=f"# missed {n}")
    missed = [e for e in (await _drain(writer)) if e["seq"] > seen["seq"]]

    again = await open_client(node, account.token)
    answer = await again.ok("session.join", sid=sid, role="learner",
                            since={"epoch": joined["epoch"], "seq": seen["seq"]})
    assert answer["recovered"] is True and "snapshot" not in answer
    await again.until("code.updated", code="# missed 4")
    last = missed[-1]["seq"]
    resumed = [e for e in again.events if e["seq"] <= last]
    # Exactly every event after the one we had seen, in order, each one once ...
    assert [e["seq"] for e in resumed] == list(range(seen["seq"] + 1, last + 1))
    # ... and the same events another member received live.
    by_seq = {e["seq"]: e for e in resumed}
    assert all(by_seq[e["seq"]] == e for e in missed)
    assert resumed[0]["kind"] == "presence.leave"
    await writer.close()
    await again.close()


async def _drain(client: Client, quiet: float = 0.3) -> list[dict[str, Any]]:
    while True:
        try:
            await client.receive(within=quiet)
        except TimeoutError:
            return list(client.events)


async def test_bad_frames_get_errors_and_the_connection_stays(node: RunningNode) -> None:
    client, sid = await start(node)
    await client.send("{not json")
    reply = await client.reply(None)
    assert reply["ok"] is False and reply["ref"] is None
    assert reply["error"]["code"] == "bad_request"

    unknown = await client.request("teleport", sid=sid)
    assert unknown["error"]["code"] == "bad_request" and unknown["error"]["field"] == "type"

    missing = await client.request("code.update", code="x = 1")
    assert missing["error"]["code"] == "bad_request" and missing["error"]["field"] == "sid"

    wrong_type = await client.request("code.update", sid=sid, code=42)
    assert wrong_type["error"]["code"] == "bad_request" and wrong_type["error"]["field"] == "code"

    big = await client.request("code.update", sid=sid, code="x" * (64 * 1024 + 1))
    assert big["error"]["code"] == "too_large" and big["error"]["field"] == "code"

    assert "ts" in await client.ok("ping")
    await client.ok("code.update", sid=sid, code="x = 2")

    await client.send(orjson.dumps({"type": "ping", "ref": 1, "pad": "x" * 300_000}).decode())
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10):
            await client.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_flood_of_bad_frames_is_closed_with_1008(node: RunningNode) -> None:
    account = await register(node)
    client = await open_client(node, account.token)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(100):
            await client.send("garbage")
        for _ in range(200):
            await client.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_repeated_idempotency_key_does_nothing_twice(node: RunningNode) -> None:
    client, sid = await start(node)
    first = await client.ok("code.run", sid=sid, mode="run", code="print(1)", key="run-42")
    await finished(client, first["run_id"])
    again = await client.ok("code.run", sid=sid, mode="run", code="print(1)", key="run-42")
    assert again == first
    await anyio.sleep(0.5)
    await _drain(client)
    started = [e for e in client.events if e["kind"] == "run.started"]
    assert len(started) == 1
    await client.close()


async def test_hidden_case_inputs_never_reach_the_client(node: RunningNode) -> None:
    client, sid = await start(node)
    spy = ("import sys\n"
           "def two_sum(nums, target):\n"
           "    print('SPY', nums, target)\n"
           "    print('SPY', nums, target, file=sys.stderr)\n"
           "    return [0, 1]\n")
    run_id = (await client.ok("code.run", sid=sid, mode="test", code=spy))["run_id"]
    done = await finished(client, run_id)
    hidden = [t for t in done["tests"] if t["hidden"]]
    assert len(hidden) == len(TWO_SUM.hidden)
    assert all(set(t) == {"name", "passed", "hidden"} for t in hidden)
    everything = orjson.dumps(client.frames).decode()
    for case in TWO_SUM.hidden:
        assert f"SPY {case.args[0]} {case.args[1]}" not in everything
    visible = TWO_SUM.visible[0]
    assert f"SPY {visible.args[0]} {visible.args[1]}" in everything
    await client.close()


async def test_a_learner_cannot_join_another_learners_session(node: RunningNode) -> None:
    owner, sid = await start(node)
    other = await open_client(node, (await register(node, name="Eve")).token)
    for role in ("learner", "observer"):
        answer = await other.request("session.join", sid=sid, role=role)
        assert answer["error"]["code"] == "forbidden"
    denied = await other.request("code.update", sid=sid, code="stolen")
    assert denied["error"]["code"] == "forbidden"
    assert not any(e["sid"] == sid for e in other.events)
    stranger = (await register(node)).token
    assert (await http_get(node, f"/api/sessions/{sid}/trace", stranger)).status_code == 403
    await owner.close()
    await other.close()


async def test_trace_holds_every_event_in_order(node: RunningNode) -> None:
    account = await register(node)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    run_id = (await client.ok("code.run", sid=sid, mode="run", code="print('traced')"))["run_id"]
    await finished(client, run_id)
    await client.ok("session.end", sid=sid)
    await client.until("session.ended")
    live = [e["seq"] for e in client.events]
    with anyio.fail_after(10):
        while True:
            body = (await http_get(node, f"/api/sessions/{sid}/trace", account.token)).json()
            if len(body["events"]) >= live[-1]:
                break
            await anyio.sleep(0.1)
    stored = [e["seq"] for e in body["events"]]
    assert stored == list(range(1, live[-1] + 1))
    kinds = [e["kind"] for e in body["events"]]
    assert kinds[0] == "code.updated" and kinds[-1] == "session.ended"
    assert "run.output" in kinds and "run.finished" in kinds


async def test_no_trace_is_kept_without_consent(node: RunningNode) -> None:
    client, sid = await start(node, consent=False)
    run_id = (await client.ok("code.run", sid=sid, mode="run", code="print(1)"))["run_id"]
    await finished(client, run_id)
    await anyio.sleep(0.5)
    stranger = (await register(node)).token
    assert (await http_get(node, f"/api/sessions/{sid}/trace", stranger)).status_code == 404
    await client.close()


async def test_handshake_refusals(node: RunningNode) -> None:
    account = await register(node)
    with pytest.raises(Exception, match="403"):
        await open_client(node, account.token, origin="https://evil.example")
    client = await open_client(node, None, authenticate=False)
    answer = await client.request("auth", token="not-a-token")
    assert answer["error"]["code"] == "unauthenticated"
    with pytest.raises(ConnectionClosed) as closed:
        await client.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    early = await open_client(node, None, authenticate=False)
    answer = await early.request("session.create", question_id="two-sum")
    assert answer["error"]["code"] == "unauthenticated"
