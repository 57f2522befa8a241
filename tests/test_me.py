"""A person's rights over their data, over real HTTP, sockets and Postgres: consent withdrawn
erases what was kept, an export holds everything, a deleted account is gone everywhere."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest

from storage.db import open_pool
from storage.trace import TraceRow, TraceStore, TraceWriter
from tests.client import Account, Client, http_get, open_client, register
from tests.components import RunningNode, running_node
from tests.test_cli import wingman


async def _session_with_a_run(node: RunningNode, account: Account) -> tuple[Client, str]:
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    run_id = (await client.ok("code.run", sid=sid, mode="run", code="print('mine')"))["run_id"]
    await client.until("run.finished", run_id=run_id)
    return client, sid


async def _stored_events(node: RunningNode, account: Account, sid: str, at_least: int) -> int:
    with anyio.fail_after(10):
        while True:
            answer = await http_get(node, f"/api/sessions/{sid}/trace", account.token)
            if answer.status_code == 200 and len(answer.json()["events"]) >= at_least:
                return len(answer.json()["events"])
            await anyio.sleep(0.1)


async def _call(node: RunningNode, method: str, path: str, account: Account,
                **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=node.url) as http:
        headers = {"Authorization": f"Bearer {account.token}"}
        return await http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def second_node(database_url: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("me-second")) as running:
        yield running


async def test_withdrawing_consent_erases_traces_and_stops_keeping(node: RunningNode,
                                                                  database_url: str) -> None:
    account = await register(node, consent=True)
    client, sid = await _session_with_a_run(node, account)
    await _stored_events(node, account, sid, at_least=4)
    changed = await _call(node, "PATCH", "/api/me", account, json={"consent": False})
    assert changed.status_code == 200
    assert changed.json()["consent"] is False and changed.json()["erased"]["sessions"] == 1
    assert (await http_get(node, f"/api/sessions/{sid}/trace", account.token)).status_code == 404
    # The live session goes on, and nothing of it is kept any more.
    await client.ok("code.update", sid=sid, code="# still here")
    await anyio.sleep(0.5)
    conn = await asyncpg.connect(database_url)
    try:
        kept = await conn.fetchval("SELECT count(*) FROM trace_events WHERE sid = $1",
                                   uuid.UUID(sid))
    finally:
        await conn.close()
    assert kept == 0
    assert (await _call(node, "GET", "/api/me/sessions", account)).json() == []


async def test_export_holds_the_account_and_every_event(node: RunningNode) -> None:
    account = await register(node, consent=True, name="Exporter")
    _, sid = await _session_with_a_run(node, account)
    stored = await _stored_events(node, account, sid, at_least=4)
    answer = await _call(node, "GET", "/api/me/export", account)
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    body = answer.json()
    assert body["account"]["email"] == account.email and body["account"]["name"] == "Exporter"
    [session] = body["sessions"]
    assert session["sid"] == sid and len(session["events"]) >= stored
    assert any(e["kind"] == "run.output" and "mine" in e["data"]["chunk"]
               for e in session["events"])
    assert body["sign_ins"] and "token" not in str(body["sign_ins"])


async def test_deleting_the_account_removes_it_everywhere(
        node: RunningNode, second_node: RunningNode, database_url: str) -> None:
    account = await register(node, consent=True)
    client, sid = await _session_with_a_run(node, account)
    elsewhere = await open_client(second_node, account.token)
    await _stored_events(node, account, sid, at_least=4)

    refused = await _call(node, "DELETE", "/api/me", account, json={})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "confirm"

    began = time.monotonic()
    deleted = await _call(node, "DELETE", "/api/me", account, json={"confirm": True})
    assert deleted.status_code == 200 and deleted.json()["sessions"] == 1
    await client.until("session.ended")
    for socket in (client, elsewhere):
        assert await socket.close_code(within=5) == 4401
    assert time.monotonic() - began < 5
    async with httpx.AsyncClient(base_url=node.url) as http:
        login = await http.post("/auth/login", json={"email": account.email,
                                                     "password": account.password})
    assert login.status_code == 401
    conn = await asyncpg.connect(database_url)
    try:
        key = uuid.UUID(account.user)
        assert await conn.fetchval("SELECT count(*) FROM users WHERE id = $1", key) == 0
        assert await conn.fetchval("SELECT count(*) FROM sessions WHERE learner_id = $1",
                                   key) == 0
        assert await conn.fetchval("SELECT count(*) FROM trace_events WHERE sid = $1",
                                   uuid.UUID(sid)) == 0
        assert await conn.fetchval("SELECT count(*) FROM refresh_tokens WHERE user_id = $1",
                                   key) == 0
    finally:
        await conn.close()


async def test_events_queued_for_an_erased_session_are_not_written_back(
        node: RunningNode, database_url: str) -> None:
    sid = str(uuid.uuid4())
    pool = await open_pool(database_url)
    try:
        await pool.execute("INSERT INTO trace_tombstones (sid) VALUES ($1)", uuid.UUID(sid))
        writer = TraceWriter(TraceStore(pool), batch=10, flush_seconds=0.05, capacity=100)
        for seq in (1, 2):
            writer.add(TraceRow(sid, seq, 1, int(time.time() * 1000), "code.updated", "u",
                                "learner", {"code": "x"}, None))
        assert await writer.flush()
        assert await pool.fetchval("SELECT count(*) FROM trace_events WHERE sid = $1",
                                   uuid.UUID(sid)) == 0
    finally:
        await pool.close()


async def test_a_role_change_takes_effect_at_once(node: RunningNode, database_url: str,
                                                 tmp_path: Path) -> None:
    account = await register(node)
    client = await open_client(node, account.token)
    changed = wingman(database_url, tmp_path, "user", "roles", account.email, "learner", "mentor")
    assert changed.returncode == 0, changed.stderr
    assert await client.close_code(within=5) == 4401
    async with httpx.AsyncClient(base_url=node.url) as http:
        login = await http.post("/auth/login", json={"email": account.email,
                                                     "password": account.password})
    assert sorted(login.json()["user"]["roles"]) == ["learner", "mentor"]
