"""The durable trace write path on real Redis and Postgres: a writer killed mid-batch, Postgres
gone for half a minute, learners who do not consent; and the retention job with a clock the
test sets, run by two nodes at once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import psutil
from redis.asyncio import Redis

from realtime.keys import session_keys, trace_stream_names
from server.trace_streams import GROUP, StreamTraceWriter
from storage.db import open_pool
from storage.retention import partition_name
from storage.trace import TraceRow, TraceStore
from tests.client import Client, http_get, open_client, register
from tests.components import TEST_KEYS, TEST_PII_ENV, RunningNode, redis_server, running_node
from tests.pg import dedicated_postgres, fresh_database

# Retention runs only when a test says so; a pending entry is claimed after 2 s of silence.
WRITER_ENV = {"TRACE_RETENTION_INTERVAL_SECONDS": "0", "TRACE_CLAIM_IDLE_SECONDS": "2",
              "RATE_FRAMES": "10000/s burst 10000", "NODE_HEARTBEAT_SECONDS": "0.3",
              "NODE_TTL_SECONDS": "2"}


async def learner_session(node: RunningNode, consent: bool = True) -> tuple[Client, str]:
    account = await register(node, consent=consent)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    return client, sid


async def type_code(client: Client, sid: str, times: int, label: str = "x") -> int:
    """Edit the code `times` times, each acknowledged; the seq of the last event placed."""
    last = 0
    for i in range(times):
        await client.ok("code.update", sid=sid, code=f"# {label} {i}\n")
    await client.until("code.updated", code=f"# {label} {times - 1}\n")
    last = max(e["seq"] for e in client.events if e["sid"] == sid)
    return last


async def stored_seqs(database_url: str, sid: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return [r["seq"] for r in await conn.fetch(
            "SELECT seq FROM trace_events WHERE sid = $1 ORDER BY seq", uuid.UUID(sid))]
    finally:
        await conn.close()


async def wait_stored(database_url: str, sid: str, last: int, within: float) -> list[int]:
    """The stored seqs once they reach `last` (or whatever is stored when time runs out)."""
    deadline = time.monotonic() + within
    while True:
        try:
            seqs = await stored_seqs(database_url, sid)
        except (OSError, asyncpg.PostgresError):
            seqs = []
        if (seqs and seqs[-1] >= last) or time.monotonic() > deadline:
            return seqs
        await anyio.sleep(0.3)


async def pending(redis: Redis, stream: str) -> int:
    """Entries of the stream read by a writer and not acknowledged yet."""
    return int((await redis.xpending(stream, GROUP))["pending"])


async def eventually(read: Callable[[], Awaitable[int]], fits: Callable[[int], bool],
                     within: float = 30.0) -> int:
    with anyio.fail_after(within):
        while True:
            value = await read()
            if fits(value):
                return value
            await anyio.sleep(0.2)


async def node_storing_a_session(stack: ExitStack, db: str, tmp_path: Path, edits: int
                                 ) -> tuple[str, RunningNode, Client, str, int]:
    """Redis, node "a" with its trace writer, and a learner whose first `edits` are stored:
    the Redis URL, the node, the learner, the session and the seq of the last edit."""
    redis_url = stack.enter_context(redis_server(tmp_path / "redis"))
    node = stack.enter_context(running_node(db, tmp_path / "a", REDIS_URL=redis_url,
                                            NODE_ID="a", **WRITER_ENV))
    learner, sid = await learner_session(node)
    first = await type_code(learner, sid, edits, "before")
    assert await wait_stored(db, sid, first, 30) == list(range(1, first + 1))
    return redis_url, node, learner, sid, first


async def test_a_writer_killed_mid_batch_and_another_taking_over_store_each_event_once(
        database_url: str, tmp_path: Path) -> None:
    db = fresh_database(database_url)
    with ExitStack() as stack:
        redis_url, a, learner, sid, first = await node_storing_a_session(stack, db, tmp_path, 10)

        # Writes to the table now wait: node a's writer reads a batch, and hangs in its INSERT.
        blocker = await asyncpg.connect(db)
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE trace_events IN EXCLUSIVE MODE")
        last = await type_code(learner, sid, 40, "during")
        redis = Redis.from_url(redis_url)
        stream = session_keys(sid, 16).trace
        # Its writer holds a batch it read: pending, unacknowledged, its INSERT waiting.
        assert await eventually(lambda: pending(redis, stream), lambda n: n > 0) <= last - first
        a.stop(signal.SIGKILL)  # mid-batch: read, maybe written, never acknowledged
        await transaction.rollback()
        await blocker.close()

        b = stack.enter_context(running_node(db, tmp_path / "b", REDIS_URL=redis_url,
                                             NODE_ID="b", **WRITER_ENV))
        seqs = await wait_stored(db, sid, last, 60)
        # Every event once (and node b's own, saying that a's people left).
        assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] >= last
        await eventually(lambda: pending(redis, stream), lambda n: n == 0)
        assert "claimed" in b.log.read_text()
        conn = await asyncpg.connect(db)
        try:
            assert await conn.fetchval("SELECT count(*) FROM trace_dead_letters") == 0
        finally:
            await conn.close()
        await redis.aclose()


def writer_processes(node: RunningNode) -> list[psutil.Process]:
    return [child for child in psutil.Process(node.process.pid).children()
            if "trace-writer" in child.cmdline()]


async def test_the_trace_writer_is_a_process_of_its_own_restarted_and_gone_with_its_node(
        database_url: str, tmp_path: Path) -> None:
    db = fresh_database(database_url)
    with ExitStack() as stack:
        _, node, learner, sid, _ = await node_storing_a_session(stack, db, tmp_path, 5)
        [writer] = writer_processes(node)
        assert writer.nice() == 10  # the node's sessions come first
        writer.kill()
        last = await type_code(learner, sid, 5, "after")
        # Started again, it writes what came meanwhile; the node never stopped serving.
        assert await wait_stored(db, sid, last, 30) == list(range(1, last + 1))
        [again] = writer_processes(node)
        assert again.pid != writer.pid
        node.stop(signal.SIGKILL)
        again.wait(10)  # it dies with its node
        assert not again.is_running()
        await learner.close()


async def test_postgres_gone_for_30_seconds_while_sessions_go_on_loses_nothing(
        tmp_path: Path) -> None:
    with ExitStack() as stack:
        postgres = stack.enter_context(dedicated_postgres(tmp_path / "pg"))
        db = fresh_database(postgres.url)
        redis_url = stack.enter_context(redis_server(tmp_path / "redis"))
        node = stack.enter_context(running_node(db, tmp_path / "node", REDIS_URL=redis_url,
                                                **WRITER_ENV))
        sessions = [await learner_session(node) for _ in range(2)]
        for client, sid in sessions:
            await type_code(client, sid, 5, "up")

        postgres.stop()
        stopped = time.monotonic()
        rounds = 0
        while time.monotonic() - stopped < 30:  # the sessions go on without Postgres
            for client, sid in sessions:
                await type_code(client, sid, 3, f"down {rounds}")
            rounds += 1
            await anyio.sleep(1.0)
        lasts = [max(e["seq"] for e in client.events if e["sid"] == sid)
                 for client, sid in sessions]
        postgres.start()

        for (_, sid), last in zip(sessions, lasts, strict=True):
            assert await wait_stored(db, sid, last, 90) == list(range(1, last + 1))
        redis = Redis.from_url(redis_url)
        try:
            for stream in trace_stream_names(16):
                if await redis.exists(stream):
                    assert (await redis.xpending(stream, GROUP))["pending"] == 0
        finally:
            await redis.aclose()


async def test_no_trace_is_kept_of_a_learner_who_does_not_consent(
        database_url: str, node: RunningNode, tmp_path: Path) -> None:
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(tmp_path / "redis"))
        clustered = stack.enter_context(running_node(database_url, tmp_path / "n",
                                                     REDIS_URL=redis_url, **WRITER_ENV))
        for where in (node, clustered):  # in-process queue, and Redis streams
            private, hidden = await learner_session(where, consent=False)
            await type_code(private, hidden, 5)
            kept_client, kept = await learner_session(where, consent=True)
            last = await type_code(kept_client, kept, 5)
            # Written in order after the other's: once they are stored, so would its be.
            assert await wait_stored(database_url, kept, last, 30) == list(range(1, last + 1))
            assert await stored_seqs(database_url, hidden) == []
        redis = Redis.from_url(redis_url)
        try:
            for stream in trace_stream_names(16):
                for _, fields in await redis.xrange(stream):
                    assert fields[b"s"].decode() != hidden
        finally:
            await redis.aclose()
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM sessions WHERE sid = $1",
                                       uuid.UUID(hidden)) == 0
        finally:
            await conn.close()


def sid_started(at: datetime) -> str:
    """A UUIDv7 session id as if the session had started at `at`."""
    value = ((int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (random.getrandbits(12) << 64)
             | (0b10 << 62) | random.getrandbits(62))
    return str(uuid.UUID(int=value))


def retention(database_url: str, folder: Path, now: datetime, **env: str) -> subprocess.Popen[str]:
    """`wingman retention run --now ...` as a node's cron would run it."""
    folder.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(folder),
                   "JWT_KEYS": TEST_KEYS.to_json(), **TEST_PII_ENV, **env}
    return subprocess.Popen([sys.executable, "-m", "server.cli", "retention", "run", "--now",
                             now.isoformat()], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def report_of(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


async def test_retention_keeps_89_days_drops_91_and_200_and_two_nodes_do_it_once(
        database_url: str, tmp_path: Path) -> None:
    db = fresh_database(database_url)
    now = datetime.now(UTC)
    started = {days: now - timedelta(days=days, minutes=5) for days in (89, 91, 200)}
    sids = {days: sid_started(at) for days, at in started.items()}
    # Back then, the job had made the partitions those sessions went into.
    report_of(retention(db, tmp_path / "then", now - timedelta(days=201),
                        TRACE_PARTITIONS_AHEAD_DAYS="120"))
    pool = await open_pool(db)
    try:
        store = TraceStore(pool)
        for days, sid in sids.items():
            ms = int(started[days].timestamp() * 1000)
            await store.write([TraceRow(sid, seq, 1, ms + seq, "code.updated", "u", "learner",
                                        {"code": f"# {seq}"}, None) for seq in range(1, 6)])
        placed = {days: await pool.fetchval(
            "SELECT tableoid::regclass::text FROM trace_events WHERE sid = $1 LIMIT 1",
            uuid.UUID(sid)) for days, sid in sids.items()}
        assert placed == {days: partition_name(at.date()) for days, at in started.items()}

        # Two learners' sessions of ten days ago: one withdrew consent (its session record is
        # still there), the other's account was deleted (its records went with it).
        erased = {}
        for who in ("withdrew", "deleted"):
            user = uuid.uuid4()
            await pool.execute("INSERT INTO users (id, roles, consent, email_lookup)"
                               " VALUES ($1, '{learner}', true, $2)", user, os.urandom(32))
            sid = sid_started(now - timedelta(days=10))
            await pool.execute("INSERT INTO sessions (sid, learner_id, question_id,"
                               " question_version) VALUES ($1, $2, 'two-sum', 1)",
                               uuid.UUID(sid), user)
            await store.write([TraceRow(sid, seq, 1, int(now.timestamp() * 1000), "code.updated",
                                        str(user), "learner", {"code": "x"}, None)
                               for seq in (1, 2, 3)])
            erased[who] = (user, sid)
        await pool.execute("UPDATE users SET consent = false WHERE id = $1", erased["withdrew"][0])
        await pool.execute("DELETE FROM users WHERE id = $1", erased["deleted"][0])

        both = [retention(db, tmp_path / name, now) for name in ("a", "b")]
        reports = [report_of(p) for p in both]
        dropped = [d for r in reports for d in r["dropped"] if d["events"]]
        assert sorted((d["day"], d["events"]) for d in dropped) == sorted(
            (started[days].date().isoformat(), 5) for days in (91, 200))
        names = [d["partition"] for r in reports for d in r["dropped"]]
        assert len(names) == len(set(names))  # no partition dropped twice
        assert sum(r["erased_sessions"] for r in reports) == 2
        assert sum(r["erased_events"] for r in reports) == 6
        assert sum(r["events_removed"] for r in reports) == 16
        assert [r["ran"] for r in reports].count(True) >= 1
        for _, sid in erased.values():
            assert await pool.fetchval("SELECT count(*) FROM trace_events WHERE sid = $1",
                                       uuid.UUID(sid)) == 0
            # An event still queued for it cannot write it back.
            await store.write([TraceRow(sid, 4, 1, int(now.timestamp() * 1000), "code.updated",
                                        "u", "learner", {"code": "late"}, None)])
            assert await pool.fetchval("SELECT count(*) FROM trace_events WHERE sid = $1",
                                       uuid.UUID(sid)) == 0

        count = "SELECT count(*) FROM trace_events WHERE sid = $1"
        assert await pool.fetchval(count, uuid.UUID(sids[89])) == 5
        assert await pool.fetchval(count, uuid.UUID(sids[91])) == 0
        assert await pool.fetchval(count, uuid.UUID(sids[200])) == 0
        tables = {r["relname"] for r in await pool.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'trace_events'::regclass")}
        assert partition_name(started[89].date()) in tables
        assert partition_name(started[91].date()) not in tables
        assert {partition_name(now.date() + timedelta(days=n)) for n in range(8)} <= tables
        # Late events for a dropped day land in the default partition, and go on the next run.
        await store.write([TraceRow(sids[91], 6, 1, int(started[91].timestamp() * 1000),
                                    "code.updated", "u", "learner", {"code": "late"}, None)])
        later = report_of(retention(db, tmp_path / "c", now))
        assert later["expired_from_default"] == 1 and later["dropped"] == []
        assert await pool.fetchval(count, uuid.UUID(sids[91])) == 0
    finally:
        await pool.close()


async def test_the_writer_sets_aside_what_it_cannot_read_and_goes_on(
        database_url: str, tmp_path: Path) -> None:
    db = fresh_database(database_url)
    with redis_server(tmp_path / "redis") as redis_url:
        redis = Redis.from_url(redis_url)
        pool = await open_pool(db)
        try:
            from storage.migrate import migrate

            await migrate(pool)
            sid = sid_started(datetime.now(UTC))
            stream = session_keys(sid, 16).trace
            good = (b'1 1 1700000000000 {"sid":"%s","kind":"run.output","by":{"user":"u",'
                    b'"role":"system"},"data":{"chunk":"a\\u0000b"}}' % sid.encode())
            named = (b'1 2 1700000000001 {"sid":"%s","kind":"presence.join","by":{"user":"u",'
                     b'"role":"learner"},"data":{"user":"u","name":"Ada"}}' % sid.encode())
            await redis.xadd(stream, {"s": sid, "m": b"not an event at all"})
            for message in (good, named):
                await redis.xadd(stream, {"s": sid, "m": message})
            writer = StreamTraceWriter(redis, TraceStore(pool), "w", [stream], 100, 0.05, 30.0, 1,
                                       2)
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(writer.run)
                    while True:
                        if writer.written >= 2 and await pending(redis, stream) == 0:
                            break
                        await anyio.sleep(0.1)
                    tasks.cancel_scope.cancel()
            stored = await pool.fetch("SELECT seq, data FROM trace_events WHERE sid = $1"
                                      " ORDER BY seq", uuid.UUID(sid))
            # The NUL byte Postgres would refuse is replaced, the name (personal data) left out;
            # the unreadable entry is set aside.
            assert [(r["seq"], r["data"]) for r in stored] == [
                (1, {"chunk": "a\ufffdb"}), (2, {"user": "u"})]
            letters = await pool.fetch("SELECT error, payload FROM trace_dead_letters")
            assert len(letters) == 1 and "undecodable" in letters[0]["error"]
            # Acknowledged, so nothing is pending; trimming (whole nodes) leaves the last.
            assert await redis.xlen(stream) <= 3
        finally:
            await pool.close()
            await redis.aclose()


async def test_a_full_trace_stream_refuses_events_and_loses_none(
        database_url: str, tmp_path: Path) -> None:
    db = fresh_database(database_url)
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(tmp_path / "redis"))
        # No writer on this node: the stream only fills.
        env = {**WRITER_ENV, "TRACE_STREAM_BOUND": "8", "TRACE_WRITER": "false"}
        full = stack.enter_context(running_node(db, tmp_path / "a", REDIS_URL=redis_url, **env))
        learner, sid = await learner_session(full)
        refused = None
        for i in range(20):
            answer = await learner.request("code.update", sid=sid, code=f"# {i}\n")
            if not answer["ok"]:
                refused = answer["error"]
                break
        assert refused is not None and refused["code"] == "unavailable"
        placed = max(e["seq"] for e in learner.events if e["sid"] == sid)
        redis = Redis.from_url(redis_url)
        try:
            assert await redis.xlen(session_keys(sid, 16).trace) == placed == 8
        finally:
            await redis.aclose()
        metrics = (await http_get(full, "/metrics")).text
        assert "wingman_trace_refused_total 1.0" in metrics

        # A writer comes: every event placed is stored, and the session goes on.
        stack.enter_context(running_node(db, tmp_path / "b", REDIS_URL=redis_url,
                                         NODE_ID="b", **WRITER_ENV))
        assert await wait_stored(db, sid, placed, 60) == list(range(1, placed + 1))
        await eventually(lambda: redis_len(redis_url, session_keys(sid, 16).trace),
                         lambda n: n < 8)
        await learner.ok("code.update", sid=sid, code="# after\n")


async def redis_len(redis_url: str, key: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        return int(await redis.xlen(key))
    finally:
        await redis.aclose()
