"""Rate limits over real nodes: logins and registrations over HTTP, frames, runs and tutor turns
over /ws, and one budget for nodes sharing a Redis (or none at all while Redis is down)."""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.client import open_client
from tests.components import RunningNode, free_port, running_node

PASSWORD = "correct horse battery"
_addresses = itertools.count(1)
SMALL_LIMITS = {
    # Slow refills, as a password check takes a good part of a second on a busy machine.
    "RATE_LOGIN_ACCOUNT": "3/9s",
    "RATE_LOGIN_ADDRESS": "5/30s",
    "RATE_REGISTER_ADDRESS": "2/30s",
    "RATE_FRAMES": "20/s burst 40",
    "RATE_RUNS": "1/s burst 2",
    "RATE_TUTOR_TURNS": "1/2s burst 1",
    # Above BAD_FRAMES_BEFORE_CLOSE (20): if refused frames counted as bad, 1008 would come first.
    "RATE_LIMITED_BEFORE_CLOSE": "30",
}


@pytest.fixture(scope="module")
def limited(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("limited"), **SMALL_LIMITS) as node:
        yield node


def address() -> str:
    """A client address of its own (uvicorn trusts X-Forwarded-For from 127.0.0.1)."""
    n = next(_addresses)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


async def post(node: RunningNode, path: str, body: dict[str, Any],
               at: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": at or address()}
    async with httpx.AsyncClient(base_url=node.url) as http:
        return await http.post(path, json=body, headers=headers)


async def new_account(node: RunningNode) -> tuple[str, str]:
    """A fresh account's email and access token."""
    email = f"limits-{uuid.uuid4().hex[:10]}@example.com"
    answer = await post(node, "/auth/register", {"email": email, "password": PASSWORD,
                                                 "name": "Ada", "consent": False})
    assert answer.status_code == 200, answer.text
    return email, answer.json()["access_token"]


async def until_limited(attempt: Callable[[int], Awaitable[httpx.Response]],
                        ok_status: int, most: int = 10) -> tuple[int, httpx.Response]:
    """Attempts until one is refused with 429: how many went through, and the refusal."""
    for n in range(most):
        answer = await attempt(n)
        if answer.status_code == 429:
            return n, answer
        assert answer.status_code == ok_status, answer.text
    raise AssertionError(f"{most} attempts and none refused")


def assert_limited(answer: httpx.Response) -> int:
    """A 429 as the contract has it; returns the milliseconds to wait."""
    assert answer.status_code == 429, answer.text
    error = answer.json()["error"]
    assert error["code"] == "rate_limited" and error["message"]
    wait: int = error["retry_after_ms"]
    assert wait > 0
    assert answer.headers["retry-after"] == str(math.ceil(wait / 1000))
    return wait


async def test_brute_force_on_one_account_is_refused_then_it_works_after_the_wait(
        limited: RunningNode) -> None:
    email, _ = await new_account(limited)

    async def guess(n: int) -> httpx.Response:  # each from its own address: the account limits
        return await post(limited, "/auth/login", {"email": email, "password": f"guess {n}"})

    guesses, _ = await until_limited(guess, 401)
    assert 3 <= guesses <= 4
    # Even the right password, with the email written differently: the same account's budget.
    wait = assert_limited(await post(limited, "/auth/login",
                                     {"email": f"  {email.upper()} ", "password": PASSWORD}))
    await anyio.sleep(wait / 1000)
    answer = await post(limited, "/auth/login", {"email": email, "password": PASSWORD})
    assert answer.status_code == 200 and answer.json()["access_token"]


async def test_logins_from_one_address_are_limited_whatever_the_account(
        limited: RunningNode) -> None:
    at = address()

    async def guess(n: int) -> httpx.Response:
        return await post(limited, "/auth/login",
                          {"email": f"nobody{n}@example.com", "password": "guess"}, at)

    guesses, refused = await until_limited(guess, 401)
    assert 5 <= guesses <= 6
    assert_limited(refused)
    elsewhere = await post(limited, "/auth/login",
                           {"email": "nobody5@example.com", "password": "guess"})
    assert elsewhere.status_code == 401


async def test_registrations_from_one_address_are_limited(limited: RunningNode) -> None:
    at = address()

    async def sign_up(n: int) -> httpx.Response:
        return await post(limited, "/auth/register", {
            "email": f"r-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD,
            "name": "Ada"}, at)

    signed_up, refused = await until_limited(sign_up, 200)
    assert signed_up == 2
    assert_limited(refused)


async def sessions(node: RunningNode, count: int) -> tuple[Any, list[str]]:
    _, token = await new_account(node)
    client = await open_client(node, token)
    sids = []
    for _ in range(count):
        sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
        await client.ok("session.join", sid=sid, role="learner")
        sids.append(sid)
    return client, sids


async def test_a_burst_of_runs_is_refused_and_the_connection_carries_on(
        limited: RunningNode) -> None:
    client, sids = await sessions(limited, 3)
    for ref, sid in zip("abc", sids, strict=True):
        await client.send({"type": "code.run", "ref": ref, "sid": sid, "mode": "run",
                           "code": "print('hi')"})
    assert (await client.reply("a"))["ok"] and (await client.reply("b"))["ok"]
    refused = await client.reply("c")
    assert refused["ok"] is False and refused["error"]["code"] == "rate_limited"
    wait = refused["error"]["retry_after_ms"]
    assert 0 < wait <= 1000
    assert "ts" in await client.ok("ping")
    assert not [e for e in client.events if e["kind"] == "run.started" and e["sid"] == sids[2]]
    await anyio.sleep(wait / 1000)
    run_id = (await client.ok("code.run", sid=sids[2], mode="run", code="print('hi')"))["run_id"]
    done = await client.until("run.finished", 20, run_id=run_id)
    assert done["data"]["exit_code"] == 0


async def test_tutor_turns_have_their_own_limit(limited: RunningNode) -> None:
    client, sids = await sessions(limited, 2)
    await client.ok("tutor.ask", sid=sids[0], text="where do I start?")
    refused = await client.request("tutor.ask", sid=sids[1], text="and here?")
    assert refused["error"]["code"] == "rate_limited" and refused["error"]["retry_after_ms"] > 0
    await client.ok("code.update", sid=sids[1], code="# still fine")


async def test_frames_over_the_limit_are_refused_one_by_one(limited: RunningNode) -> None:
    client, _ = await sessions(limited, 0)
    for ref in range(45):
        await client.send({"type": "ping", "ref": ref})
    answers = [await client.reply(ref) for ref in range(45)]
    refused = [a for a in answers if not a["ok"]]
    assert 1 <= len(refused) <= 10
    assert all(a["error"]["code"] == "rate_limited" and a["error"]["retry_after_ms"] > 0
               for a in refused)
    await anyio.sleep(max(a["error"]["retry_after_ms"] for a in refused) / 1000)
    assert "ts" in await client.ok("ping")


async def test_a_frame_flood_is_closed_with_4429_and_others_keep_working(
        limited: RunningNode) -> None:
    flooder, _ = await sessions(limited, 0)
    neighbour, [sid] = await sessions(limited, 1)
    flooded = anyio.Event()

    async def flood() -> None:
        with pytest.raises(ConnectionClosed) as closed:
            for ref in range(400):
                await flooder.send({"type": "ping", "ref": ref})
            while True:
                await flooder.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        flooded.set()

    async def carry_on() -> None:
        n = 0
        while not flooded.is_set():
            n += 1
            await neighbour.ok("code.update", sid=sid, code=f"# edit {n}")
            await anyio.sleep(0.05)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(flood)
            tasks.start_soon(carry_on)
    assert "ts" in await neighbour.ok("ping")


@pytest.fixture(scope="module")
def pair(database_url: str, redis_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, RunningNode]]:
    """Two nodes sharing one Redis (and one database)."""
    shared = {"REDIS_URL": redis_url, "RATE_LOGIN_ACCOUNT": "4/min"}
    with running_node(database_url, tmp_path_factory.mktemp("left"), **shared) as left, \
            running_node(database_url, tmp_path_factory.mktemp("right"), **shared) as right:
        yield left, right


async def test_nodes_sharing_a_redis_share_one_budget(
        pair: tuple[RunningNode, RunningNode]) -> None:
    left, right = pair
    email, _ = await new_account(left)
    for node in (left, right, left, right):
        wrong = await post(node, "/auth/login", {"email": email, "password": "guess"})
        assert wrong.status_code == 401
    for node in (left, right):
        assert_limited(await post(node, "/auth/login", {"email": email, "password": PASSWORD}))


async def test_a_node_whose_redis_is_down_serves_without_limits(
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    folder = tmp_path_factory.mktemp("no-redis")
    with running_node(database_url, folder, REDIS_URL=nowhere,
                      RATE_LOGIN_ACCOUNT="1/min") as node:
        email, token = await new_account(node)
        for _ in range(3):
            answer = await post(node, "/auth/login", {"email": email, "password": PASSWORD})
            assert answer.status_code == 200
        client = await open_client(node, token)
        assert "ts" in await client.ok("ping")
        assert "rate limits are not enforced" in node.log.read_text()
