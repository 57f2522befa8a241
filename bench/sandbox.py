"""Sandbox figures through the whole server path (a real node, a real WebSocket client), for each
backend: time from `code.run` to the first `run.output` (p50/p99, cold and with the pool or the
slot's next chain ready) and runs per second with 4 at a time.

    .venv/bin/python -m bench.sandbox [--runs 50] [--backends process,docker]

Targets on the 2-core dev machine: first output p50 <= 50 ms with the Docker pool warm
(<= 150 ms cold), <= 35 ms in the process backend; >= 10 runs/s with 4 at a time in Docker.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from tests.client import Client, open_client, register
from tests.components import RunningNode, postgres_url, running_node

HELLO = "print('hello')"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def session(node: RunningNode) -> tuple[Client, str]:
    account = await register(node)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    return client, sid


async def first_outputs(node: RunningNode, runs: int, gap: float) -> list[float]:
    """Milliseconds from sending code.run to the first run.output; gap lets the pool refill."""
    client, sid = await session(node)
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        run_id = (await client.ok("code.run", sid=sid, mode="run", code=HELLO))["run_id"]
        await client.until("run.output", run_id=run_id)
        times.append((time.perf_counter() - started) * 1000)
        await client.until("run.finished", run_id=run_id)
        await anyio.sleep(gap)
    return times


async def throughput(node: RunningNode, parallel: int, seconds: float) -> float:
    sessions = [await session(node) for _ in range(parallel)]
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop(client: Client, sid: str) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            run_id = (await client.ok("code.run", sid=sid, mode="run", code=HELLO))["run_id"]
            await client.until("run.finished", within=30, run_id=run_id)
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for client, sid in sessions:
            group.start_soon(loop, client, sid)
    return done / (time.perf_counter() - started)


def line(label: str, values: list[float]) -> str:
    return (f"  {label:<34} p50 {statistics.median(values):6.1f} ms   "
            f"p99 {pct(values, 99):6.1f} ms   (n={len(values)})")


async def measure(database_url: str, folder: Path, backend: str, runs: int) -> None:
    print(f"{backend} backend")
    # runs per user raised: the throughput loop is one user's four sessions
    common = {"SANDBOX_BACKEND": backend, "NODE_ID": f"bench-{backend}",
              "RATE_RUNS": "100000/s burst 100000", "SANDBOX_RUNS_PER_USER": "8"}
    cold = {"SANDBOX_POOL": "0"} if backend == "docker" else {}
    label = "no warm container" if backend == "docker" else "back to back"
    with running_node(database_url, folder / f"{backend}-cold", **common, **cold) as node:
        print(line(f"first output, {label}", await first_outputs(node, runs, 0.0)))
    with running_node(database_url, folder / f"{backend}-warm", **common) as node:
        await first_outputs(node, 3, 0.3)
        ready = "pool warm" if backend == "docker" else "next chain ready"
        print(line(f"first output, {ready}", await first_outputs(node, runs, 0.3)))
        print(f"  {'runs/s, 4 at a time':<34} {await throughput(node, 4, 10.0):6.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--backends", default="process,docker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wingman-bench-") as work:
        folder = Path(work)
        database_url = postgres_url(folder / "pg")
        for backend in args.backends.split(","):
            await measure(database_url, folder, backend, args.runs)


if __name__ == "__main__":
    anyio.run(main)
