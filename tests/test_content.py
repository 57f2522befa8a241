"""Content management over a real node and Postgres: admins create, edit, publish and retire
questions; a session keeps the version it started on; the bank moves as files and bundles."""

from __future__ import annotations

import filecmp
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
import httpx
import msgspec
import pytest

from server.bank import shipped_questions
from tests.client import Account, Client, grant_roles, http_get, open_client, register
from tests.components import RunningNode, running_node
from tests.test_cli import wingman

RIGHT_FOR_V1 = "def answer():\n    return 1\n"


def authored(qid: str, title: str, expected: int) -> dict[str, Any]:
    """A small question whose one answer depends on the version: v1 wants 1, v2 wants 2."""
    base = msgspec.to_builtins(next(q for q in shipped_questions() if q.id == "two-sum"))
    return {**base, "id": qid, "version": 1, "title": title, "function": "answer",
            "signature": "def answer():", "starter": "def answer():\n    pass\n",
            "statement": f"Return the number {expected}.", "tags": ["content-test"],
            "compare": "exact", "prerequisites": [],
            "visible": [{"name": "the number", "args": [], "expected": expected}],
            "hidden": [{"name": "the number again", "args": [], "expected": expected}]}


async def call(node: RunningNode, method: str, path: str, account: Account | None,
               **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {account.token}"} if account else {}
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        return await http.request(method, path, headers=headers, **kwargs)


async def admin_of(node: RunningNode, database_url: str) -> Account:
    return await grant_roles(node, database_url, await register(node, name="Admin"),
                             ["learner", "admin"])


async def offered_ids(node: RunningNode, account: Account) -> set[str]:
    answer = await http_get(node, "/api/questions", account.token)
    assert answer.status_code == 200
    return {q["id"] for q in answer.json()}


async def start(client: Client, qid: str) -> tuple[str, dict[str, Any]]:
    sid = (await client.ok("session.create", question_id=qid))["sid"]
    joined = await client.ok("session.join", sid=sid, role="learner")
    return sid, joined["snapshot"]["question"]


async def passes_tests(client: Client, sid: str, code: str) -> bool:
    run_id = (await client.ok("code.run", sid=sid, mode="test", code=code))["run_id"]
    done = (await client.until("run.finished", 60, run_id=run_id))["data"]
    return all(t["passed"] for t in done["tests"])


async def test_a_session_keeps_its_version_while_new_ones_get_the_next(
        node: RunningNode, database_url: str) -> None:
    admin = await admin_of(node, database_url)
    learner = await register(node)
    qid = f"pinned-{uuid.uuid4().hex[:8]}"

    made = await call(node, "POST", "/api/admin/questions", admin,
                      json=authored(qid, "Pinned v1", 1))
    assert made.status_code == 201 and made.json() == {"id": qid, "version": 1, "state": "draft"}
    assert qid not in await offered_ids(node, learner)  # a draft is not offered
    published = await call(node, "POST", f"/api/admin/questions/{qid}/versions/1/publish", admin)
    assert published.json()["state"] == "published"
    assert qid in await offered_ids(node, learner)
    # Published, it is embedded for search in the background: similar questions come.
    for _ in range(120):
        similar = await http_get(node, f"/api/questions/{qid}/similar", learner.token)
        if similar.status_code == 200 and similar.json()["similar"]:
            break
        await anyio.sleep(0.5)
    assert similar.status_code == 200 and similar.json()["similar"], similar.text

    client = await open_client(node, learner.token)
    old_sid, shown = await start(client, qid)
    assert (shown["title"], shown["version"]) == ("Pinned v1", 1)

    edited = await call(node, "PUT", f"/api/admin/questions/{qid}", admin,
                        json=authored(qid, "Pinned v2", 2))
    assert edited.status_code == 201 and edited.json()["version"] == 2
    assert edited.json()["state"] == "draft"
    assert (await call(node, "POST", f"/api/admin/questions/{qid}/versions/2/publish",
                       admin)).status_code == 200
    listed = (await call(node, "GET", f"/api/admin/questions/{qid}", admin)).json()
    assert [(v["version"], v["state"]) for v in listed["versions"]] == [
        (1, "retired"), (2, "published")]
    assert listed["published"] == 2

    # The session started on v1 still is on v1: its tests, and what a rejoin shows.
    assert await passes_tests(client, old_sid, RIGHT_FOR_V1)
    other = await open_client(node, learner.token)
    rejoined = await other.ok("session.join", sid=old_sid, role="learner")
    assert rejoined["snapshot"]["question"]["title"] == "Pinned v1"
    # A new session gets v2, whose tests want another answer.
    new_sid, shown = await start(client, qid)
    assert (shown["title"], shown["version"]) == ("Pinned v2", 2)
    assert not await passes_tests(client, new_sid, RIGHT_FOR_V1)

    retired = await call(node, "POST", f"/api/admin/questions/{qid}/versions/2/retire", admin)
    assert retired.json()["state"] == "retired"
    assert qid not in await offered_ids(node, learner)
    assert (await http_get(node, f"/api/questions/{qid}", learner.token)).status_code == 404
    refused = await client.request("session.create", question_id=qid)
    assert not refused["ok"] and refused["error"]["code"] == "not_found"
    # Old sessions and replays still resolve the retired versions.
    assert await passes_tests(client, new_sid, "def answer():\n    return 2\n")
    replayed = await http_get(node, f"/api/questions/{qid}?version=1", learner.token)
    assert replayed.status_code == 200 and replayed.json()["title"] == "Pinned v1"
    mine = (await http_get(node, "/api/me/sessions", learner.token)).json()
    assert {(s["sid"], s["question_version"]) for s in mine} >= {(old_sid, 1), (new_sid, 2)}


async def test_only_admins_manage_content(node: RunningNode, database_url: str) -> None:
    learner = await register(node)
    mentor = await grant_roles(node, database_url, await register(node), ["mentor"])
    body = authored(f"refused-{uuid.uuid4().hex[:8]}", "Refused", 1)
    for who in (learner, mentor):
        for method, path, extra in [
                ("GET", "/api/admin/questions", {}),
                ("POST", "/api/admin/questions", {"json": body}),
                ("PUT", "/api/admin/questions/two-sum", {"json": body}),
                ("POST", "/api/admin/questions/two-sum/versions/1/retire", {}),
                ("GET", "/api/admin/content/export", {}),
                ("POST", "/api/admin/content/import", {"json": {}})]:
            answer = await call(node, method, path, who, **extra)
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "forbidden"
    assert (await call(node, "GET", "/api/admin/questions", None)).status_code == 401
    assert "two-sum" in await offered_ids(node, learner)  # nothing was retired


async def test_bad_questions_are_refused_naming_the_field(node: RunningNode,
                                                          database_url: str) -> None:
    admin = await admin_of(node, database_url)
    qid = f"checked-{uuid.uuid4().hex[:8]}"
    good = authored(qid, "Checked", 1)
    cases = [
        ({**good, "hints": good["hints"][:4]}, "hints"),
        ({**good, "title": 7}, "title"),
        ({**good, "language": "cobol"}, "language"),
        ({**good, "difficulty": "impossible"}, "difficulty"),
        ({**good, "hint": "typo"}, "hint"),
        ({k: v for k, v in good.items() if k != "statement"}, "statement"),
        ({**good, "id": "Not An Id"}, "id"),
        ({**good, "hidden": []}, "hidden"),
    ]
    for body, field in cases:
        answer = await call(node, "POST", "/api/admin/questions", admin, json=body)
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["error"]["field"] == field, answer.text
    garbage = await call(node, "POST", "/api/admin/questions", admin, content=b"{not json")
    assert garbage.status_code == 400
    assert (await call(node, "POST", "/api/admin/questions", admin, json=good)).status_code == 201
    again = await call(node, "POST", "/api/admin/questions", admin, json=good)
    assert again.status_code == 409 and again.json()["error"]["field"] == "id"
    renamed = await call(node, "PUT", f"/api/admin/questions/{qid}", admin,
                         json={**good, "id": "another"})
    assert renamed.status_code == 400 and renamed.json()["error"]["field"] == "id"
    missing = await call(node, "PUT", "/api/admin/questions/no-such-question", admin,
                         json={**good, "id": "no-such-question"})
    assert missing.status_code == 404
    nothing = await call(node, "POST", f"/api/admin/questions/{qid}/versions/9/publish", admin)
    assert nothing.status_code == 404


async def test_prerequisites_stay_sound_among_offered_questions(node: RunningNode,
                                                                database_url: str) -> None:
    admin = await admin_of(node, database_url)
    first, then = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("first", "then"))
    for qid, needs in ((first, []), (then, [first])):
        made = await call(node, "POST", "/api/admin/questions", admin,
                          json={**authored(qid, qid, 1), "prerequisites": needs})
        assert made.status_code == 201
    # `then` needs `first`, which is not offered yet.
    early = await call(node, "POST", f"/api/admin/questions/{then}/versions/1/publish", admin)
    assert early.status_code == 409 and early.json()["error"]["field"] == "prerequisites"
    for qid in (first, then):
        published = await call(node, "POST", f"/api/admin/questions/{qid}/versions/1/publish",
                               admin)
        assert published.status_code == 200, published.text
    needed = await call(node, "POST", f"/api/admin/questions/{first}/versions/1/retire", admin)
    assert needed.status_code == 409 and then in needed.json()["error"]["message"]
    for qid in (then, first):
        retired = await call(node, "POST", f"/api/admin/questions/{qid}/versions/1/retire", admin)
        assert retired.status_code == 200, retired.text


async def test_the_http_bundle_round_trips(node: RunningNode, database_url: str) -> None:
    admin = await admin_of(node, database_url)
    learner = await register(node)
    exported = await call(node, "GET", "/api/admin/content/export", admin)
    assert exported.status_code == 200
    bundle = exported.json()
    assert {e["question"]["id"] for e in bundle["questions"]} >= {
        q.id for q in shipped_questions()}
    same = await call(node, "POST", "/api/admin/content/import", admin, json=bundle)
    assert same.json() == {"added": 0, "unchanged": len(bundle["questions"]),
                           "states_changed": 0}

    qid = f"bundled-{uuid.uuid4().hex[:8]}"
    bundle["questions"].append({"state": "published", "question": authored(qid, "Bundled", 1)})
    added = await call(node, "POST", "/api/admin/content/import", admin, json=bundle)
    assert added.json()["added"] == 1
    assert qid in await offered_ids(node, learner)
    # A version stored before a field with a default existed is the same question still.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE questions SET body = body - 'prerequisites' WHERE id = $1",
                           qid)
    finally:
        await conn.close()
    again = await call(node, "POST", "/api/admin/content/import", admin, json=bundle)
    assert again.status_code == 200 and again.json()["added"] == 0, again.text

    # A version never changes: the same number with other content is refused, nothing kept.
    changed = [{"state": "published", "question": authored(qid, "Changed", 1)},
               {"state": "published", "question": authored(f"{qid}-x", "Extra", 1)}]
    conflict = await call(node, "POST", "/api/admin/content/import", admin,
                          json={"format": bundle["format"], "questions": changed})
    assert conflict.status_code == 409
    assert f"{qid}-x" not in await offered_ids(node, learner)
    broken = await call(node, "POST", "/api/admin/content/import", admin, json={
        "format": bundle["format"],
        "questions": [{"state": "published", "question": {**authored(qid, "B", 1),
                                                           "hints": []}}]})
    assert broken.status_code == 400 and broken.json()["error"]["field"] == "hints"
    assert "questions[0]" in broken.json()["error"]["message"]


async def _fresh_database(database_url: str) -> str:
    name = f"content_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def test_cli_export_and_import_round_trip_the_bank(node: RunningNode, database_url: str,
                                                         tmp_path: Path) -> None:
    admin = await admin_of(node, database_url)
    qid = f"filed-{uuid.uuid4().hex[:8]}"
    await call(node, "POST", "/api/admin/questions", admin, json=authored(qid, "Filed v1", 1))
    await call(node, "PUT", f"/api/admin/questions/{qid}", admin,
               json=authored(qid, "Filed v2", 2))
    await call(node, "POST", f"/api/admin/questions/{qid}/versions/1/publish", admin)

    first, second = tmp_path / "first", tmp_path / "second"
    out = wingman(database_url, tmp_path / "data", "content", "export", str(first))
    assert out.returncode == 0, out.stderr
    assert (first / f"{qid}.v2.json").exists() and (first / "states.json").exists()

    copy = await _fresh_database(database_url)
    put = wingman(copy, tmp_path / "data", "content", "import", str(first))
    assert put.returncode == 0, put.stderr
    assert wingman(copy, tmp_path / "data", "content", "export", str(second)).returncode == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    _, differ, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert not differ and not errors
    conn = await asyncpg.connect(copy)
    try:
        states = dict(await conn.fetch(
            "SELECT version, state FROM questions WHERE id = $1", qid))
    finally:
        await conn.close()
    assert states == {1: "published", 2: "draft"}

    again = wingman(copy, tmp_path / "data", "content", "import", str(first))
    assert again.returncode == 0 and "0 new versions" in again.stdout
    edited = (first / f"{qid}.v2.json").read_text().replace("Filed v2", "Filed v2, edited")
    (first / f"{qid}.v2.json").write_text(edited)
    refused = wingman(copy, tmp_path / "data", "content", "import", str(first))
    assert refused.returncode == 1 and "new version" in refused.stderr
    (first / f"{qid}.v2.json").write_text(edited.replace('"hints"', '"hint"'))
    invalid = wingman(copy, tmp_path / "data", "content", "import", str(first))
    assert invalid.returncode == 2 and f"{qid}.v2.json" in invalid.stderr


@pytest.fixture(scope="module")
def two_nodes(database_url: str, redis_url: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, ...]]:
    folder = tmp_path_factory.mktemp("content-nodes")
    with ExitStack() as stack:
        yield tuple(stack.enter_context(running_node(
            database_url, folder / name, REDIS_URL=redis_url, NODE_ID=name))
            for name in ("content-a", "content-b"))


async def test_the_pinned_version_holds_on_another_node(two_nodes: tuple[RunningNode, ...],
                                                        database_url: str) -> None:
    a, b = two_nodes
    admin = await admin_of(a, database_url)
    # Not kept: only the session's record in Redis knows which version it is on.
    learner = await register(a, consent=False)
    qid = f"shared-{uuid.uuid4().hex[:8]}"
    await call(a, "POST", "/api/admin/questions", admin, json=authored(qid, "Shared v1", 1))
    await call(a, "POST", f"/api/admin/questions/{qid}/versions/1/publish", admin)
    on_a = await open_client(a, learner.token)
    sid, shown = await start(on_a, qid)
    assert shown["version"] == 1

    await call(a, "PUT", f"/api/admin/questions/{qid}", admin, json=authored(qid, "Shared v2", 2))
    await call(a, "POST", f"/api/admin/questions/{qid}/versions/2/publish", admin)
    await on_a.ok("session.leave", sid=sid)
    on_b = await open_client(b, learner.token)
    joined = await on_b.ok("session.join", sid=sid, role="learner")
    assert joined["snapshot"]["question"]["title"] == "Shared v1"
    assert await passes_tests(on_b, sid, RIGHT_FOR_V1)
    # Node b learns of the publish made through node a when a session starts.
    _, shown = await start(on_b, qid)
    assert (shown["title"], shown["version"]) == ("Shared v2", 2)


async def test_a_kept_session_keeps_its_version_across_a_restart(
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("content-restart")
    qid = f"restarted-{uuid.uuid4().hex[:8]}"
    with running_node(database_url, folder) as first:
        admin = await admin_of(first, database_url)
        learner = await register(first)
        await call(first, "POST", "/api/admin/questions", admin,
                   json=authored(qid, "Restarted v1", 1))
        await call(first, "POST", f"/api/admin/questions/{qid}/versions/1/publish", admin)
        client = await open_client(first, learner.token)
        sid, _ = await start(client, qid)
        await call(first, "PUT", f"/api/admin/questions/{qid}", admin,
                   json=authored(qid, "Restarted v2", 2))
        await call(first, "POST", f"/api/admin/questions/{qid}/versions/2/publish", admin)
        await client.ws.close()
    # A new process knows the session from storage only (its record names the version).
    with running_node(database_url, folder) as second:
        client = await open_client(second, learner.token)
        joined = await client.ok("session.join", sid=sid, role="learner")
        assert joined["snapshot"]["question"]["title"] == "Restarted v1"
        assert await passes_tests(client, sid, RIGHT_FOR_V1)
