"""One node, measured over real sockets: time from `code.run` to the first output chunk, and the
events per second one node sustains with 100 connected learners.

    .venv/bin/python bench/session.py            (needs bubblewrap; Postgres is embedded)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.client import Client, open_client, register
from tests.components import RunningNode, postgres_url, running_node


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def first_output(node: RunningNode, runs: int, gap: float) -> list[float]:
    """`gap` seconds between runs: 0 measures a cold start, a pause lets the slot's next
    sandbox chain get ready first (the warm path)."""
    client = await open_client(node, (await register(node)).token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        run_id = (await client.ok("code.run", sid=sid, mode="run", code="print('hi')"))["run_id"]
        await client.until("run.output", run_id=run_id)
        timings.append((time.perf_counter() - began) * 1000)
        await client.until("run.finished", run_id=run_id)
        await anyio.sleep(gap)
    await client.close()
    return timings


async def learners(node: RunningNode, count: int, seconds: float,
                   per_second: float = 0.0) -> dict[str, float]:
    """`count` learners editing for `seconds`: each as fast as its echoes come back, or at most
    `per_second` edits a second each (a paced load, like people typing)."""
    clients: list[tuple[Client, str]] = []
    for _ in range(count):
        client = await open_client(node, (await register(node)).token)
        sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
        await client.ok("session.join", sid=sid, role="learner")
        clients.append((client, sid))
    latencies: list[float] = []
    delivered = 0
    server = psutil.Process(node.process.pid)
    cpu_before = server.cpu_times()
    deadline = time.monotonic() + seconds

    async def learner(client: Client, sid: str) -> None:
        nonlocal delivered
        n = 0
        start = time.monotonic() + (random.random() / per_second if per_second else 0.0)
        while time.monotonic() < deadline:
            if per_second:
                await anyio.sleep(max(0.0, start + n / per_second - time.monotonic()))
            n += 1
            sent = time.time() * 1000
            await client.ok("code.update", sid=sid, code=f"# edit {n}")
            await client.until("code.updated", code=f"# edit {n}")
            latencies.append(time.time() * 1000 - sent)
            delivered += 1
            client.events.clear()

    began = time.monotonic()
    async with anyio.create_task_group() as tasks:
        for client, sid in clients:
            tasks.start_soon(learner, client, sid)
    elapsed = time.monotonic() - began
    cpu_after = server.cpu_times()
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    for client, _ in clients:
        await client.close()
    return {"events_per_s": delivered / elapsed, "p50_ms": pct(latencies, 50),
            "p99_ms": pct(latencies, 99), "server_cpu_us_per_event": cpu / delivered * 1e6}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--learners", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = postgres_url(Path(folder) / "pg")
        # The bench measures the node's own limits, not the per-user rate limits.
        with running_node(url, Path(folder) / "node", RATE_FRAMES="1000000/s",
                          RATE_RUNS="1000000/s") as node:
            cold = await first_output(node, args.runs, gap=0.0)
            warm = await first_output(node, args.runs, gap=0.3)
            load = await learners(node, args.learners, args.seconds)
    print(f"{'measure':<44}{'value':>12}")
    for label, firsts in (("back to back", cold), ("0.3 s apart", warm)):
        print(f"{'first output p50 (ms), ' + label:<44}{statistics.median(firsts):>12.1f}")
        print(f"{'first output p99 (ms), ' + label:<44}{pct(firsts, 99):>12.1f}")
    print(f"{'events/s, ' + str(args.learners) + ' learners (edit->echo loop)':<44}"
          f"{load['events_per_s']:>12.0f}")
    print(f"{'edit->echo latency p50 (ms)':<44}{load['p50_ms']:>12.1f}")
    print(f"{'edit->echo latency p99 (ms)':<44}{load['p99_ms']:>12.1f}")
    print(f"{'server CPU per event (us)':<44}{load['server_cpu_us_per_event']:>12.0f}")


if __name__ == "__main__":
    anyio.run(main)
