"""The learning engine over the real path: a real node, real Postgres with pgvector, real
sandboxed runs, a real WebSocket client and the HTTP API."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx

from server.bank import shipped_questions
from tests.client import Account, Client, http_get, open_client, register
from tests.components import RunningNode, running_node

BANK = {q.id: q for q in shipped_questions()}
TWO_SUM_RIGHT = (
    "def two_sum(nums, target):\n"
    "    seen = {}\n"
    "    for i, x in enumerate(nums):\n"
    "        if target - x in seen:\n"
    "            return [seen[target - x], i]\n"
    "        seen[x] = i\n"
)
# Looks a key up before anything was stored under it: a KeyError in a dictionary problem.
TWO_SUM_KEYERROR = (
    "def two_sum(nums, target):\n"
    "    seen = {}\n"
    "    for i, x in enumerate(nums):\n"
    "        j = seen[target - x]\n"
    "        seen[x] = i\n"
)
ANAGRAMS_KEYERROR = (
    "def group_anagrams(words):\n"
    "    groups = {}\n"
    "    for w in words:\n"
    "        groups[''.join(sorted(w))].append(w)\n"
    "    return list(groups.values())\n"
)


async def api(node: RunningNode, method: str, path: str, token: str,
              body: dict[str, Any] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        return await http.request(method, path, json=body,
                                  headers={"Authorization": f"Bearer {token}"})


async def session(node: RunningNode, account: Account, question: str,
                  **create: Any) -> tuple[Client, str, dict[str, Any]]:
    client = await open_client(node, account.token)
    created = await client.ok("session.create", question_id=question, **create)
    await client.ok("session.join", sid=created["sid"], role="learner")
    return client, created["sid"], created


async def run_tests(client: Client, sid: str, code: str) -> dict[str, Any]:
    run_id = (await client.ok("code.run", sid=sid, mode="test", code=code))["run_id"]
    event = await client.until("run.finished", 30, run_id=run_id)
    return dict(event["data"])


async def ask(client: Client, sid: str, text: str) -> tuple[dict[str, Any], str]:
    turn_id = (await client.ok("tutor.ask", sid=sid, text=text))["turn_id"]
    start = await client.until("tutor.turn.start", turn_id=turn_id)
    await client.until("tutor.turn.end", turn_id=turn_id)
    text = "".join(e["data"]["text"] for e in client.events
                   if e["kind"] == "tutor.delta" and e["data"]["turn_id"] == turn_id)
    return start["data"], text


async def similar(node: RunningNode, token: str, qid: str) -> list[dict[str, Any]]:
    # The node indexes the bank in the background as it starts.
    for _ in range(60):
        answer = await http_get(node, f"/api/questions/{qid}/similar", token)
        if answer.status_code != 503:
            assert answer.status_code == 200, answer.text
            return list(answer.json()["similar"])
        await anyio.sleep(0.5)
    raise AssertionError("the question index was never built")


async def test_nearest_questions_to_a_two_pointer_question_are_two_pointer_questions(
        node: RunningNode) -> None:
    account = await register(node)
    pointers = sorted(q.id for q in BANK.values() if "two-pointers" in q.tags)
    # Questions chiefly about two pointers (their first tag): the three nearest are all
    # two-pointer questions. Others (a linked-list merge with two pointers): most of them are.
    chiefly = [qid for qid in pointers if BANK[qid].tags[0] == "two-pointers"]
    assert len(chiefly) >= 2
    for qid in pointers:
        found = await similar(node, account.token, qid)
        assert found == sorted(found, key=lambda f: -f["similarity"])
        hits = sum("two-pointers" in f["tags"] for f in found[:3])
        assert hits == 3 if qid in chiefly else hits >= 2, (qid, found)


async def test_a_keyerror_in_a_dictionary_problem_brings_up_the_dictionary_lesson(
        node: RunningNode) -> None:
    account = await register(node)
    client, sid, _ = await session(node, account, "two-sum")
    done = await run_tests(client, sid, TWO_SUM_KEYERROR)
    assert any("KeyError" in (t.get("error") or "") for t in done["tests"])
    start, text = await ask(client, sid, "why does it fail?")
    assert start["basis"] == "exception:KeyError"
    lessons = [d.split(":", 1)[1] for d in start.get("drew_on", []) if d.startswith("lesson:")]
    assert len(lessons) == 1 and lessons[0] != "two-sum"
    lesson = BANK[lessons[0]]
    assert "hashing" in lesson.tags and "dictionar" in lesson.lesson.title.lower()
    assert f"“{lesson.lesson.title}”" in text and text.endswith("?")
    await client.close()


async def test_a_session_ends_with_a_review_item_mastery_and_a_remembered_mistake(
        node: RunningNode) -> None:
    account = await register(node)
    client, sid, created = await session(node, account, "two-sum")
    assert created["kept"] is True and created["review"] is False
    await run_tests(client, sid, TWO_SUM_KEYERROR)
    done = await run_tests(client, sid, TWO_SUM_RIGHT)
    assert all(t["passed"] for t in done["tests"])
    await client.ok("session.end", sid=sid)
    await client.close()

    progress = (await api(node, "GET", "/api/me/progress", account.token)).json()
    assert progress["consent"] is True
    tags = {m["tag"]: m for m in progress["mastery"]}
    assert set(tags) == set(BANK["two-sum"].tags)
    for m in tags.values():
        assert m["sessions"] == 1 and 0 <= m["low"] < m["rating"] < m["high"] <= 1
        assert m["rating"] > 0.5  # solved: above the prior
    assert progress["due"] == []  # reviewed just now: due again in a day or more
    assert progress["streak"] == 1
    assert [(s["sid"], s["passed"]) for s in progress["sessions"]] == [(sid, True)]

    reviews = (await api(node, "GET", "/api/me/reviews", account.token)).json()
    assert reviews["scheduler"] == "fsrs"
    [item] = reviews["reviews"]
    assert item["question_id"] == "two-sum" and item["reviews"] == 1 and item["lapses"] == 0
    assert item["interval_days"] >= 1 and item["last_rating"] in ("good", "hard", "easy")
    assert 0 < item["recall"] <= 1

    nxt = (await api(node, "GET", "/api/me/next", account.token)).json()
    assert nxt["question_id"] in BANK and nxt["question_id"] != "two-sum" and nxt["reason"]

    # Another day, another dictionary question, the same kind of mistake: the tutor remembers.
    client, sid2, _ = await session(node, account, "group-anagrams")
    await run_tests(client, sid2, ANAGRAMS_KEYERROR)
    start, text = await ask(client, sid2, "why does it fail?")
    assert start["basis"] == "exception:KeyError"
    assert start["drew_on"] == ["mistake:two-sum"]
    assert "You met a KeyError like this one in “Two Sum”" in text
    await client.ok("session.end", sid=sid2)
    await client.close()
    again = (await api(node, "GET", "/api/me/progress", account.token)).json()
    assert {s["sid"]: s["passed"] for s in again["sessions"]} == {sid: True, sid2: False}


async def test_review_mode_grades_the_due_item(node: RunningNode) -> None:
    account = await register(node)
    client, sid, _ = await session(node, account, "two-sum")
    await run_tests(client, sid, TWO_SUM_KEYERROR)
    await client.ok("session.end", sid=sid)
    await client.close()
    [first] = (await api(node, "GET", "/api/me/reviews", account.token)).json()["reviews"]
    assert first["last_rating"] == "again" and first["lapses"] == 1
    client, sid, created = await session(node, account, "two-sum", review=True)
    assert created["review"] is True
    await run_tests(client, sid, TWO_SUM_RIGHT)
    await client.ok("session.end", sid=sid)
    await client.close()
    [second] = (await api(node, "GET", "/api/me/reviews", account.token)).json()["reviews"]
    assert second["reviews"] == 2 and second["last_rating"] != "again"
    progress = (await api(node, "GET", "/api/me/progress", account.token)).json()
    assert [s["review"] for s in progress["sessions"]] == [True, False]


async def _rows(database_url: str, user: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        return {table: int(await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE learner_id = $1", uuid.UUID(user)))
            for table in ("review_items", "mastery", "mistakes", "diagnostics", "sessions")}
    finally:
        await conn.close()


async def test_without_consent_nothing_is_kept(node: RunningNode, database_url: str) -> None:
    account = await register(node, consent=False)
    client, sid, created = await session(node, account, "two-sum")
    assert created["kept"] is False
    await run_tests(client, sid, TWO_SUM_KEYERROR)
    start, _ = await ask(client, sid, "why?")
    assert not any(d.startswith("mistake:") for d in start.get("drew_on", []))
    await run_tests(client, sid, TWO_SUM_RIGHT)
    await client.ok("session.end", sid=sid)
    await client.close()
    progress = (await api(node, "GET", "/api/me/progress", account.token)).json()
    assert progress == {"consent": False, "mastery": [], "due": [], "streak": 0, "sessions": []}
    reviews = (await api(node, "GET", "/api/me/reviews", account.token)).json()
    assert reviews == {"consent": False, "reviews": []}
    diagnostic = (await api(node, "POST", "/api/diagnostic", account.token)).json()
    assert diagnostic["consent"] is False and diagnostic["question"] is None
    nxt = (await api(node, "GET", "/api/me/next", account.token)).json()
    assert nxt["consent"] is False and nxt["question_id"] in BANK
    assert await _rows(database_url, account.user) == dict.fromkeys(
        ("review_items", "mastery", "mistakes", "diagnostics", "sessions"), 0)


async def test_withdrawing_consent_erases_learning_data(node: RunningNode,
                                                        database_url: str) -> None:
    account = await register(node)
    client, sid, _ = await session(node, account, "two-sum")
    await run_tests(client, sid, TWO_SUM_KEYERROR)
    await client.ok("session.end", sid=sid)
    await client.close()
    await api(node, "POST", "/api/diagnostic", account.token)
    kept = await _rows(database_url, account.user)
    exported = (await api(node, "GET", "/api/me/export", account.token)).json()["learning"]
    assert [r["question_id"] for r in exported["reviews"]] == ["two-sum"]
    assert {m["tag"] for m in exported["mastery"]} == set(BANK["two-sum"].tags)
    assert [m["kind"] for m in exported["mistakes"]] == ["KeyError"]
    assert len(exported["diagnostics"]) == 1
    assert all(kept[t] >= 1 for t in ("review_items", "mastery", "mistakes", "diagnostics"))
    changed = await api(node, "PATCH", "/api/me", account.token, {"consent": False})
    assert changed.status_code == 200
    exported = (await api(node, "GET", "/api/me/export", account.token)).json()["learning"]
    assert exported["reviews"] == [] and exported["mistakes"] == []
    assert await _rows(database_url, account.user) == dict.fromkeys(kept, 0)


async def test_the_diagnostic_asks_adaptively_and_fills_the_mastery_vector(
        node: RunningNode) -> None:
    account = await register(node)
    token = account.token
    step = (await api(node, "POST", "/api/diagnostic", token, {"languages": ["python"]})).json()
    assert step["consent"] is True and step["asked"] == 0 and step["length"] == 10
    assert step["question"]["language"] == "python" and step["why"]
    # Starting again resumes the same diagnostic and question.
    again = (await api(node, "POST", "/api/diagnostic", token)).json()
    assert again["diagnostic_id"] == step["diagnostic_id"]
    assert again["question"] == step["question"]
    wrong = await api(node, "POST", "/api/diagnostic/answer", token,
                      {"question_id": "no-such-question", "outcome": "solved"})
    assert wrong.status_code == 409
    bad = await api(node, "POST", "/api/diagnostic/answer", token,
                    {"question_id": step["question"]["id"], "outcome": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "outcome"
    seen: list[str] = []
    outcomes = ["solved", "unsolved", "partly", "skipped"]
    while not step["finished"]:
        qid = step["question"]["id"]
        assert qid not in seen
        seen.append(qid)
        answer = await api(node, "POST", "/api/diagnostic/answer", token,
                           {"question_id": qid, "outcome": outcomes[len(seen) % 4]})
        assert answer.status_code == 200, answer.text
        step = answer.json()
        assert step["asked"] == len(seen)
    assert 1 <= len(seen) <= 10 and step["question"] is None and step["why"].startswith("Done")
    mastery = (await api(node, "GET", "/api/me/progress", token)).json()["mastery"]
    answered = {t for q in seen for t in BANK[q].tags}
    assert {m["tag"] for m in mastery} <= answered and len(mastery) >= 3


async def test_a_deployment_can_choose_sm2(database_url: str, tmp_path: Path) -> None:
    with running_node(database_url, tmp_path / "sm2", REVIEW_SCHEDULER="sm2") as node:
        account = await register(node)
        client, sid, _ = await session(node, account, "two-sum")
        await run_tests(client, sid, TWO_SUM_RIGHT)
        await client.ok("session.end", sid=sid)
        await client.close()
        reviews = (await api(node, "GET", "/api/me/reviews", account.token)).json()
    assert reviews["scheduler"] == "sm2"
    [item] = reviews["reviews"]
    # SM-2: one day after the first successful review.
    assert item["scheduler"] == "sm2" and item["interval_days"] == 1 and "recall" not in item


async def test_a_question_opened_and_left_is_not_a_review_item(node: RunningNode) -> None:
    account = await register(node)
    client, sid, _ = await session(node, account, "two-sum")
    await client.ok("session.end", sid=sid)
    await client.close()
    progress = (await api(node, "GET", "/api/me/progress", account.token)).json()
    assert progress["mastery"] == [] and progress["due"] == []
    assert [(s["sid"], s["passed"]) for s in progress["sessions"]] == [(sid, None)]
    assert (await api(node, "GET", "/api/me/reviews", account.token)).json()["reviews"] == []
