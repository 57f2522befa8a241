"""What a node and a Redis shard cost per delivered message, as the deployment grows: the fan-out
scenarios of bench/fanout.py with 1, 2 and 4 nodes, against one Redis and against a Redis Cluster
of three masters (sharded pub/sub), all on this machine:

  (a) one session, 1 publisher and N observers split across the nodes, at a fixed rate;
  (b) many sessions of 1 learner and 2 observers (on other nodes than the learner, when there
      are any), each learner sending 2 updates a second; on the cluster the sessions spread over
      the masters by their hash tag.

Each row gives the node processes' CPU time per delivered message and Redis's (every master of
the cluster summed) per delivered message and per publish, read from /proc/<pid>/stat (psutil's
cpu_times), besides latency and losses. Two cores cannot show throughput growing with nodes;
the cost per message shows what each node and each shard adds.

    .venv/bin/python bench/scale.py            (about 14 minutes)
    .venv/bin/python bench/scale.py --quick    (a smoke run)
    .venv/bin/python bench/scale.py --nodes 1,2 --redis cluster

Needs the `bench` extra, redis-server and redis-cli, and bubblewrap; Postgres is embedded unless
DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The nodes' sandbox slots run as their own uids: a range apart from concurrent test runs'.
os.environ.setdefault("WINGMAN_TEST_UID_BASE", "64000")

from bench.fanout import (
    Accounts,
    Bench,
    Row,
    System,
    Workers,
    accounts_in,
    brief,
    load_options,
    measure,
    mint,
    open_sessions,
    postgres,
    raise_open_files,
    redis_process,
    sized,
    table,
)
from bench.loadgen import Spec
from tests.components import redis_cluster, redis_server, running_node


@asynccontextmanager
async def deployment(folder: Path, database_url: str, accounts: Accounts, nodes: int,
                     redis: str) -> AsyncIterator[System]:
    """`nodes` wingman nodes on a fresh Redis: one redis-server, or a three-master cluster."""
    with ExitStack() as stack:
        env = {"RATE_FRAMES": "1000000/s", "MAX_OBSERVERS": "100000", "WS_DEFLATE": "false",
               "NODE_HEARTBEAT_SECONDS": "1"}
        if redis == "cluster":
            shards = stack.enter_context(redis_cluster(folder / "redis"))
            env |= {"REDIS_URL": shards.url, "REDIS_CLUSTER": "true"}
            servers = [redis_process(f"redis://127.0.0.1:{p}/0") for p in shards.ports]
        else:
            url = stack.enter_context(redis_server(folder / "redis"))
            env["REDIS_URL"] = url
            servers = [redis_process(url)]
        running = [stack.enter_context(running_node(database_url, folder / f"node-{i}",
                                                    NODE_ID=f"scale-{i}", **env))
                   for i in range(nodes)]
        yield System(f"{nodes} node{'s' if nodes > 1 else ''}, {redis}", "wingman",
                     [n.ws_url for n in running], [psutil.Process(n.process.pid) for n in running],
                     servers, accounts)


def per_publish(values: dict[str, Any], receivers: int) -> None:
    """Redis works per publish (the script) and per node subscribed, not per observer."""
    redis_us = values["redis us/msg"]
    values["redis us/pub"] = redis_us * receivers if redis_us is not None else None


async def one_session(bench: Bench, config: str) -> None:
    """(a) One session, one publisher on the first node, observers spread over all nodes."""
    args, system = bench.args, bench.system
    learner = (await system.accounts(1, ["learner"]))[0]
    spec = Spec(system.urls[0], mint([learner], ["learner"])[0], None, True, True, False)
    room = (await bench.open(0, [spec]))[0]
    receivers = list(range(1, len(bench.workers))) or [0]
    tokens = mint(await system.accounts(args.observers, ["admin", "learner"]),
                  ["admin", "learner"])
    batches: dict[int, list[Spec]] = {w: [] for w in receivers}
    for i, token in enumerate(tokens):
        batches[receivers[i % len(receivers)]].append(
            Spec(system.urls[bench.node(i)], token, room, False, False, True))
    await asyncio.gather(*(bench.open(w, specs) for w, specs in batches.items()))
    await bench.quiet()
    rate = args.delivered / args.observers  # publishes a second
    await bench.step([0], rate, 1.0, args.observers)  # warm-up, not shown
    values = await bench.step([0], rate, args.seconds, args.observers)
    per_publish(values, args.observers)
    row = Row(system.name, "a", config, values)
    bench.rows.append(row)
    print("    " + brief(row), flush=True)
    await bench.workers.all("close")


async def many_sessions(bench: Bench, config: str) -> None:
    """(b) Sessions of 1 learner + 2 observers; the observers on the next nodes round."""
    args, system = bench.args, bench.system
    count, workers = args.sessions, len(bench.workers)
    await open_sessions(bench, count)
    await bench.quiet()
    everyone = list(range(workers))
    await bench.step(everyone, 2.0, 1.5, 2)  # warm-up, not shown
    values = await bench.step(everyone, 2.0, args.seconds, 2)
    per_publish(values, 2)
    row = Row(system.name, "b", config, values)
    bench.rows.append(row)
    print("    " + brief(row), flush=True)
    await bench.workers.all("close")


COLUMNS = ["pub/s", "delivered/s", "p50 ms", "p99 ms", "lost", "refused", "server us/msg",
           "redis us/msg", "redis us/pub", "server CPU %", "loadgen CPU %"]


async def run(args: argparse.Namespace, folder: Path) -> list[Row]:
    rows: list[Row] = []
    workers = Workers(args.workers + 1)
    try:
        async with AsyncExitStack() as stack:
            database_url = stack.enter_context(postgres(folder / "pg"))
            accounts = await stack.enter_async_context(accounts_in(database_url, folder, "scale"))
            for redis in args.redis:
                for nodes in args.nodes:
                    began = time.monotonic()
                    place = folder / f"{redis}-{nodes}"
                    async with deployment(place, database_url, accounts, nodes,
                                          redis) as system:
                        print(f"{system.name}: up in {time.monotonic() - began:.1f} s",
                              flush=True)
                        bench = Bench(args, workers, system, rows)
                        await one_session(bench, f"1 session, {args.observers} observers")
                        await many_sessions(bench, f"{args.sessions} sessions x (1+2)")
    finally:
        workers.stop()
    return rows


def report(rows: list[Row], args: argparse.Namespace) -> None:
    print("\n" + "=" * 100)
    print(f"scale bench on {os.cpu_count()} cores, python {platform.python_version()}; "
          f"{args.payload}-byte code per update; server us/msg: CPU time of all node processes "
          "per delivered message; redis us/msg and us/pub: every redis-server's CPU per "
          "delivered message and per publish; CPU % of one core")
    table(f"(a) one session, 1 publisher, {args.observers} observers over the nodes, "
          f"{args.delivered:,.0f} deliveries/s", [r for r in rows if r.scenario == "a"], COLUMNS)
    table(f"(b) {args.sessions} sessions of 1 learner + 2 observers, 2 updates/s per learner",
          [r for r in rows if r.scenario == "b"], COLUMNS)


FULL = {"observers": 200, "delivered": 2000.0, "sessions": 300, "seconds": 5.0}
QUICK = {"observers": 20, "delivered": 200.0, "sessions": 20, "seconds": 2.0}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--nodes", default="1,2,4", help="node counts, in order (1,2,4)")
    parser.add_argument("--redis", default="redis,cluster",
                        help="comma-separated: redis (one server), cluster (three masters)")
    parser.add_argument("--observers", type=int, help="(a) observers of the one session (200)")
    parser.add_argument("--delivered", type=float, help="(a) deliveries a second (2000)")
    parser.add_argument("--sessions", type=int, help="(b) sessions (300)")
    parser.add_argument("--seconds", type=float, help="publishing per measured step (5)")
    load_options(parser)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (node and Redis logs) afterwards")
    args = sized(parser, argv, FULL, QUICK)
    args.nodes = [int(n) for n in args.nodes.split(",")]
    args.redis = [r.strip() for r in args.redis.split(",") if r.strip()]
    if set(args.redis) - {"redis", "cluster"}:
        parser.error("--redis takes redis and/or cluster")
    return args


def main() -> None:
    args = parse()
    raise_open_files()
    for needed in ("redis-server", "redis-cli", "bwrap"):
        if shutil.which(needed) is None:
            sys.exit(f"scale: needs {needed} on PATH")
    measure("scale", args, run, report)

if __name__ == "__main__":
    main()
