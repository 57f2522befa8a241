"""Tokens that expire on a live socket, cancelled runs, idle sessions, and a node restarting."""

from __future__ import annotations

import signal
import time

import anyio
import pytest

from server.settings import Settings
from server.tokens import TokenIssuer
from tests.client import open_client, register
from tests.components import TEST_KEYS, RunningNode, running_node


def short_token(user: str, seconds: int) -> str:
    defaults = Settings()
    issuer = TokenIssuer(TEST_KEYS, defaults.jwt_issuer, defaults.jwt_audience, seconds)
    return issuer.issue(user, "Ada", ["learner"])[0]


async def test_an_expiring_token_closes_the_socket_with_4401(node: RunningNode) -> None:
    account = await register(node)
    client = await open_client(node, short_token(account.user, 2))
    began = time.monotonic()
    assert await client.close_code(within=10) == 4401
    assert 1.0 < time.monotonic() - began < 8


async def test_renewing_keeps_the_socket_and_only_for_the_same_user(node: RunningNode) -> None:
    account, other = await register(node), await register(node)
    client = await open_client(node, short_token(account.user, 3))
    refused = await client.request("auth", token=other.token)
    assert refused["error"]["code"] == "forbidden"
    renewed = await client.ok("auth", token=account.token)
    assert renewed["user"] == account.user and renewed["expires_at"] > time.time() + 60
    await anyio.sleep(4)
    assert "ts" in await client.ok("ping")


async def test_a_cancelled_run_stops_at_once(node: RunningNode) -> None:
    client = await open_client(node, (await register(node)).token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    code = "print('spinning', flush=True)\nwhile True:\n    pass\n"
    run_id = (await client.ok("code.run", sid=sid, mode="run", code=code))["run_id"]
    await client.until("run.output", run_id=run_id)
    busy = await client.request("code.run", sid=sid, mode="run", code="print(1)")
    assert busy["error"]["code"] == "conflict"
    began = time.monotonic()
    await client.ok("run.cancel", sid=sid, run_id=run_id)
    done = await client.until("run.finished", run_id=run_id)
    assert done["data"]["limit"] == "cancelled"
    assert time.monotonic() - began < 2
    again = (await client.ok("code.run", sid=sid, mode="run", code="print('next')"))["run_id"]
    assert (await client.until("run.finished", run_id=again))["data"]["exit_code"] == 0


async def test_sessions_survive_a_node_restart_and_idle_ones_end(
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("restart")
    with running_node(database_url, folder) as first:
        account = await register(first)
        client = await open_client(first, account.token)
        sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
        joined = await client.ok("session.join", sid=sid, role="learner")
        await client.ok("code.update", sid=sid, code="# before the restart")
        last = (await client.until("code.updated", code="# before the restart"))["seq"]
        await client.close()
    # SIGTERM flushed the trace; a new process has a new epoch and no history in memory.
    with running_node(database_url, folder, SESSION_IDLE_SECONDS="3") as second:
        client = await open_client(second, account.token)
        answer = await client.ok("session.join", sid=sid, role="learner",
                                 since={"epoch": joined["epoch"], "seq": last})
        assert answer["recovered"] is False and answer["epoch"] != joined["epoch"]
        assert answer["seq"] >= last
        assert answer["snapshot"]["code"] == "# before the restart"
        await client.ok("code.update", sid=sid, code="# after")
        after = await client.until("code.updated", code="# after")
        assert after["seq"] > last
        ended = await client.until("session.ended", within=20)
        assert ended["data"]["reason"] == "idle"


async def test_a_run_lost_with_its_node_is_finished_after_the_restart(
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("killed")
    with running_node(database_url, folder) as doomed:
        account = await register(doomed)
        client = await open_client(doomed, account.token)
        sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
        await client.ok("session.join", sid=sid, role="learner")
        code = "print('spinning', flush=True)\nwhile True:\n    pass\n"
        run_id = (await client.ok("code.run", sid=sid, mode="run", code=code))["run_id"]
        await client.until("run.output", run_id=run_id)
        await anyio.sleep(0.5)  # the trace writer's batch interval is 100 ms
        doomed.stop(signal.SIGKILL)
    with running_node(database_url, folder) as revived:
        client = await open_client(revived, account.token)
        snapshot = (await client.ok("session.join", sid=sid, role="learner"))["snapshot"]
        [lost] = [r for r in snapshot["runs"] if r["run_id"] == run_id]
        assert lost["finished"]["limit"] == "lost"
        again = (await client.ok("code.run", sid=sid, mode="run", code="print(2)"))["run_id"]
        assert (await client.until("run.finished", run_id=again))["data"]["exit_code"] == 0
