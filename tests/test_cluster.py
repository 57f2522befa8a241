"""Several real nodes on one real Redis, and the same on a real three-master Redis Cluster: one
order everywhere, decisions made once, runs owned by their node, presence across nodes, and what
happens when a node or Redis goes away."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis

from realtime.keys import session_keys
from server.settings import Settings
from server.tokens import TokenIssuer
from tests.client import Account, Client, grant_roles, http_get, open_client, register
from tests.components import (
    TEST_KEYS,
    RunningNode,
    RunningRedisCluster,
    free_port,
    redis_cluster,
    redis_server,
    running_node,
)

WRONG = "def two_sum(nums, target):\n    return [0, 0]\n"
SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(60)\n"
# Nodes beat fast and are declared dead quickly, so the tests need not wait long.
CLUSTER_ENV = {"NODE_HEARTBEAT_SECONDS": "0.3", "NODE_TTL_SECONDS": "2",
               # These tests send bursts from one user on purpose.
               "RATE_FRAMES": "10000/s burst 10000"}


@dataclass
class Backing:
    """The Redis the nodes share: one redis-server, or a Redis Cluster of three masters."""

    url: str
    shards: RunningRedisCluster | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_CLUSTER": "true"} if self.shards else {}

    @property
    def ports(self) -> list[int]:
        return self.shards.ports if self.shards else [int(self.url.rsplit(":", 1)[1][:-2])]


@contextmanager
def backing(kind: str, folder: Path) -> Iterator[Backing]:
    if kind == "cluster":
        with redis_cluster(folder) as shards:
            yield Backing(shards.url, shards)
    else:
        with redis_server(folder) as url:
            yield Backing(url)


def start_nodes(stack: ExitStack, database_url: str, redis: str | Backing, folder: Path,
                names: tuple[str, ...], **env: str) -> dict[str, RunningNode]:
    url, extra = (redis.url, redis.env) if isinstance(redis, Backing) else (redis, {})
    return {name: stack.enter_context(running_node(
        database_url, folder / name, REDIS_URL=url, NODE_ID=name, **CLUSTER_ENV, **extra, **env))
        for name in names}


@contextmanager
def nodes_on_own_redis(database_url: str, folder: Path, names: tuple[str, ...],
                       **env: str) -> Iterator[dict[str, RunningNode]]:
    """Nodes sharing one fresh redis-server of their own, stopped on leaving."""
    with ExitStack() as stack:
        url = stack.enter_context(redis_server(folder / "redis"))
        yield start_nodes(stack, database_url, url, folder, names, **env)


@pytest.fixture(scope="module", params=["redis", "cluster"])
def shared_redis(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backing]:
    with backing(request.param, tmp_path_factory.mktemp(f"shared-{request.param}")) as redis:
        yield redis


@pytest.fixture(scope="module")
def cluster(database_url: str, shared_redis: Backing,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningNode]]:
    folder = tmp_path_factory.mktemp("cluster")
    with ExitStack() as stack:
        yield start_nodes(stack, database_url, shared_redis, folder, ("a", "b"),
                          HISTORY_EVENTS="40")


def admin_token(user: str) -> str:
    settings = Settings()
    return TokenIssuer(TEST_KEYS, settings.jwt_issuer, settings.jwt_audience, 600).issue(
        user, "Root", ["learner", "admin"])[0]


async def learner_on(node: RunningNode, consent: bool = True) -> tuple[Account, Client, str]:
    account = await register(node, consent=consent)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    return account, client, sid


async def learner_on_both(a: RunningNode, b: RunningNode) -> tuple[Account, Client, Client, str]:
    """A learner with one tab on each node."""
    account, tab_a, sid = await learner_on(a)
    tab_b = await open_client(b, account.token)
    await tab_b.ok("session.join", sid=sid, role="learner")
    return account, tab_a, tab_b, sid


async def admin_on(node: RunningNode, sid: str, **join: Any) -> tuple[Client, dict[str, Any]]:
    account = await register(node, name="Root")
    client = await open_client(node, admin_token(account.user))
    joined = await client.ok("session.join", sid=sid, role="observer", **join)
    return client, joined


def seen(client: Client, sid: str) -> list[tuple[int, int, str, Any]]:
    return [(e["epoch"], e["seq"], e["kind"], e["data"]) for e in client.events
            if e["sid"] == sid]


async def settle(*clients: Client, quiet: float = 0.5) -> None:
    """Read until no client has received anything for a moment."""
    for client in clients:
        while True:
            try:
                await client.receive(quiet)
            except TimeoutError:
                break


async def test_an_invited_mentor_on_another_node_sees_what_the_learner_sees(
        cluster: dict[str, RunningNode], database_url: str) -> None:
    a, b = cluster["a"], cluster["b"]
    _, learner, sid = await learner_on(a)
    mentor = await grant_roles(b, database_url, await register(b, name="Mia"),
                              ["learner", "mentor"])
    invite = (await learner.ok("mentor.invite", sid=sid, mentor=mentor.email))["invite"]
    watcher = await open_client(b, mentor.token)
    await watcher.ok("mentor.invite.accept", invite=invite)
    joined = await watcher.ok("session.join", sid=sid, role="observer")
    await learner.until("presence.join", user=mentor.user, role="observer")

    await learner.ok("code.update", sid=sid, code=WRONG)
    run_id = (await learner.ok("code.run", sid=sid, mode="test"))["run_id"]
    await learner.until("run.finished", run_id=run_id)
    turn_id = (await learner.ok("tutor.ask", sid=sid, text="why does it fail?"))["turn_id"]
    await learner.until("tutor.turn.end", turn_id=turn_id)
    await watcher.ok("mentor.note", sid=sid, text="Look at the indices.")
    await learner.until("mentor.note")
    await watcher.until("tutor.turn.end", turn_id=turn_id)
    await settle(learner, watcher)

    after_join = [e for e in seen(learner, sid) if e[1] > joined["seq"]]
    assert after_join == seen(watcher, sid)
    kinds = [e[2] for e in after_join]
    assert kinds[:2] == ["presence.join", "code.updated"]
    assert {"run.started", "run.finished", "tutor.delta", "mentor.note"} <= set(
        kinds)


async def test_events_from_both_nodes_at_once_form_one_gapless_order(
        cluster: dict[str, RunningNode]) -> None:
    a, b = cluster["a"], cluster["b"]
    _account, tab_a, tab_b, sid = await learner_on_both(a, b)
    watch_a, _ = await admin_on(a, sid)
    watch_b, _ = await admin_on(b, sid)
    first = max((e["seq"] for e in watch_b.events), default=0)

    async def type_in(tab: Client, label: str) -> None:
        for i in range(50):
            await tab.send({"type": "code.update", "ref": f"{label}{i}", "sid": sid,
                            "code": f"# {label} {i}\n"})

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(type_in, tab_a, "a")
        tasks.start_soon(type_in, tab_b, "b")
    clients = (tab_a, tab_b, watch_a, watch_b)
    for client in clients:
        await client.until("code.updated", code="# a 49\n")
        await client.until("code.updated", code="# b 49\n")
    await settle(*clients)

    orders = [[e for e in seen(c, sid) if e[2] == "code.updated" and e[1] > first]
              for c in clients]
    assert orders[0] == orders[1] == orders[2] == orders[3]
    codes = [e[3]["code"] for e in orders[0]]
    assert sorted(codes) == sorted([f"# a {i}\n" for i in range(50)] +
                                   [f"# b {i}\n" for i in range(50)])
    for client in clients:
        seqs = [e[1] for e in seen(client, sid)]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a repeat"


async def test_two_tabs_on_two_nodes_cannot_both_unlock_a_hint(
        cluster: dict[str, RunningNode]) -> None:
    a, b = cluster["a"], cluster["b"]
    _account, tab_a, tab_b, sid = await learner_on_both(a, b)

    answers: list[dict[str, Any]] = []

    async def ask(tab: Client) -> None:
        answers.append(await tab.request("hint.request", sid=sid))

    for _ in range(3):
        answers.clear()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask, tab_a)
            tasks.start_soon(ask, tab_b)
        given = [x for x in answers if x["ok"]]
        assert len(given) == 1, answers
        refused = next(x for x in answers if not x["ok"])
        assert refused["error"]["code"] in ("hint_locked", "conflict")
        level = given[0]["data"]["level"]
        # The next level needs a new attempt, made from either tab.
        run_id = (await tab_b.ok("code.run", sid=sid, mode="test", code=WRONG))["run_id"]
        await tab_a.until("run.finished", run_id=run_id)
    await settle(tab_a, tab_b)
    levels = [e[3]["level"] for e in seen(tab_a, sid) if e[2] == "hint.given"]
    assert levels == [1, 2, 3] and level == 3


async def test_cancel_on_another_node_reaches_the_node_running_it(
        cluster: dict[str, RunningNode]) -> None:
    a, b = cluster["a"], cluster["b"]
    _account, tab_a, tab_b, sid = await learner_on_both(a, b)
    run_id = (await tab_a.ok("code.run", sid=sid, mode="run", code=SLEEPER))["run_id"]
    await tab_b.until("run.output", run_id=run_id)
    started = time.monotonic()
    assert await tab_b.ok("run.cancel", sid=sid, run_id=run_id) == {}
    finished = await tab_b.until("run.finished", run_id=run_id)
    assert finished["data"]["limit"] == "cancelled"
    assert time.monotonic() - started < 5
    wrong = await tab_b.request("run.cancel", sid=sid, run_id=str(uuid.uuid4()))
    assert wrong["error"]["code"] == "not_found"


async def test_presence_is_one_across_nodes(cluster: dict[str, RunningNode]) -> None:
    a, b = cluster["a"], cluster["b"]
    account, tab_a, sid = await learner_on(a)
    tab_b = await open_client(b, account.token)
    joined = await tab_b.ok("session.join", sid=sid, role="learner")
    # The learner's second tab, on another node, is not a second arrival.
    assert [p["user"] for p in joined["snapshot"]["present"]] == [account.user]
    watcher, _ = await admin_on(b, sid)
    await tab_a.until("presence.join", role="admin")
    await tab_b.close()
    await watcher.close()
    await tab_a.until("presence.leave", role="admin")
    await settle(tab_a)
    leaves = [e for e in seen(tab_a, sid) if e[2] == "presence.leave"]
    assert [e[3]["role"] for e in leaves] == ["admin"]


async def test_a_late_observer_gets_the_whole_session_from_storage(
        cluster: dict[str, RunningNode]) -> None:
    a, b = cluster["a"], cluster["b"]
    _, learner, sid = await learner_on(a)
    for i in range(60):  # more than the 40 events Redis keeps for this cluster
        await learner.ok("code.update", sid=sid, code=f"# {i}\n")
    await settle(learner)
    first = learner.events[0]
    watcher, joined = await admin_on(b, sid, since={"epoch": first["epoch"], "seq": 0})
    assert joined["recovered"] is True
    await watcher.until("code.updated", code="# 59\n")
    own = [e for e in seen(watcher, sid) if e[1] <= joined["seq"]]
    assert [e[1] for e in own] == list(range(1, joined["seq"] + 1))
    # Storage keeps user ids, not names (personal data stays sealed in `users`).
    learners = [(ep, seq, kind, {k: v for k, v in data.items() if k != "name"})
                for ep, seq, kind, data in seen(learner, sid) if seq <= joined["seq"]]
    assert own[-len(learners):] == learners


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_a_killed_node_costs_nobody_an_event(database_url: str, tmp_path: Path,
                                                   kind: str) -> None:
    with ExitStack() as stack:
        redis = stack.enter_context(backing(kind, tmp_path / "redis"))
        nodes = start_nodes(stack, database_url, redis, tmp_path, ("a", "b"))
        a, b = nodes["a"], nodes["b"]
        account, learner, sid = await learner_on(a)
        watcher, _ = await admin_on(b, sid)
        run_id = (await learner.ok("code.run", sid=sid, mode="run", code=SLEEPER))["run_id"]
        await learner.until("run.output", run_id=run_id)
        await settle(learner, watcher)
        last = learner.events[-1]

        a.stop(signal.SIGKILL)
        # A node elsewhere notices within seconds: the run is lost, the learner gone.
        lost = await watcher.until("run.finished", within=15, run_id=run_id)
        assert lost["data"]["limit"] == "lost"
        await watcher.until("presence.leave", user=account.user)
        await watcher.ok("ping")
        await settle(watcher)

        again = await open_client(b, account.token)
        resumed = await again.ok("session.join", sid=sid, role="learner",
                                 since={"epoch": last["epoch"], "seq": last["seq"]})
        assert resumed["recovered"] is True
        await again.until("presence.join", user=account.user)
        missed = [e for e in seen(again, sid) if e[1] <= resumed["seq"]]
        assert missed == [e for e in seen(watcher, sid) if last["seq"] < e[1] <= resumed["seq"]]
        assert [e[2] for e in missed][:1] == ["run.finished"]
        # The session goes on there.
        await again.ok("code.update", sid=sid, code=WRONG)
        await watcher.until("code.updated", code=WRONG)


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_sigterm_drains_clients_to_resume_elsewhere(database_url: str, tmp_path: Path,
                                                          kind: str) -> None:
    with ExitStack() as stack:
        redis = stack.enter_context(backing(kind, tmp_path / "redis"))
        nodes = start_nodes(stack, database_url, redis, tmp_path, ("a", "b"))
        a, b = nodes["a"], nodes["b"]
        account, learner, sid = await learner_on(a)
        watcher, _ = await admin_on(b, sid)
        await learner.ok("code.update", sid=sid, code=WRONG)
        await settle(learner, watcher)
        last = learner.events[-1]

        a.process.send_signal(signal.SIGTERM)
        assert await learner.close_code() == 1012
        a.process.wait(20)
        assert "Application shutdown complete" in a.log.read_text()

        again = await open_client(b, account.token)
        resumed = await again.ok("session.join", sid=sid, role="learner",
                                 since={"epoch": last["epoch"], "seq": last["seq"]})
        assert resumed["recovered"] is True
        assert (await again.ok("code.update", sid=sid, code="# on b\n"))["seq"] > last["seq"]
        await watcher.until("code.updated", code="# on b\n")


async def test_redis_restarted_mid_session(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    with ExitStack() as stack:
        redis = ExitStack()
        redis_url = redis.enter_context(redis_server(tmp_path / "redis", port))
        nodes = start_nodes(stack, database_url, redis_url, tmp_path, ("a", "b"))
        a, b = nodes["a"], nodes["b"]
        account, learner, sid = await learner_on(a)
        watcher, _ = await admin_on(b, sid)
        await learner.ok("code.update", sid=sid, code=WRONG)
        await watcher.until("code.updated", code=WRONG)
        old = learner.events[-1]

        redis.close()  # Redis gone, and with it (no persistence) every counter and history
        down = await learner.request("code.update", sid=sid, code="# while down\n")
        assert down["ok"] is False and down["error"]["code"] == "unavailable"
        assert (await http_get(a, "/healthz")).status_code == 200

        with redis_server(tmp_path / "redis", port):
            # Each node reconnects, finds the counter gone, re-seeds it under a new epoch and
            # tells its members to resume.
            for client in (learner, watcher):
                assert await client.close_code(within=20) == 1012
            tab = await open_client(a, account.token)
            # `unavailable` means retry (PROTOCOL.md): the node's pool may still hold a
            # connection from before the restart.
            for _ in range(20):
                joined = await tab.request("session.join", sid=sid, role="learner",
                                           since={"epoch": old["epoch"], "seq": old["seq"]})
                if joined["ok"] or joined["error"]["code"] != "unavailable":
                    break
                await anyio.sleep(0.5)
            assert joined["ok"], joined
            back = joined["data"]
            assert back["recovered"] is False and back["epoch"] != old["epoch"]
            assert back["seq"] >= old["seq"] and back["snapshot"]["code"] == WRONG
            watcher2, view = await admin_on(b, sid)
            assert view["epoch"] == back["epoch"] and view["snapshot"]["code"] == WRONG
            await tab.ok("code.update", sid=sid, code="# after\n")
            after = await watcher2.until("code.updated", code="# after\n")
            assert after["epoch"] == back["epoch"] and after["seq"] > old["seq"]
        stack.close()


async def test_a_client_that_stops_reading_is_closed_and_others_keep_pace(
        database_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(tmp_path / "redis"))
        nodes = start_nodes(stack, database_url, redis_url, tmp_path, ("a", "b"),
                            SEND_QUEUE_BYTES=str(256 * 1024))
        a, b = nodes["a"], nodes["b"]
        _, learner, sid = await learner_on(a)
        stalled, _ = await admin_on(b, sid)
        reader, _ = await admin_on(b, sid)
        stalled.ws.transport.pause_reading()  # type: ignore[attr-defined]
        body = "#" * 60_000
        delays = []
        for i in range(150):
            sent = time.monotonic()
            await learner.ok("code.update", sid=sid, code=f"{body}{i}")
            await reader.until("code.updated", code=f"{body}{i}")
            delays.append(time.monotonic() - sent)
        stalled.ws.transport.resume_reading()  # type: ignore[attr-defined]
        assert await stalled.close_code() == 1013
        delays.sort()
        assert delays[len(delays) // 2] < 0.5, delays


async def test_a_persisting_redis_restarted_keeps_the_session_going(database_url: str,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    with ExitStack() as stack:
        redis = ExitStack()
        redis_url = redis.enter_context(redis_server(tmp_path / "redis", port, persist=True))
        nodes = start_nodes(stack, database_url, redis_url, tmp_path, ("a", "b"))
        a, b = nodes["a"], nodes["b"]
        _, learner, sid = await learner_on(a)
        watcher, _ = await admin_on(b, sid)
        await learner.ok("code.update", sid=sid, code=WRONG)
        before = await watcher.until("code.updated", code=WRONG)

        redis.close()
        with redis_server(tmp_path / "redis", port, persist=True):
            # Same epoch, same counter: once the nodes are back, the members just go on.
            with anyio.fail_after(20):
                while True:
                    answer = await learner.request("code.update", sid=sid, code="# back\n")
                    if answer["ok"]:
                        break
                    assert answer["error"]["code"] == "unavailable"
                    await anyio.sleep(0.2)
            after = await watcher.until("code.updated", code="# back\n")
            assert after["epoch"] == before["epoch"] and after["seq"] == answer["data"]["seq"]
            await settle(learner, watcher)
            for client in (learner, watcher):
                seqs = [e[1] for e in seen(client, sid)]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        stack.close()


async def test_a_node_whose_subscription_was_cut_refills_what_it_missed(
        cluster: dict[str, RunningNode], shared_redis: Backing) -> None:
    a, b = cluster["a"], cluster["b"]
    _, learner, sid = await learner_on(a)
    watcher, _ = await admin_on(b, sid)
    await learner.ok("code.update", sid=sid, code="# before\n")
    await watcher.until("code.updated", code="# before\n")
    killed = 0
    for port in shared_redis.ports:  # every master of a cluster
        async with Redis(port=port) as redis:
            # As Redis does to a subscriber over its output-buffer limit.
            killed += await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert killed >= 2
    for i in range(20):
        await learner.ok("code.update", sid=sid, code=f"# {i}\n")
    await watcher.until("code.updated", code="# 19\n")
    await settle(learner, watcher)
    codes = [e[3]["code"] for e in seen(watcher, sid) if e[2] == "code.updated"]
    assert codes[-20:] == [f"# {i}\n" for i in range(20)]
    seqs = [e[1] for e in seen(watcher, sid)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_a_learner_who_leaves_mid_run_stops_the_run(
        cluster: dict[str, RunningNode]) -> None:
    a, b = cluster["a"], cluster["b"]
    _account, learner, tab_b, sid = await learner_on_both(a, b)
    watcher, _ = await admin_on(b, sid)
    run_id = (await learner.ok("code.run", sid=sid, mode="run", code=SLEEPER))["run_id"]
    await watcher.until("run.output", run_id=run_id)
    await learner.close()
    await tab_b.ok("ping")  # the learner is still here through node b: the run goes on
    await anyio.sleep(0.5)
    assert not [e for e in watcher.events if e["kind"] == "run.finished"]
    await tab_b.close()  # now gone everywhere: node b tells node a to stop it
    started = time.monotonic()
    finished = await watcher.until("run.finished", run_id=run_id)
    assert finished["data"]["limit"] == "cancelled" and time.monotonic() - started < 3


@pytest.mark.parametrize("shared_redis", ["cluster"], indirect=True)
async def test_sessions_whose_keys_live_on_each_master_cross_nodes(
        cluster: dict[str, RunningNode], shared_redis: Backing) -> None:
    a, b = cluster["a"], cluster["b"]
    shards = shared_redis.shards
    assert shards is not None
    found: dict[int, tuple[Account, Client, str]] = {}  # master's port -> a session there
    for _ in range(60):
        account, learner, sid = await learner_on(a)
        names = session_keys(sid, Settings().trace_streams)
        async with Redis(port=shards.ports[0]) as any_master:
            slots = {await any_master.execute_command("CLUSTER", "KEYSLOT", name)
                     for name in names}
        assert len(slots) == 1, "a session's keys share one slot"
        port = shards.port_of_slot(int(slots.pop()))
        async with Redis(port=port) as master:
            # A plain client: a master that does not serve the slot would answer MOVED.
            assert await master.exists(names.state) == 1
        if port in found:
            await learner.close()
            continue
        found[port] = (account, learner, sid)
        if len(found) == len(shards.ports):
            break
    assert sorted(found) == sorted(shards.ports)

    for port, (account, learner, sid) in found.items():
        watcher, _ = await admin_on(b, sid)
        tab_b = await open_client(b, account.token)
        await tab_b.ok("session.join", sid=sid, role="learner")
        await learner.ok("code.update", sid=sid, code=f"# from a, slot on {port}\n")
        await watcher.until("code.updated", code=f"# from a, slot on {port}\n")
        await tab_b.ok("code.update", sid=sid, code=f"# from b, slot on {port}\n")
        await learner.until("code.updated", code=f"# from b, slot on {port}\n")


async def test_a_request_repeated_on_another_node_with_its_key_acts_once(
        cluster: dict[str, RunningNode]) -> None:
    a, b = cluster["a"], cluster["b"]
    _account, tab_a, tab_b, sid = await learner_on_both(a, b)
    first = await tab_a.ok("code.update", sid=sid, code="# once\n", key="update-1")
    # As after a reconnect that landed on the other node.
    again = await tab_b.ok("code.update", sid=sid, code="# once\n", key="update-1")
    assert again == first
    await tab_a.ok("code.update", sid=sid, code="# after\n")
    await tab_b.until("code.updated", code="# after\n")
    await settle(tab_a, tab_b)
    for tab in (tab_a, tab_b):
        assert [e[1] for e in seen(tab, sid)
                if e[2] == "code.updated" and e[3]["code"] == "# once\n"] == [first["seq"]]
