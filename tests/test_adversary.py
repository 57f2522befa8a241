"""An adversary's cases not already proved elsewhere, over real HTTP and sockets. Each ends in a
clear error and changes nothing (the other cases live beside the feature they attack:
test_tokens, test_session, test_lifecycle, test_ratelimits, test_me, test_pii)."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.client import http_get, open_client, register
from tests.components import RunningNode
from tests.test_cli import wingman

NASTY = ["'; DROP TABLE users; --", "\" OR 1=1 --", "$1", "%s%s%n", "\\x00", "../../etc/passwd",
         "<script>alert(1)</script>", "‮evil", "😀" * 10]


async def test_http_without_a_token_is_401_everywhere(node: RunningNode) -> None:
    async with httpx.AsyncClient(base_url=node.url) as http:
        for path in ("/api/questions", "/api/questions/two-sum", "/api/me", "/api/me/export",
                     "/api/me/sessions", f"/api/sessions/{uuid.uuid4()}/trace"):
            answer = await http.get(path)
            assert answer.status_code == 401, path
            assert answer.json()["error"]["code"] == "unauthenticated"
        assert (await http.delete("/api/me")).status_code == 401


async def test_an_uninvited_mentor_cannot_observe(node: RunningNode, database_url: str,
                                                 tmp_path: Path) -> None:
    learner = await register(node)
    owner = await open_client(node, learner.token)
    sid = (await owner.ok("session.create", question_id="two-sum"))["sid"]
    mentor = await register(node)
    assert wingman(database_url, tmp_path, "user", "roles", mentor.email, "mentor").returncode == 0
    async with httpx.AsyncClient(base_url=node.url) as http:
        token = (await http.post("/auth/login", json={"email": mentor.email,
                                                      "password": mentor.password})
                 ).json()["access_token"]
    spy = await open_client(node, token)
    answer = await spy.request("session.join", sid=sid, role="observer")
    assert answer["error"]["code"] == "forbidden"
    assert (await http_get(node, f"/api/sessions/{sid}/trace", token)).status_code == 403


async def test_others_cannot_end_a_session_or_cancel_its_run(node: RunningNode) -> None:
    owner_account = await register(node)
    owner = await open_client(node, owner_account.token)
    sid = (await owner.ok("session.create", question_id="two-sum"))["sid"]
    await owner.ok("session.join", sid=sid, role="learner")
    run_id = (await owner.ok("code.run", sid=sid, mode="run",
                             code="import time\ntime.sleep(2)\nprint('done')"))["run_id"]
    stranger = await open_client(node, (await register(node)).token)
    assert (await stranger.request("run.cancel", sid=sid, run_id=run_id))["error"]["code"] == \
        "forbidden"
    assert (await stranger.request("session.end", sid=sid))["error"]["code"] == "forbidden"
    finished = await owner.until("run.finished", run_id=run_id)
    assert finished["data"]["limit"] is None and finished["data"]["exit_code"] == 0


async def test_sql_metacharacters_in_every_text_field_are_just_text(node: RunningNode) -> None:
    async with httpx.AsyncClient(base_url=node.url) as http:
        for nasty in NASTY:
            answer = await http.post("/auth/register", json={
                "email": f"x{uuid.uuid4().hex[:6]}@example.com", "password": "long enough pw",
                "name": nasty, "consent": True})
            assert answer.status_code == 200, nasty
            assert answer.json()["user"]["name"] == nasty.strip()
            login = await http.post("/auth/login", json={"email": nasty, "password": nasty})
            assert login.status_code == 401
    account = await register(node)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    for nasty in NASTY:
        assert (await client.request("session.create", question_id=nasty))["error"]["code"] == \
            "not_found"
        assert (await client.request("session.join", sid=nasty))["error"]["code"] == "not_found"
        await client.ok("code.update", sid=sid, code=nasty)
    for nasty in NASTY[:3]:  # tutor turns are rate-limited per user; three make the point
        turn = await client.ok("tutor.ask", sid=sid, text=nasty)
        await client.until("tutor.turn.end", turn_id=turn["turn_id"])
    async with httpx.AsyncClient(base_url=node.url) as http:
        headers = {"Authorization": f"Bearer {account.token}"}
        assert (await http.get(f"/api/questions/{NASTY[0]}", headers=headers)).status_code == 404
        assert (await http.get("/api/sessions/' OR 1=1 --/trace",
                               headers=headers)).status_code == 404
    assert "ts" in await client.ok("ping")


async def test_megabyte_strings_are_refused_and_nothing_breaks(node: RunningNode) -> None:
    huge = "A" * (1024 * 1024)
    async with httpx.AsyncClient(base_url=node.url) as http:
        for body in ({"email": huge, "password": "x", "name": "x", "consent": True},
                     {"email": "a@b.co", "password": huge, "name": "x", "consent": True},
                     {"email": "a@b.co", "password": "long enough", "name": huge}):
            answer = await http.post("/auth/register", json=body)
            assert answer.status_code == 413
            assert answer.json()["error"]["code"] == "too_large"
        assert (await http.post("/auth/login", json={"email": huge, "password": huge})
                ).status_code == 413
    account = await register(node)
    for field in ("code", "text", "question_id", "sid"):
        client = await open_client(node, account.token)
        kind = {"code": "code.update", "text": "tutor.ask", "question_id": "session.create",
                "sid": "session.join"}[field]
        await client.send({"type": kind, "ref": 1, "sid": "x", field: huge})
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(5):
                await client.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    survivor = await open_client(node, account.token)
    assert "ts" in await survivor.ok("ping")


async def test_cookie_requests_from_another_site_are_refused(node: RunningNode) -> None:
    account = await register(node)
    async with httpx.AsyncClient(base_url=node.url) as http:
        login = await http.post("/auth/login", json={"email": account.email,
                                                     "password": account.password})
        cookie = login.headers["set-cookie"].split(";", 1)[0]
        for path in ("/auth/refresh", "/auth/logout"):
            answer = await http.post(path, headers={"Cookie": cookie,
                                                    "Origin": "https://evil.example"})
            assert answer.status_code == 403, path
        still = await http.post("/auth/refresh", headers={"Cookie": cookie})
        assert still.status_code == 200


async def test_frames_that_break_parsers_get_bad_request(node: RunningNode) -> None:
    client = await open_client(node, (await register(node)).token)
    for frame in ("[" * 10_000, '{"type": "ping", "ref": 1, "x": ' + "[" * 10_000 + "}"):
        await client.send(frame)
        reply = await client.receive()
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    await client.send(b"\xff\xfe not utf-8")
    assert (await client.receive())["error"]["code"] == "bad_request"
    long_key = await client.request("ping", key="k" * 500)
    assert long_key["error"]["code"] == "too_large" and long_key["error"]["field"] == "key"
    assert "ts" in await client.ok("ping")
    binary_auth = await open_client(node, None, authenticate=False)
    await binary_auth.send(b'{"type": "auth", "ref": 1, "token": "x"}')
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(3):
            await binary_auth.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_hostile_return_values_end_the_run_not_the_node(node: RunningNode) -> None:
    account = await register(node)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    bystander = await open_client(node, (await register(node)).token)
    for body in ("return '\\ud800'", "return float('nan')", "return [[[[0]]]] if False else "
                 "eval('[' * 900 + ']' * 900)", "import os; os._exit(7) if nums[0] > 1000 "
                 "else None; return [0, 1]"):
        code = f"def two_sum(nums, target):\n    {body}\n"
        run_id = (await client.ok("code.run", sid=sid, mode="test", code=code))["run_id"]
        done = (await client.until("run.finished", run_id=run_id))["data"]
        assert "error" not in done, body
        assert done["exit_code"] in (0, None), body  # never the hidden phase's exit code
        assert not all(t["passed"] for t in done["tests"]), body
    assert "ts" in await bystander.ok("ping")
    async with httpx.AsyncClient(base_url=node.url) as http:
        assert (await http.get("/readyz")).status_code == 200


async def test_one_session_has_one_spelling(node: RunningNode) -> None:
    account = await register(node)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    joined = await client.ok("session.join", sid=sid, role="learner")
    for alias in (sid.upper(), "{" + sid + "}", "urn:uuid:" + sid, sid.replace("-", "")):
        other = await open_client(node, account.token)
        again = await other.ok("session.join", sid=alias, role="learner")
        assert again["sid"] == sid and again["epoch"] == joined["epoch"]
        assert again["seq"] >= joined["seq"]


async def test_the_joiner_is_announced_and_present(node: RunningNode) -> None:
    account = await register(node, name="Present")
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    joined = await client.until("presence.join")
    assert joined["data"] == {"user": account.user, "role": "learner", "name": "Present"}
    other = await open_client(node, account.token)
    snapshot = (await other.ok("session.join", sid=sid, role="learner"))["snapshot"]
    assert {"user": account.user, "role": "learner", "name": "Present"} in snapshot["present"]


async def test_bad_http_bodies_are_refused_cheaply(node: RunningNode) -> None:
    async with httpx.AsyncClient(base_url=node.url) as http:
        answer = await http.post("/auth/login", content=b'{"email": "\xff", "password": "x"}',
                                 headers={"Content-Type": "application/json"})
        assert answer.status_code == 400
        host, port = node.url.removeprefix("http://").split(":")
        async with await anyio.connect_tcp(host, int(port)) as raw:
            # Declares 300 MiB and sends a little: refused at once, without reading it all.
            await raw.send(b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"application/json\r\nContent-Length: 314572800\r\n\r\n{}")
            with anyio.fail_after(5):
                status = await raw.receive()
        assert status.startswith(b"HTTP/1.1 413")
        account = await register(node)
        headers = {"Authorization": f"Bearer {account.token}"}
        far = await http.get(f"/api/sessions/{uuid.uuid4()}/trace?after=99999999999999999999",
                             headers=headers)
        assert far.status_code == 404


async def test_the_tutor_reads_code_too_deep_to_parse(node: RunningNode) -> None:
    client = await open_client(node, (await register(node)).token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    await client.ok("code.update", sid=sid, code="x = " + "+".join(["1"] * 15_000))
    turn = await client.ok("tutor.ask", sid=sid, text="what now?")
    await client.until("tutor.turn.end", turn_id=turn["turn_id"])


async def test_other_sites_get_no_cors_grant_and_names_stay_out_of_traces(
        node: RunningNode, database_url: str) -> None:
    async with httpx.AsyncClient(base_url=node.url) as http:
        preflight = await http.options("/api/me", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers
        page = await http.get("/")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
    account = await register(node, consent=True, name="Secret Name")
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    await client.until("presence.join")
    await client.ok("session.end", sid=sid)
    await client.until("session.ended")
    conn = await asyncpg.connect(database_url)
    try:
        with anyio.fail_after(10):
            while True:  # the trace writer persists within about 100 ms
                if await conn.fetchval("SELECT count(*) FROM trace_events WHERE sid = $1"
                                       " AND kind = 'session.ended'", uuid.UUID(sid)):
                    break
                await anyio.sleep(0.1)
        rows = await conn.fetch("SELECT data::text AS data FROM trace_events WHERE sid = $1",
                                uuid.UUID(sid))
    finally:
        await conn.close()
    assert rows and not any("Secret Name" in r["data"] for r in rows)
