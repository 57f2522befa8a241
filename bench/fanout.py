"""Fan-out across nodes, measured over real sockets on this machine, against python-socketio with
its Redis manager as the reference (bench/reference_socketio.py), and printed as tables:

  (a) one session, 1 publisher (the learner's `code.update`) and 100, then 1,000 subscribers
      (admins observing) split across the nodes, at a rising publish rate: delivered msgs/s,
      p50/p99 publish-to-receive latency, losses; the highest rate held with p99 <= 250 ms and
      nothing lost.
  (b) 500 sessions of 1 learner and 2 observers, each learner sending 2 updates/s: p50/p99 and
      server CPU.
  (c) 10,000 idle authenticated connections on one node: memory (RSS growth) per connection,
      the client offering permessage-deflate as browsers do and the server's setting deciding.

Every row gives the servers' CPU time per delivered message (node processes, and Redis apart):
the load generator shares the machine's cores, so its own CPU is shown too.

    .venv/bin/python bench/fanout.py                 (the full run, about 10 minutes)
    .venv/bin/python bench/fanout.py --quick         (a smoke run of every scenario)
    .venv/bin/python bench/fanout.py --scenarios a --systems wingman --nodes 1

Needs the `bench` extra (python-socketio), redis-server and bubblewrap; Postgres is embedded
unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The nodes' sandbox slots run as their own uids: a range apart from concurrent test runs'.
os.environ.setdefault("WINGMAN_TEST_UID_BASE", "64000")

from bench import loadgen
from bench.loadgen import Spec, percentile
from server.pii_keys import load_sealer
from server.settings import Settings
from server.tokens import TokenIssuer
from storage.db import open_pool
from storage.users import UserStore
from tests.components import (
    TEST_KEYS,
    TEST_PII_ENV,
    free_port,
    redis_server,
    running_node,
)

ROOT = Path(__file__).resolve().parent.parent
P99_LIMIT_MS = 250.0
CODE_LINE = "total = sum(x for x in values if x % 2 == 0)\n"


# ---------------------------------------------------------------- load generator processes

class Workers:
    """Load generator processes, each with many connections; commands go over a pipe."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self.processes = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=loadgen.main, args=(theirs,), daemon=True)
            process.start()
            self._pipes.append(ours)
            self.processes.append(process)
        self._locks = [asyncio.Lock() for _ in range(count)]

    def __len__(self) -> int:
        return len(self._pipes)

    async def call(self, index: int, command: str, **args: Any) -> Any:
        pipe = self._pipes[index]
        async with self._locks[index]:
            pipe.send((command, args))
            status, result = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        if status != "ok":
            raise RuntimeError(f"load generator {index}, {command}: {result}")
        return result

    async def all(self, command: str, **args: Any) -> list[Any]:
        return list(await asyncio.gather(*(self.call(i, command, **args)
                                           for i in range(len(self)))))

    def stop(self) -> None:
        for pipe in self._pipes:
            pipe.send(("exit", {}))
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


# ---------------------------------------------------------------- the systems measured

@dataclass
class System:
    name: str
    flavour: str  # which protocol the load generator speaks
    urls: list[str]  # one per node
    nodes: list[psutil.Process]
    redis: list[psutil.Process]  # every redis-server (each master of a cluster)
    accounts: Any  # async (count, roles) -> list of user ids that may sign in
    deflate: str = ""


def mint(users: list[str], roles: list[str]) -> list[str]:
    defaults = Settings()
    issuer = TokenIssuer(TEST_KEYS, defaults.jwt_issuer, defaults.jwt_audience, 4 * 3600)
    return [issuer.issue(user, "Bench", roles)[0] for user in users]


def redis_process(url: str) -> psutil.Process:
    port = url.rsplit(":", 1)[1].split("/")[0]
    for process in psutil.process_iter(["name", "cmdline"]):
        # redis-server retitles itself "redis-server 127.0.0.1:PORT".
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "redis-server" and f":{port}" in cmdline:
            return process
    raise RuntimeError(f"no redis-server process for {url}")


@contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """DATABASE_URL, or an embedded Postgres stopped before its folder goes."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    folder.mkdir(parents=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(folder), cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


Accounts = Callable[[int, list[str]], Awaitable[list[str]]]


@asynccontextmanager
async def accounts_in(database_url: str, folder: Path, label: str) -> AsyncIterator[Accounts]:
    """Accounts straight into the users table (no password: tokens are minted here), as
    registering thousands would spend minutes hashing passwords with argon2."""
    settings = Settings(database_url=database_url, data_dir=folder,
                        pii_keys=json.loads(TEST_PII_ENV["PII_KEYS"]),
                        pii_key_id=TEST_PII_ENV["PII_KEY_ID"],
                        pii_lookup_key=TEST_PII_ENV["PII_LOOKUP_KEY"])
    pool = await open_pool(database_url, max_size=8)
    users = UserStore(pool, load_sealer(settings))
    batch = itertools.count()

    async def accounts(count: int, roles: list[str]) -> list[str]:
        tag = f"{next(batch)}-{uuid.uuid4().hex[:6]}"
        gate = asyncio.Semaphore(8)

        async def add(i: int) -> str:
            async with gate:
                user = await users.add(f"{label}-{tag}-{i}@example.com",
                                       f"{label.capitalize()} {i}", None, roles, consent=True)
            return user.id

        return list(await asyncio.gather(*(add(i) for i in range(count))))

    try:
        yield accounts
    finally:
        await pool.close()


@asynccontextmanager
async def wingman(folder: Path, nodes: int, deflate: bool) -> AsyncIterator[System]:
    async with AsyncExitStack() as stack:
        redis_url = stack.enter_context(redis_server(folder / "redis-wingman"))
        database_url = stack.enter_context(postgres(folder / "pg"))
        env = {
            "REDIS_URL": redis_url,
            # The bench measures fan-out, not the per-user limits or the observer cap.
            "RATE_FRAMES": "1000000/s", "MAX_OBSERVERS": "100000",
            # Deliberately, whatever the default: see the (c) rows.
            "WS_DEFLATE": "true" if deflate else "false",
        }
        running = [stack.enter_context(running_node(database_url, folder / f"wingman-{i}",
                                                    port=None, NODE_ID=f"bench-{i}", **env))
                   for i in range(nodes)]
        accounts = await stack.enter_async_context(
            accounts_in(database_url, folder / "bench", "bench"))
        yield System("wingman", "wingman", [n.ws_url for n in running],
                     [psutil.Process(n.process.pid) for n in running],
                     [redis_process(redis_url)], accounts)


@asynccontextmanager
async def reference(folder: Path, nodes: int, deflate: bool) -> AsyncIterator[System]:
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(folder / "redis-socketio"))
        urls, processes = [], []
        for i in range(nodes):
            port = free_port()
            process = stack.enter_context(reference_node(folder, i, port, redis_url, deflate))
            urls.append(f"ws://127.0.0.1:{port}")
            processes.append(psutil.Process(process.pid))

        async def accounts(count: int, roles: list[str]) -> list[str]:
            return [str(uuid.uuid4()) for _ in range(count)]

        yield System("python-socketio", "socketio", urls, processes, [redis_process(redis_url)],
                     accounts)


@contextmanager
def reference_node(folder: Path, index: int, port: int, redis_url: str,
                   deflate: bool) -> Iterator[subprocess.Popen[bytes]]:
    log = folder / f"socketio-{index}.log"
    command = [sys.executable, str(ROOT / "bench" / "reference_socketio.py"), "--port",
               str(port), "--redis", redis_url, *(["--deflate"] if deflate else [])]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**os.environ, "JWT_KEYS": TEST_KEYS.to_json()},
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"reference node did not start:\n{log.read_text()[-3000:]}")
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling",
                                   timeout=1)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- measuring

def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


@dataclass
class Row:
    system: str
    scenario: str
    config: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Bench:
    args: argparse.Namespace
    workers: Workers
    system: System
    rows: list[Row]
    steps: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def generator(self) -> list[psutil.Process]:
        return [psutil.Process(), *(psutil.Process(p.pid) for p in self.workers.processes)]

    def node(self, i: int) -> int:
        return i % len(self.system.urls)

    async def open(self, worker: int, specs: list[Spec], concurrency: int = 64) -> list[str]:
        if not specs:
            return []
        answer = await self.workers.call(
            worker, "open", flavour=self.system.flavour, specs=[vars(s) for s in specs],
            concurrency=concurrency, offer_deflate=True)
        if answer["failed"]:
            raise RuntimeError(f"{answer['failed']} of {len(specs)} connections to "
                               f"{self.system.name} failed: {answer['errors']}")
        if answer["deflate"]:
            self.system.deflate = "on (offered, accepted)"
        elif not self.system.deflate:
            self.system.deflate = "off (offered, declined)"
        rooms: list[str] = answer["rooms"]
        return rooms

    async def quiet(self, within: float = 60.0) -> None:
        """Wait until the servers are idle again (joins announce presence to everyone)."""
        deadline = time.monotonic() + within
        before = cpu_seconds(self.system.nodes)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            after = cpu_seconds(self.system.nodes)
            if after - before < 0.05:
                return
            before = after

    async def step(self, publishers: list[int], rate: float, seconds: float,
                   receivers_per_publish: int) -> dict[str, Any]:
        """One measured step: publish, wait for every delivery (or for them to stop coming),
        and read latencies, losses and CPU."""
        step = next(self.steps)
        await self.workers.all("reset", step=step)
        nodes, generator = self.system.nodes, self.generator
        cpu = (cpu_seconds(nodes), cpu_seconds(self.system.redis), cpu_seconds(generator))
        began = time.monotonic_ns()
        padding = (CODE_LINE * (self.args.payload // len(CODE_LINE) + 1))[:self.args.payload]
        sent_answers = await asyncio.gather(*(
            self.workers.call(w, "publish", step=step, rate=rate, seconds=seconds,
                              padding=padding) for w in publishers))
        sent = sum(a["sent"] for a in sent_answers)
        received, progress = -1, time.monotonic()
        deadline = progress + 30
        while time.monotonic() < deadline:
            counts = await self.workers.all("counts")
            total = sum(c["received"] for c in counts)
            # A refused update (the publisher was told) is not published, so not expected.
            if total >= (sent - sum(c["errors"] for c in counts)) * receivers_per_publish:
                break
            if total != received:
                received, progress = total, time.monotonic()
            elif time.monotonic() - progress > 3:
                break
            await asyncio.sleep(0.05)
        elapsed = (time.monotonic_ns() - began) / 1e9
        node_cpu = cpu_seconds(nodes) - cpu[0]
        redis_cpu = cpu_seconds(self.system.redis) - cpu[1]
        generator_cpu = cpu_seconds(generator) - cpu[2]
        each = max(1, round(rate * seconds))
        collected = await self.workers.all("collect", each=each)
        refusal = next((c["first_error"] for c in collected if c["first_error"]), "")
        if refusal:
            print(f"    updates refused, e.g. {refusal}", flush=True)
        short = sum(c["short"] for c in collected)
        if short:
            sample = [s for c in collected for s in c["short_sample"]][:5]
            print(f"    {short} receivers got fewer than the {each} updates sent, e.g. {sample}",
                  flush=True)
        histogram: dict[int, int] = {}
        for part in collected:
            for index, count in part["histogram"].items():
                histogram[index] = histogram.get(index, 0) + count
        received = sum(c["received"] for c in collected)
        last = max(c["last_ns"] for c in collected)
        span = (last - began) / 1e9 if last > began else elapsed
        closed: dict[int, int] = {}
        for part in collected:
            for code, count in part["closed"].items():
                closed[code] = closed.get(code, 0) + count
        errors = sum(c["errors"] for c in collected)
        lost = (sent - errors) * receivers_per_publish - received
        p50, p99 = percentile(histogram, 50), percentile(histogram, 99)
        held = (lost == 0 and not closed and not errors and p99 is not None
                and p99 <= P99_LIMIT_MS)
        per = max(received, 1)
        return {
            "pub/s": sent / seconds, "sent": sent, "delivered/s": received / span,
            "p50 ms": p50, "p99 ms": p99, "lost": lost,
            "out of order": sum(c["reordered"] for c in collected), "refused": errors,
            "closed": closed, "server us/msg": node_cpu / per * 1e6,
            "redis us/msg": redis_cpu / per * 1e6, "server CPU %": node_cpu / elapsed * 100,
            "loadgen CPU %": generator_cpu / elapsed * 100, "held": held}


# ---------------------------------------------------------------- scenarios

async def fan_out(bench: Bench) -> None:
    """(a) One session, one publisher, subscribers on every node, at rising rates."""
    args, system = bench.args, bench.system
    learner = (await system.accounts(1, ["learner"]))[0]
    spec = Spec(system.urls[0], mint([learner], ["learner"])[0], None, True, True, False)
    if system.flavour == "socketio":
        spec.room, spec.create = str(uuid.uuid4()), False
    room = (await bench.open(0, [spec]))[0]
    receivers = list(range(1, len(bench.workers))) or [0]
    joined = 0
    for subscribers in sorted(args.subscribers):
        users = await system.accounts(subscribers - joined, ["admin", "learner"])
        tokens = mint(users, ["admin", "learner"])
        batches: dict[int, list[Spec]] = {w: [] for w in receivers}
        for i, token in enumerate(tokens, start=joined):
            batches[receivers[i % len(receivers)]].append(
                Spec(system.urls[bench.node(i)], token, room, False, False, True))
        began = time.monotonic()
        await asyncio.gather(*(bench.open(w, specs) for w, specs in batches.items()))
        await bench.quiet()
        joined = subscribers
        config = f"{subscribers} subscribers"
        print(f"  {system.name}: {config} joined in {time.monotonic() - began:.1f} s",
              flush=True)
        await ramp(bench, config, subscribers)
    await bench.workers.all("close")


async def ramp(bench: Bench, config: str, subscribers: int) -> None:
    args = bench.args
    target, best, failed = args.start_rate, 0.0, 0.0
    rows: list[Row] = []

    async def at(delivered: float) -> bool:
        values = await bench.step([0], delivered / subscribers, args.step_seconds, subscribers)
        row = Row(bench.system.name, "a", config, values)
        rows.append(row)
        bench.rows.append(row)
        print("    " + brief(row), flush=True)
        return bool(values["held"])

    for _ in range(args.max_steps):
        if await at(target):
            best = target
            target *= args.factor
        else:
            failed = target
            break
    if best and failed and args.refine:
        await bench.quiet(15)
        middle = math.sqrt(best * failed)
        if await at(middle):
            best = middle
    held = [r for r in rows if r.values["held"]]
    top = max(held, key=lambda r: r.values["delivered/s"]) if held else None
    bench.rows.append(Row(bench.system.name, "a*", config, {
        "held delivered/s": top.values["delivered/s"] if top else 0.0,
        "server us/msg": top.values["server us/msg"] if top else None,
        "p99 ms": top.values["p99 ms"] if top else None,
        "ceiling": "not reached" if not failed else f"failed at {failed:,.0f}/s"}))


async def open_sessions(bench: Bench, count: int) -> None:
    """`count` sessions of 1 learner and 2 observers, the observers on the next nodes round and
    on other load workers than their learner."""
    system, workers = bench.system, len(bench.workers)
    learners = mint(await system.accounts(count, ["learner"]), ["learner"])
    observers = mint(await system.accounts(2 * count, ["admin", "learner"]),
                     ["admin", "learner"])
    batches: dict[int, list[tuple[int, Spec]]] = {w: [] for w in range(workers)}
    for s, token in enumerate(learners):
        spec = Spec(system.urls[bench.node(s)], token, None, True, True, False)
        if system.flavour == "socketio":
            spec.room, spec.create = str(uuid.uuid4()), False
        batches[s % workers].append((s, spec))
    rooms: dict[int, str] = {}

    async def open_learners(worker: int, batch: list[tuple[int, Spec]]) -> None:
        opened = await bench.open(worker, [spec for _, spec in batch])
        rooms.update({s: room for (s, _), room in zip(batch, opened, strict=True)})

    await asyncio.gather(*(open_learners(w, b) for w, b in batches.items()))
    observing: dict[int, list[Spec]] = {w: [] for w in range(workers)}
    for s in range(count):
        for k in (1, 2):
            token = observers[2 * s + k - 1]
            observing[(s + k) % workers].append(
                Spec(system.urls[bench.node(s + k)], token, rooms[s], False, False, True))
    await asyncio.gather(*(bench.open(w, specs) for w, specs in observing.items()))


async def sessions(bench: Bench) -> None:
    """(b) Many small sessions, learners sending 2 updates a second."""
    args, system = bench.args, bench.system
    count, workers = args.sessions, len(bench.workers)
    began = time.monotonic()
    await open_sessions(bench, count)
    await bench.quiet()
    print(f"  {system.name}: {count} sessions joined in {time.monotonic() - began:.1f} s",
          flush=True)
    everyone = list(range(workers))
    await bench.step(everyone, 2.0, min(3.0, args.session_seconds), 2)  # warm-up, not shown
    values = await bench.step(everyone, 2.0, args.session_seconds, 2)
    row = Row(system.name, "b", f"{count} sessions x (1+2)", values)
    bench.rows.append(row)
    print("    " + brief(row), flush=True)
    await bench.workers.all("close")


async def idle(bench: Bench) -> None:
    """(c) Idle authenticated connections on one node: what each costs in memory."""
    args, system = bench.args, bench.system
    workers, warm = len(bench.workers), 50
    tokens = mint(await system.accounts(warm + args.idle, ["learner"]), ["learner"])
    url = system.urls[0]
    node = system.nodes[0]
    await bench.open(0, [Spec(url, t, None, False, False, False) for t in tokens[:warm]])
    await bench.quiet()
    await asyncio.sleep(1)
    before = node.memory_info().rss
    batches: dict[int, list[Spec]] = {w: [] for w in range(workers)}
    for i, token in enumerate(tokens[warm:]):
        batches[i % workers].append(Spec(url, token, None, False, False, False))
    began = time.monotonic()
    await asyncio.gather(*(bench.open(w, specs, concurrency=100)
                           for w, specs in batches.items()))
    took = time.monotonic() - began
    await bench.quiet()
    await asyncio.sleep(2)
    after = node.memory_info().rss
    counts = await bench.workers.all("counts")
    closed = sum(c["closed"] for c in counts)
    row = Row(system.name, "c", f"{args.idle} idle on 1 node", {
        "RSS growth MiB": (after - before) / 2**20,
        "KiB/connection": (after - before) / args.idle / 1024,
        "connects/s": args.idle / took, "closed": closed, "deflate": system.deflate})
    bench.rows.append(row)
    print("    " + brief(row), flush=True)
    await bench.workers.all("close")


# ---------------------------------------------------------------- the tables

def show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, dict):
        return ",".join(f"{k}x{v}" for k, v in value.items()) or "0"
    return str(value)


def brief(row: Row) -> str:
    return f"{row.config}: " + ", ".join(f"{k} {show(v)}" for k, v in row.values.items())


def table(title: str, rows: list[Row], columns: list[str]) -> None:
    if not rows:
        return
    heads = ["system", "config", *columns]
    cells = [[r.system, r.config, *(show(r.values.get(c)) for c in columns)] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    print(f"\n{title}")
    print("  ".join(h.ljust(widths[i]) if i < 2 else h.rjust(widths[i])
                    for i, h in enumerate(heads)))
    for line in cells:
        print("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                        for i, c in enumerate(line)))


def report(rows: list[Row], args: argparse.Namespace) -> None:
    print("\n" + "=" * 100)
    print(f"fan-out bench: {args.nodes} node(s) per system and one Redis, on {os.cpu_count()} "
          f"cores; {args.payload}-byte code per update; python {platform.python_version()}, "
          f"websockets {version('websockets')}, uvicorn {version('uvicorn')}, "
          f"python-socketio {version('python-socketio')}")
    print("server us/msg: CPU time of the node processes per delivered message; redis us/msg "
          "apart; CPU % of one core")
    table("(a) one session, 1 publisher, rising rate (a step holds: nothing lost, p99 <= "
          f"{P99_LIMIT_MS:.0f} ms)", [r for r in rows if r.scenario == "a"],
          ["pub/s", "delivered/s", "p50 ms", "p99 ms", "lost", "refused", "out of order", "closed",
           "server us/msg",
           "redis us/msg", "server CPU %", "loadgen CPU %", "held"])
    summary = [r for r in rows if r.scenario == "a*"]
    table("(a) the highest rate held", summary,
          ["held delivered/s", "p99 ms", "server us/msg", "ceiling"])
    for config in dict.fromkeys(r.config for r in summary):
        by = {r.system: r.values for r in summary if r.config == config}
        ours, theirs = by.get("wingman"), by.get("python-socketio")
        if ours and theirs and theirs["held delivered/s"]:
            open_ended = any(v["ceiling"] == "not reached" for v in (ours, theirs))
            print(f"  {config}: wingman / python-socketio = "
                  f"{ours['held delivered/s'] / theirs['held delivered/s']:.2f}"
                  + (" (a ceiling was not reached: raise --max-steps)" if open_ended else ""))
    table("(b) sessions of 1 learner + 2 observers, 2 updates/s per learner",
          [r for r in rows if r.scenario == "b"],
          ["pub/s", "delivered/s", "p50 ms", "p99 ms", "lost", "refused", "out of order", "closed",
           "server us/msg",
           "redis us/msg", "server CPU %", "loadgen CPU %"])
    table("(c) idle authenticated connections", [r for r in rows if r.scenario == "c"],
          ["KiB/connection", "RSS growth MiB", "connects/s", "closed", "deflate"])


# ---------------------------------------------------------------- running it

SCENARIOS = {"a": fan_out, "b": sessions, "c": idle}
SYSTEMS = {"wingman": wingman, "socketio": reference}


async def run(args: argparse.Namespace, folder: Path) -> list[Row]:
    rows: list[Row] = []
    workers = Workers(args.workers + 1)
    try:
        for name in args.systems:
            print(f"{name}: starting {args.nodes} node(s)", flush=True)
            async with SYSTEMS[name](folder, args.nodes, args.deflate) as system:
                bench = Bench(args, workers, system, rows)
                # Idle memory first, on nodes that have served nothing else yet.
                for scenario in sorted(args.scenarios, key="cab".index):
                    await SCENARIOS[scenario](bench)
    finally:
        workers.stop()
    return rows


def raise_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(hard, 65536)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    except (ValueError, OSError):  # not root: as far as the hard limit allows
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# Sizes of the full run and of --quick; a size given on the command line wins over both.
FULL = {"subscribers": "100,1000", "start_rate": 2500.0, "max_steps": 10, "step_seconds": 3.0,
        "sessions": 500, "session_seconds": 10.0, "idle": 10_000, "refine": True}
QUICK = {"subscribers": "10,50", "start_rate": 500.0, "max_steps": 3, "step_seconds": 1.5,
         "sessions": 20, "session_seconds": 3.0, "idle": 300, "refine": False}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--systems", default="wingman,socketio",
                        help="comma-separated: wingman, socketio (the reference)")
    parser.add_argument("--scenarios", default="a,b,c", help="comma-separated: a, b, c")
    parser.add_argument("--nodes", type=int, default=2, help="nodes per system, one Redis")
    parser.add_argument("--subscribers", help="(a) sizes, in order (100,1000)")
    parser.add_argument("--start-rate", type=float,
                        help="(a) delivered msgs/s of the first step (2500)")
    parser.add_argument("--factor", type=float, default=1.6, help="(a) rate step factor")
    parser.add_argument("--max-steps", type=int, help="(a) steps at most per size (10)")
    parser.add_argument("--no-refine", dest="refine", action="store_const", const=False,
                        help="(a) skip the step between the last rate held and the first not")
    parser.add_argument("--step-seconds", type=float, help="(a) publishing per step (3)")
    parser.add_argument("--sessions", type=int, help="(b) sessions (500)")
    parser.add_argument("--session-seconds", type=float, help="(b) seconds measured (10)")
    parser.add_argument("--idle", type=int, help="(c) idle connections (10000)")
    load_options(parser)
    parser.add_argument("--deflate", action="store_true",
                        help="servers accept permessage-deflate (both are off by default)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (node and Redis logs) afterwards")
    args = sized(parser, argv, FULL, QUICK)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.subscribers = [int(s) for s in str(args.subscribers).split(",")]
    unknown = set(args.systems) - set(SYSTEMS) | set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    return args


def load_options(parser: argparse.ArgumentParser) -> None:
    """The load generator's options, the same in every bench."""
    parser.add_argument("--payload", type=int, default=200, help="bytes of code per update")
    parser.add_argument("--workers", type=int, default=2,
                        help="receiving load generator processes (one more publishes)")


def sized(parser: argparse.ArgumentParser, argv: list[str] | None, full: dict[str, Any],
          quick: dict[str, Any]) -> argparse.Namespace:
    """The arguments, with the sizes not given taken from the full run or from --quick."""
    args = parser.parse_args(argv)
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> None:
    args = parse()
    raise_open_files()
    for needed in ("redis-server", "bwrap"):
        if shutil.which(needed) is None:
            sys.exit(f"fanout: needs {needed} on PATH")
    measure("fanout", args, run, report)


def measure(name: str, args: argparse.Namespace,
            run: Callable[[argparse.Namespace, Path], Awaitable[list[Row]]],
            report: Callable[[list[Row], argparse.Namespace], None]) -> None:
    """Run the bench in a temporary folder under /tmp (kept with --keep), then report."""
    began = time.monotonic()
    if args.keep:
        folder = tempfile.mkdtemp(prefix=f"bench-{name}-", dir="/tmp")
        print(f"logs and data stay in {folder}")
        rows = asyncio.run(run(args, Path(folder)))
    else:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-", dir="/tmp") as folder:
            rows = asyncio.run(run(args, Path(folder)))
    report(rows, args)
    print(f"\n(took {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
