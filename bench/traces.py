"""The durable trace write path and the retention job, measured on this machine:

  1. events/s the write path sustains alone: trace streams filled with events as the publish
     script writes them, then drained by real trace writer processes (XREADGROUP, one COPY per
     batch, XACK after the commit, trimming) into a fresh Postgres database;
  2. the p99 of a session load (learners editing at a person's pace, edit -> echo over real
     sockets on a real node) with the node's trace writer busy on a backlog, against the same
     load with no writer; and the same for learners editing as fast as they can, which
     saturates the machine (a stress figure: any other work then shows as latency);
  3. one retention run over N synthetic rows across D days (dropping the expired days'
     partitions) next to a plain DELETE of the same rows from an unpartitioned copy.

    .venv/bin/python bench/traces.py                 (about 15 minutes; --help for sizes)

It starts its own redis-server and uses the embedded Postgres (or DATABASE_URL), with a fresh
database per part. Everything shares the machine's cores: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import msgspec
from anyio.abc import Process
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.session import learners
from realtime.envelope import Actor, Draft, Role
from realtime.keys import session_keys, trace_stream_names
from server.trace_process import writer_command
from server.trace_streams import GROUP
from storage.db import open_pool
from storage.migrate import migrate
from storage.retention import TraceRetention
from tests.components import postgres_url, redis_server, running_node
from tests.pg import fresh_database

STREAMS = 16
CODE = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n" \
       "        if target - n in seen:\n            return [seen[target - n], i]\n" \
       "        seen[n] = i\n"


def sid_started(at: datetime) -> str:
    value = ((int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (random.getrandbits(12) << 64)
             | (0b10 << 62) | random.getrandbits(62))
    return str(uuid.UUID(int=value))


async def fill_streams(redis: Redis, events: int, sessions: int) -> None:
    """Trace stream entries exactly as the publish script writes them."""
    now = datetime.now(UTC)
    sids = [sid_started(now) for _ in range(sessions)]
    seqs = dict.fromkeys(sids, 0)
    epoch = int(time.time() * 1000)
    pipe = redis.pipeline(transaction=False)
    for n in range(events):
        sid = sids[n % sessions]
        seqs[sid] += 1
        body = msgspec.json.encode(Draft(sid, "code.updated", Actor("u", Role.LEARNER),
                                         {"code": f"{CODE}# edit {seqs[sid]}\n"}))
        message = b"%d %d %d " % (epoch, seqs[sid], epoch + n) + body
        pipe.xadd(session_keys(sid, STREAMS).trace, {"s": sid, "m": message})
        if len(pipe) >= 5000:
            await pipe.execute()
    await pipe.execute()


async def backlog(redis: Redis) -> int:
    total = 0
    for stream in trace_stream_names(STREAMS):
        if await redis.exists(stream):
            groups = {g["name"].decode(): g for g in await redis.xinfo_groups(stream)}
            group = groups.get(GROUP)
            total += int(group["lag"] or 0) + int(group["pending"]) if group else \
                int(await redis.xlen(stream))
    return total


async def backlog_below(redis: Redis, events: int) -> float:
    """The moment the streams' backlog falls below `events`."""
    while True:
        if await backlog(redis) < events:
            return time.perf_counter()
        await anyio.sleep(0.02)


async def write_path(database_url: str, redis_url: str, events: int, batch: int, tasks: int,
                     processes: int) -> float:
    """Events/s of `processes` trace writer processes (as a node starts them) draining `events`
    entries into Postgres; timed from the first batch written to the last."""
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    pool = await open_pool(database_url, max_size=2)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "TRACE_BATCH": str(batch), "TRACE_WRITER_TASKS": str(tasks),
           "TRACE_STREAMS": str(STREAMS), "TRACE_WRITER_NICE": "0"}
    writers: list[Process] = []
    try:
        await migrate(pool)
        await fill_streams(redis, events, sessions=max(events // 200, 1))
        writers = [await anyio.open_process(writer_command(f"bench-{n}"), env=env,
                                            stdout=subprocess.DEVNULL, stderr=None)
                   for n in range(processes)]
        began = await backlog_below(redis, events)
        elapsed = await backlog_below(redis, 1) - began
        stored = await pool.fetchval("SELECT count(*) FROM trace_events")
        assert stored == events, (stored, events)
        return events / elapsed
    finally:
        for writer in writers:
            writer.terminate()
            await writer.wait()
        await pool.close()
        await redis.aclose()


async def session_load(database_url: str, redis_url: str, folder: Path, learners_n: int,
                       per_second: float, seconds: float, writer_busy: bool,
                       backlog_events: int) -> dict[str, float]:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    env = {"REDIS_URL": redis_url, "RATE_FRAMES": "1000000/s", "RATE_REGISTER_ADDRESS":
           "1000000/s", "TRACE_WRITER": "true" if writer_busy else "false",
           "TRACE_STREAM_BOUND": str(10 * backlog_events + 1_000_000),
           "TRACE_RETENTION_INTERVAL_SECONDS": "0"}
    if writer_busy:
        await fill_streams(redis, backlog_events, sessions=max(backlog_events // 200, 1))
    with running_node(database_url, folder, **env) as node:
        load = await learners(node, learners_n, seconds, per_second)
        load["backlog_left"] = float(await backlog(redis))
    await redis.aclose()
    return load


async def retention(database_url: str, rows: int, days: int,
                    retention_days: int) -> dict[str, float]:
    """One retention run against a plain DELETE of the same (expired) rows."""
    pool = await open_pool(database_url)
    now = datetime.now(UTC)
    try:
        await migrate(pool)
        # The partitions the job would have made over those days.
        await TraceRetention(pool, retention_days, days + 1, 60.0, "bench").run(
            now - timedelta(days=days))
        per_day = rows // days
        sessions_per_day = max(per_day // 100, 1)
        began = time.perf_counter()
        for d in range(days):
            day = (now - timedelta(days=days - d)).date()
            start_ms = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
                           * 1000)
            await pool.execute("""
                INSERT INTO trace_events (day, sid, seq, epoch, ts, kind, actor, role, data)
                SELECT $1::date, s.sid, q, 1, to_timestamp(($2 + q) / 1000.0), 'code.updated',
                       'u', 'learner', jsonb_build_object('code', '# edit ' || q)
                FROM (SELECT (lpad(to_hex($2::bigint), 12, '0') || '7'
                              || substr(md5($5 || i), 1, 3) || '8'
                              || substr(md5($5 || i), 4, 15))::uuid AS sid
                      FROM generate_series(1, $3) AS i) AS s,
                     generate_series(1, $4) AS q
                """, day, start_ms, sessions_per_day, per_day // sessions_per_day, str(day))
        filled = time.perf_counter() - began
        total = await pool.fetchval("SELECT count(*) FROM trace_events")
        await pool.execute("CREATE TABLE trace_events_flat (LIKE trace_events INCLUDING ALL)")
        await pool.execute("INSERT INTO trace_events_flat SELECT * FROM trace_events")
        await pool.execute("VACUUM ANALYZE trace_events_flat")
        await pool.execute("ANALYZE trace_events")
        cutoff = (now - timedelta(days=retention_days)).date()
        expired = await pool.fetchval("SELECT count(*) FROM trace_events WHERE day < $1", cutoff)

        began = time.perf_counter()
        report = await TraceRetention(pool, retention_days, 7, 2.0, "bench").run(now)
        retention_s = time.perf_counter() - began
        began = time.perf_counter()
        deleted = await pool.execute("DELETE FROM trace_events_flat WHERE day < $1", cutoff)
        delete_s = time.perf_counter() - began
        assert sum(d.events for d in report.dropped) == expired == int(deleted.split()[-1])
        return {"rows": float(total), "expired": float(expired), "fill_s": filled,
                "retention_s": retention_s, "delete_s": delete_s,
                "partitions": float(len(report.dropped))}
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000, help="events for part 1")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=2, help="loops per writer process")
    parser.add_argument("--processes", default="1,2",
                        help="writer processes (one node's default is 1; each node adds its own)")
    parser.add_argument("--learners", type=int, default=100, help="paced learners")
    parser.add_argument("--edits-per-second", type=float, default=4.0)
    parser.add_argument("--stress-learners", type=int, default=40, help="0: no stress load")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--retention-days", type=int, default=90)
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        server = postgres_url(folder / "pg")
        with redis_server(folder / "redis") as redis_url:
            rates: dict[int, float] = {}
            if "1" in args.parts:
                for processes in map(int, args.processes.split(",")):
                    rate = rates[processes] = await write_path(
                        fresh_database(server), redis_url, args.events, args.batch, args.tasks,
                        processes)
                    print(f"write path alone, {processes} writer process(es) of {args.tasks} "
                          f"loops: {rate:,.0f} events/s ({args.events:,} events, batch "
                          f"{args.batch}; target >= 50,000)", flush=True)
            if "2" in args.parts:
                # The node's own writer (one process) kept busy on a backlog for the whole run.
                busy_backlog = int(max(rates.get(1, 0.0), 20_000) * args.seconds * 1.5)
                loads = [(args.learners, args.edits_per_second,
                          f"{args.edits_per_second:g} edits/s each (paced, like people typing)")]
                if args.stress_learners:
                    loads.append((args.stress_learners, 0.0, "each as fast as its echoes come "
                                  "back (saturating both cores: a stress figure)"))
                for learners_n, per_second, label in loads:
                    db = fresh_database(server)
                    quiet = await session_load(db, redis_url, folder / "quiet", learners_n,
                                               per_second, args.seconds, False, 0)
                    busy = await session_load(db, redis_url, folder / "busy", learners_n,
                                              per_second, args.seconds, True, busy_backlog)
                    change = (busy["p99_ms"] / quiet["p99_ms"] - 1) * 100
                    print(f"session load, {learners_n} learners editing for {args.seconds:.0f} s"
                          f", {label}; edit -> echo:", flush=True)
                    for name, load in (("no trace writer", quiet), ("writer busy", busy)):
                        print(f"  {name + ':':<18} p50 {load['p50_ms']:.1f} ms, p99 "
                              f"{load['p99_ms']:.1f} ms, {load['events_per_s']:.0f} events/s, "
                              f"node CPU {load['server_cpu_us_per_event']:.0f} us/event")
                    print(f"  writer busy on a backlog of {busy_backlog:,} "
                          f"({busy['backlog_left']:,.0f} left at the end): p99 {change:+.0f}% "
                          f"(target within 20%)", flush=True)
            if "3" in args.parts:
                result = await retention(fresh_database(server), args.rows, args.days,
                                         args.retention_days)
                print(f"retention over {result['rows']:,.0f} rows across {args.days} days "
                      f"({result['expired']:,.0f} expired, filled in {result['fill_s']:.0f} s):")
                print(f"  retention run (drops {result['partitions']:.0f} partitions): "
                      f"{result['retention_s']:.2f} s")
                print(f"  plain DELETE of the same rows:            {result['delete_s']:.2f} s "
                      f"(and it leaves them for VACUUM)")


if __name__ == "__main__":
    asyncio.run(main())
